#!/usr/bin/env python3
"""vm-snapshot: snapshot -> keep running -> restore, in-process and in a new
vessel-vmm; the guest continues from the snapshot point and its qcow2 disk
is rolled back consistently.

1. Boot the recipe guest with a private copy of its qcow2 disk and --api.
   Write /mnt/before (synced), start a counter printing on the console.
2. PUT /snapshot/create: remember the counter around the snapshot.  Then
   write /mnt/after (synced) and let the counter run 20 more steps.
3. PUT /snapshot/load of the same file: the counter goes back to the
   snapshot point, /mnt/before exists and /mnt/after does not.
4. Kill the VMM; `vessel-vmm --restore FILE` in a new process: the counter
   again continues from the snapshot point; timers fire (sleep 1 returns),
   disk I/O completes (a new file written, synced, caches dropped, read
   back), and the guest powers off cleanly.  `qemu-img check` finds the
   image clean and `qemu-img snapshot -l` lists the disk tag.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def check_disk_rolled_back(con, where):
    if con.run("test -e /mnt/before", check=False)[0] != 0:
        vc.fail("%s: /mnt/before (written before the snapshot) is missing"
                % where)
    if con.run("test -e /mnt/after", check=False)[0] == 0:
        vc.fail("%s: /mnt/after (written after the snapshot) exists" % where)


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    sock = os.path.join(work, "api.sock")
    snap = os.path.join(work, "vm.snap")
    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock]

    with vc.Console(argv, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before "
                "&& sync")
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 10)
        out = {}
        win = sl.snapshot_window(con, lambda: out.update(sl.api_ok(
            sock, "PUT", "/snapshot/create", {"path": snap})))
        if out["disk_snapshots"] != 1 or not out["disk_tag"]:
            vc.fail("no internal disk snapshot taken: %r" % out)
        tag = out["disk_tag"]
        con.run("echo after > /mnt/after && sync")
        sl.wait_counter(con, win[1] + 20)

        # In-process load: back to the snapshot point.
        sl.drain(con)
        before = sl.last_counter(con)
        sl.api_ok(sock, "PUT", "/snapshot/load", {"path": snap})
        v = sl.check_counter(con, win, "PUT /snapshot/load", before)
        sl.wait_counter(con, v + 5)
        check_disk_rolled_back(con, "PUT /snapshot/load")
        # A clean exit (a killed VMM may leave leaked clusters, which
        # `qemu-img check` below would report).
        if con.poweroff() != 0:
            vc.fail("first VMM: exit status %d after poweroff" % con.status)

    # A new process restores the same file.
    with vc.Console(sl.restore_argv(snap), os.path.join(work,
                                                        "restore.log")) as con:
        v = sl.check_counter(con, win, "--restore")
        sl.wait_counter(con, v + 10)  # timers fire: sleep 0.1 returns
        con.send("\n")
        check_disk_rolled_back(con, "--restore")
        t0 = time.monotonic()
        con.run("sleep 1")
        if time.monotonic() - t0 > 30 * vc.timeout_scale():
            vc.fail("sleep 1 took %.1f s in the restored guest"
                    % (time.monotonic() - t0))
        con.run("dd if=/dev/urandom of=/mnt/new bs=4096 count=256 "
                "2>/dev/null && md5sum /mnt/new > /tmp/sum && sync && "
                "echo 3 > /proc/sys/vm/drop_caches && md5sum -c /tmp/sum "
                ">/dev/null", timeout=120)
        con.run("umount /mnt")
        con.send("kill %1\n")
        if con.poweroff() != 0:
            vc.fail("restored guest: VMM exit status %d after poweroff"
                    % con.status)

    r = subprocess.run(["qemu-img", "check", disk], capture_output=True,
                       text=True)
    if r.returncode != 0 or "No errors were found" not in r.stdout:
        vc.fail("qemu-img check after restore: %s%s" % (r.stdout, r.stderr))
    r = subprocess.run(["qemu-img", "snapshot", "-l", disk],
                       capture_output=True, text=True)
    if tag not in r.stdout:
        vc.fail("qemu-img snapshot -l does not list %s:\n%s" % (tag, r.stdout))


if __name__ == "__main__":
    vc.main(test)
