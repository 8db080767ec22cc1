#!/usr/bin/env python3
"""vm-snapshot-moments: snapshots taken at many moments of a busy guest all
restore into a guest that keeps running.

The guest (2 harts) runs a console counter, a disk writer (64 KiB writes
with fsync, so requests are in flight all the time), a timer storm (sleep
0.01 in a loop) and a CPU spinner.  Eight snapshots are taken at uneven
intervals while all of that runs (mid-I/O, mid-timer, between interrupts).
Each one is then restored in a new vessel-vmm: its counter must continue
from the snapshot point and advance (timer interrupts fire), a fresh
synced write and read-back on the disk must complete (virtio-blk and its
interrupt work), and the guest must power off cleanly.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

LOAD = ("mount -t ext4 /dev/vda /mnt && "
        "(while :; do dd if=/dev/urandom of=/mnt/load bs=64k count=8 "
        "conv=fsync 2>/dev/null; done) </dev/null >/dev/null 2>&1 & "
        "(while :; do sleep 0.01; done) </dev/null >/dev/null 2>&1 & "
        "(while :; do :; done) </dev/null >/dev/null 2>&1 & true")


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    sock = os.path.join(work, "api.sock")
    m = vc.Machine(gdir, cpus=2, mem="256M", disks=[(disk, "qcow2", False)])
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock]
    snaps = []
    with vc.Console(argv, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.run(LOAD)
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 5)
        for i, gap in enumerate((0.05, 0.3, 0.0, 0.7, 0.13, 0.0, 0.45, 0.21)):
            time.sleep(gap)
            path = os.path.join(work, "s%d.snap" % i)
            win = sl.snapshot_window(con, lambda: sl.api_ok(
                sock, "PUT", "/snapshot/create", {"path": path}))
            snaps.append((path, win))

    for path, win in snaps:
        name = os.path.basename(path)
        with vc.Console(sl.restore_argv(path),
                        os.path.join(work, name + ".log")) as con:
            v = sl.check_counter(con, win, name)
            sl.wait_counter(con, v + 5)
            con.send("\n")
            con.run("dd if=/dev/urandom of=/mnt/check bs=4096 count=64 "
                    "2>/dev/null && md5sum /mnt/check > /tmp/sum && "
                    "sync && echo 3 > /proc/sys/vm/drop_caches && "
                    "md5sum -c /tmp/sum >/dev/null", timeout=120)
            con.send("kill $(jobs -p) 2>/dev/null; sync\n")
            if con.poweroff() != 0:
                vc.fail("%s: VMM exit status %d after poweroff"
                        % (name, con.status))


if __name__ == "__main__":
    vc.main(test)
