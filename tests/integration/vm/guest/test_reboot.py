#!/usr/bin/env python3
"""vm-boot-reboot: a guest reboot ends the VMM with the documented status.

The guest runs `reboot -f` (Linux -> SBI system reset -> OpenSBI ->
syscon-reboot on the SiFive test device, 0x7777).  vessel-vmm must exit
with status 3 (docs/vessel-vmm.md); QEMU, run with -no-reboot, exits 0.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402


def test(work):
    m = vc.Machine(vc.guest_dir(), cpus=1, mem="256M")
    expected = 3 if vc.vmm_kind() == "vessel" else 0
    with vc.start(m, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.send("reboot -f\n")
        status = con.wait_exit(60)
        if status != expected:
            vc.fail("VMM exit status after reboot is %d, expected %d" % (status, expected))


if __name__ == "__main__":
    vc.main(test)
