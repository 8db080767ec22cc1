#!/usr/bin/env python3
"""demo-vm.py - boot the cached guest under vessel-vmm without a terminal,
show a few commands at its shell prompt, and power it off.

Used by scripts/demo.sh when stdin is not a terminal; it drives the guest's
serial console through tests/integration/vm/guest/vmconsole.py.
"""
import os
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "tests", "integration", "vm", "guest"))
import vmconsole as vc  # noqa: E402


def main():
    os.environ.setdefault("VESSEL_VESSEL_VMM",
                          os.path.join(root, "build", "cmd", "vessel-vmm", "vessel-vmm"))
    with tempfile.TemporaryDirectory() as work:
        log = os.path.join(work, "console.log")
        m = vc.Machine(vc.guest_dir(), cpus=2, mem="256M")
        with vc.start(m, log, kind="vessel") as con:
            t = con.wait_banner(timeout=300)
            print("guest reached its shell prompt after %.1f s" % t)
            for cmd in ("uname -a", "grep -c ^processor /proc/cpuinfo", "free -m",
                        "cat /proc/mounts"):
                _, out = con.run(cmd, timeout=120)
                print("guest# %s\n%s" % (cmd, out.rstrip()))
            status = con.poweroff(timeout=120)
            print("guest powered off; vessel-vmm exit status %d" % status)
            return 0 if status == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except vc.TestFailure as e:
        print("demo: %s" % e, file=sys.stderr)
        sys.exit(1)
