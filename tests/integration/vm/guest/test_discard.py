#!/usr/bin/env python3
"""vm-boot-discard: a guest's discard reaches the qcow2 image.

On the host, a fresh 16 MiB qcow2 gets 4 MiB of 0xab.  The guest sees
discard support on /dev/vda (queue/discard_max_bytes > 0) and runs
`blkdiscard` on [1 MiB, 3 MiB).  After poweroff, on the host: `qemu-img
check` is clean, `qemu-img map` no longer lists that range as data (the
clusters were deallocated by vessel-vmm; QEMU may keep them as zero
clusters), qemu-io reads zeros
there and the untouched 0xab on both sides.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

MIB = 1 << 20


def host(argv, what):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        vc.fail("%s failed (%d): %s%s" % (what, r.returncode, r.stdout, r.stderr))
    return r.stdout


def test(work):
    gdir = vc.guest_dir()
    disk = os.path.join(work, "scratch.qcow2")
    host(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], "qemu-img create")
    host(["qemu-io", "-c", "write -P 0xab 0 4M", disk], "qemu-io write")

    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    with vc.start(m, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        _, out = con.run("cat /sys/block/vda/queue/discard_max_bytes")
        if int(out.strip() or "0") <= 0:
            vc.fail("guest sees no discard support on vda: %r" % out)
        con.run("blkdiscard -o %d -l %d /dev/vda" % (1 * MIB, 2 * MIB))
        con.run("sync")
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status after poweroff is %d, expected 0" % status)

    host(["qemu-img", "check", disk], "qemu-img check")
    extents = json.loads(host(["qemu-img", "map", "--output=json", disk], "qemu-img map"))
    # vessel-vmm frees the clusters; QEMU (discard=unmap) may keep them as
    # preallocated zero clusters.  Either way the range must not map data.
    strict = vc.vmm_kind() == "vessel"
    for e in extents:
        lo, hi = e["start"], e["start"] + e["length"]
        if not (e.get("data") and lo < 3 * MIB and hi > 1 * MIB):
            continue
        if strict or not e.get("zero"):
            vc.fail("discarded range still allocated as data: %r" % e)
    out = host(["qemu-io", "-c", "read -P 0 1M 2M", "-c", "read -P 0xab 0 1M",
                "-c", "read -P 0xab 3M 1M", disk], "qemu-io read")
    if "Pattern verification failed" in out:
        vc.fail("contents after discard are wrong:\n%s" % out)


if __name__ == "__main__":
    vc.main(test)
