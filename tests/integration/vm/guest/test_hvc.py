#!/usr/bin/env python3
"""vm-boot-hvc: a guest whose console is virtio-console (hvc0).

Boots with console=hvc0 and the VMM's virtio-console on stdio (vessel-vmm
--console stdio; QEMU virtconsole on a stdio chardev): the banner and the
shell must arrive over hvc0, /sys/class/tty/console/active must name hvc0
and the shell's tty must be /dev/hvc0; commands run through it and
`poweroff -f` ends the VMM with exit status 0.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=1, mem="256M", console="hvc0")
    with vc.start(m, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        _, out = con.run("cat /sys/class/tty/console/active; tty")
        if out.split() != ["hvc0", "/dev/hvc0"]:
            vc.fail("console/tty are %r, expected hvc0 and /dev/hvc0" % out)
        _, out = con.run("uname -m")
        if out.strip() != "riscv64":
            vc.fail("uname -m said %r over hvc0" % out.strip())
        # a longer transfer both ways through the virtqueues
        _, out = con.run("seq 1 2000 | md5sum | cut -d' ' -f1")
        if out.strip() != "ea4d0a24dabcaa11f9aa979b872d162b":
            vc.fail("md5 of seq 1 2000 over hvc0 is %r" % out.strip())
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
