#!/usr/bin/env python3
"""vm-threads-snapshot: snapshots and live migration of a 2-hart guest whose
harts run on their own host threads (vessel-vmm --hart-threads); the safe
point stops every hart thread.  Unix sockets, no root needed.

1. The source boots the recipe guest on 2 harts with --hart-threads, a
   private qcow2 disk and --api; /mnt/before is written, a busy loop keeps
   one hart running guest code all the time and a console counter runs.
2. PUT /snapshot/create while both harts run, the counter goes on 10 more
   steps; PUT /snapshot/load takes it back to the snapshot point and it
   counts on.
3. Live migration over a unix socket to `vessel-vmm --incoming unix:PATH
   --hart-threads`: the source exits with status 0, the destination's
   counter continues from the switch-over point, the disk holds /mnt/before
   and takes a new write; it powers off cleanly.
4. `vessel-vmm --restore FILE --hart-threads` in a new process: the counter
   continues from the snapshot point, then a clean poweroff.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

BUSY = "(while :; do :; done) </dev/null >/dev/null 2>&1 &"


def wait_path(path, what):
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            vc.fail("%s never appeared" % what)
        time.sleep(0.05)


def migrate(src, src_sock, dst, uri):
    """Migrate src to dst; the destination's counter continues."""
    sl.drain(src)
    lo = sl.last_counter(src)
    st, out = sl.api(src_sock, "PUT", "/migrate", {"uri": uri})
    if st != 202 or out.get("state") != "active":
        vc.fail("PUT /migrate %s: %d %r" % (uri, st, out))
    deadline = time.monotonic() + 300 * vc.timeout_scale()
    while src.proc.poll() is None:
        if time.monotonic() > deadline:
            vc.fail("migration still running after %.0f s" % (300 * vc.timeout_scale()))
        if os.path.exists(src_sock):
            try:
                st, out = sl.api(src_sock, "GET", "/migrate", timeout=10, wait=False)
                if st == 200 and out["state"] == "failed":
                    vc.fail("migration failed: %s" % out["error"])
            except (OSError, ConnectionError):
                pass  # the source is exiting
        src._read(0.1)
    if src.wait_exit(60) != 0:
        vc.fail("source exit status %d after migrating" % src.status)
    m = src.expect(r"migration to \S+ completed: total ([\d.]+) ms", 10,
                   "the source's result line")
    v = sl.counter_value(dst)
    hi = lo + 10 + int(float(m.group(1)) / 100) + 3
    if not (lo <= v <= hi):
        vc.fail("destination counter printed %d first; the source had printed "
                "%d before the migration (total %s ms)" % (v, lo, m.group(1)))
    sl.wait_counter(dst, v + 5)


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    s_sock = os.path.join(work, "src.sock")
    snap = os.path.join(work, "vm.snap")
    timeout = ["--timeout", str(int(600 * vc.timeout_scale()))]
    cons = []
    try:
        m = vc.Machine(gdir, cpus=2, mem="256M", disks=[(disk, "qcow2", False)])
        src = vc.Console(m.argv("vessel", sl.vmm()) + ["--hart-threads", "--api", s_sock],
                         os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        src.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before && sync")
        src.send(BUSY + "\n")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)
        st, vm = sl.api(s_sock, "GET", "/vm")
        if st != 200 or vm.get("state") != "running":
            vc.fail("GET /vm: %d %r" % (st, vm))

        # 2. snapshot while both harts run, then load it in-process
        out = {}
        win = sl.snapshot_window(src, lambda: out.update(sl.api_ok(
            s_sock, "PUT", "/snapshot/create", {"path": snap})))
        sl.wait_counter(src, win[1] + 10)
        sl.drain(src)
        before = sl.last_counter(src)
        sl.api_ok(s_sock, "PUT", "/snapshot/load", {"path": snap})
        v = sl.check_counter(src, win, "PUT /snapshot/load", before)
        sl.wait_counter(src, v + 5)

        # 3. live migration over a unix socket to another hart-thread VMM
        mig = os.path.join(work, "mig.sock")
        dst = vc.Console([sl.vmm(), "--incoming", "unix:" + mig, "--hart-threads",
                          "--serial", "stdio"] + timeout, os.path.join(work, "dst.log"))
        cons.append(dst)
        wait_path(mig, "the unix migration socket")
        migrate(src, s_sock, dst, "unix:" + mig)
        dst.send("\n")
        dst.run("test -e /mnt/before && echo migrated > /mnt/migrated && sync && umount /mnt")
        dst.send("kill %1 %2\n")
        if dst.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % dst.status)

        # 4. a new hart-thread VMM restores the snapshot
        rst = vc.Console(sl.restore_argv(snap, extra=["--hart-threads"]),
                         os.path.join(work, "restore.log"))
        cons.append(rst)
        v = sl.check_counter(rst, win, "--restore --hart-threads")
        sl.wait_counter(rst, v + 10)
        rst.send("\n")
        rst.run("test -e /mnt/before && umount /mnt")
        rst.send("kill %1 %2\n")
        if rst.poweroff() != 0:
            vc.fail("restored guest: exit status %d after poweroff" % rst.status)
    finally:
        for c in cons:
            c.close()


if __name__ == "__main__":
    vc.main(test)
