#!/usr/bin/env python3
"""vm-boot-shell: boot the guest to a shell and check it through the console.

Boots the cached kernel + initramfs with 2 harts and 320 MiB, then checks
from inside the guest: `uname -m` is riscv64, /proc/cpuinfo lists exactly
harts 0 and 1, `free` reports a total that is at most --mem and at least
--mem minus what firmware and kernel reserve (bounded at 12%), the kernel
console is the ns16550a UART (ttyS0), and hw_random is virtio-rng and
delivers non-zero data; finally `poweroff -f` must end the VMM with exit
status 0.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

MEM_MIB = 320


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=2, mem="%dM" % MEM_MIB)
    with vc.start(m, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        _, out = con.run("uname -m")
        if out.strip() != "riscv64":
            vc.fail("uname -m said %r, expected riscv64" % out.strip())
        _, out = con.run("grep '^processor' /proc/cpuinfo")
        harts = re.findall(r"^processor\s*:\s*(\d+)", out, re.M)
        if harts != ["0", "1"]:
            vc.fail("/proc/cpuinfo lists processors %r, expected 0 and 1:\n%s"
                    % (harts, out))
        _, out = con.run("grep -c '^hart' /proc/cpuinfo")
        if out.strip() != "2":
            vc.fail("/proc/cpuinfo has %s hart lines, expected 2" % out)
        _, out = con.run("grep -q rv64 /proc/cpuinfo && echo isa-ok")
        if "isa-ok" not in out:
            vc.fail("/proc/cpuinfo has no rv64 isa line")
        _, out = con.run("free -k")
        mm = re.search(r"^Mem:\s+(\d+)", out, re.M)
        if not mm:
            vc.fail("no Mem: line in free output:\n%s" % out)
        total_kib = int(mm.group(1))
        mem_kib = MEM_MIB * 1024
        if not (mem_kib * 0.88 <= total_kib <= mem_kib):
            vc.fail("free total %d KiB does not match --mem %d KiB "
                    "(allowed %d..%d)" % (total_kib, mem_kib,
                                          int(mem_kib * 0.88), mem_kib))
        _, out = con.run("test -c /dev/ttyS0 && cat /sys/class/tty/console/active")
        if "ttyS0" not in out:
            vc.fail("console is not on ttyS0: %r" % out)
        _, out = con.run("cat /sys/class/misc/hw_random/rng_current; "
                         "head -c 4096 /dev/hwrng | md5sum")
        if not out.startswith("virtio_rng"):
            vc.fail("hw_random does not use virtio-rng: %r" % out)
        if "620f0b67a91f7f74151bc5be745b7110" in out:  # md5 of 4 KiB zeros
            vc.fail("virtio-rng returned zeros")
        _, out = con.run("head -c 4096 /dev/hwrng | wc -c")
        if out.strip() != "4096":
            vc.fail("read %r bytes of 4096 from /dev/hwrng" % out.strip())
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status after poweroff is %d, expected 0" % status)


if __name__ == "__main__":
    vc.main(test)
