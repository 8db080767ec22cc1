#!/usr/bin/env python3
"""guest/demo.py - a scripted tour of a vessel VM, for `make demo`.

Boots the cached guest (guest/build.sh) under vessel-vmm with 2 harts,
256 MiB, a scratch copy of disk.qcow2 and virtio-rng, shows the console
live, runs a few commands at the shell prompt (kernel, harts, memory, the
ext4 disk), powers off and reports the VMM's exit status.  Needs no
terminal.  Not part of the image recipe.

Usage: guest/demo.py [--vmm=vessel|qemu]   (VESSEL_VESSEL_VMM: the binary)
"""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "vm", "guest"))
import vmconsole as vc  # noqa: E402

PROMPT = r"\nvessel:[^\r\n]*# $"
COMMANDS = [
    "uname -a",
    "grep -E '^(processor|hart|isa|mmu)' /proc/cpuinfo",
    "free -m",
    "mount -t ext4 /dev/vda /mnt && cat /mnt/vessel-disk && df -h /mnt",
    "echo hello from the guest > /mnt/hello && sync && cat /mnt/hello",
    "umount /mnt",
]


def main():
    os.environ.setdefault(
        "VESSEL_VESSEL_VMM",
        os.path.join(ROOT, "build", "cmd", "vessel-vmm", "vessel-vmm"))
    gdir = vc.guest_dir()
    work = tempfile.mkdtemp(prefix="vessel-demo-")
    try:
        disk = os.path.join(work, "disk.qcow2")
        shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
        m = vc.Machine(gdir, cpus=2, mem="256M",
                       disks=[(disk, "qcow2", False)])
        kind = vc.vmm_kind()
        print("=== booting %s: %s" % (kind, " ".join(
            m.argv(kind, vc.vmm_program(kind)))))
        with vc.start(m, os.path.join(work, "console.log"),
                      echo=sys.stdout) as con:
            t = con.wait_banner(timeout=120)
            con.send("\n")
            con.expect(PROMPT, 30, "the shell prompt")
            for cmd in COMMANDS:
                # typed like a user; the next prompt means it finished
                con.send(cmd + "\n")
                con.expect(PROMPT, 60, "the prompt after `%s`" % cmd)
            status = con.poweroff(timeout=60)
        print("\n=== shell after %.2f s; VMM exit status %d (0 = powered off)"
              % (t, status))
        return 0 if status == 0 else 1
    except vc.TestFailure as e:
        print("\n=== demo failed: %s" % str(e).splitlines()[0])
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
