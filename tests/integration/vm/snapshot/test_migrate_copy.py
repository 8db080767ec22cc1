#!/usr/bin/env python3
"""vm-migrate-copy: live migration with "disks": "copy" (no shared storage)
between two vessel-vmm processes.

1. The source boots the recipe guest from its own copy of the disk, mounts
   it, writes /mnt/before, starts a console counter and a writer that
   appends numbered lines to /mnt/wlog (each synced: disk writes all
   through the migration).
2. A fake destination reads 1 MiB of a disk-copy stream and hangs up:
   GET /migrate reports "failed", the source keeps running, its counter
   advances and its writer keeps writing (write tracking off again).
3. A destination whose --disk file already exists refuses the stream: the
   source runs on.
4. Migration with disk copy to `vessel-vmm --incoming unix:PATH --disk
   DST` (DST does not exist: it creates it): the source exits with status
   0, GET /migrate counted disk bytes, the destination's counter continues,
   the destination holds only DST open (not the source's disk), /mnt/before
   is there and /mnt/wlog holds every line, consecutive, including the ones
   written while the migration ran; the guest powers off cleanly and
   `qemu-img check` finds DST clean.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

WRITER = ("(i=0; while :; do echo W $i >> /mnt/wlog; sync; i=$((i+1)); done) "
          "</dev/null >/dev/null 2>&1 &")


def clean(out):
    """Command output without the counter's lines."""
    return "\n".join(l for l in out.splitlines() if l.strip() and not l.startswith("CNT"))


def wlog_lines(con):
    # 0 until the writer (started in the background) has made the file
    out = clean(con.run("cat /mnt/wlog 2>/dev/null | wc -l")[1])
    return int(out.split()[-1])


def wait_failed(sock):
    deadline = time.monotonic() + 120 * vc.timeout_scale()
    while True:
        out = sl.api(sock, "GET", "/migrate")[1]
        if out["state"] == "failed":
            return out
        if out["state"] != "active" or time.monotonic() > deadline:
            vc.fail("migration that should fail: %r" % out)
        time.sleep(0.1)


def still_running(src, what):
    v = sl.counter_value(src)
    sl.wait_counter(src, v + 5)
    n = wlog_lines(src)
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while wlog_lines(src) <= n:
        if time.monotonic() > deadline:
            vc.fail("%s: the guest's writer stopped" % what)
        time.sleep(0.2)
    if src.proc.poll() is not None:
        vc.fail("%s: the source exited" % what)


def test(work):
    if os.geteuid() != 0:
        vc.skip("needs root")
    gdir = vc.guest_dir()
    sl.vmm()
    disk = os.path.join(work, "src.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    dst_disk = os.path.join(work, "dst.qcow2")
    cons = []
    try:
        m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
        s_sock = os.path.join(work, "src.sock")
        src = vc.Console(m.argv("vessel", sl.vmm()) + ["--api", s_sock],
                         os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        src.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before && sync")
        src.send(WRITER + "\n")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)

        # 2. a peer that hangs up in the middle of the disk copy
        fake = os.path.join(work, "fake.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(fake)
        srv.listen(1)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + fake, "disks": "copy"})
        if st != 202:
            vc.fail("PUT /migrate (copy) to the fake peer: %d %r" % (st, out))
        c, _ = srv.accept()
        got = 0
        while got < (1 << 20):
            data = c.recv(65536)
            if not data:
                break
            got += len(data)
        c.close()
        srv.close()
        out = wait_failed(s_sock)
        if not out["error"]:
            vc.fail("failed migration without a reason: %r" % out)
        still_running(src, "after a broken disk-copy stream")

        # 3. a destination whose disk file exists refuses
        taken = os.path.join(work, "taken.qcow2")
        open(taken, "w").close()
        busy = os.path.join(work, "busy.sock")
        ref = vc.Console([sl.vmm(), "--incoming", "unix:" + busy, "--disk", taken,
                          "--serial", "stdio", "--timeout", str(int(300 * vc.timeout_scale()))],
                         os.path.join(work, "refuse.log"))
        cons.append(ref)
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while not os.path.exists(busy):
            if time.monotonic() > deadline:
                vc.fail("the refusing destination never listened")
            time.sleep(0.05)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + busy, "disks": "copy"})
        if st != 202:
            vc.fail("PUT /migrate to the refusing peer: %d %r" % (st, out))
        out = wait_failed(s_sock)
        if "exists" not in out["error"]:
            vc.fail("refusal without the reason: %r" % out)
        if os.path.getsize(taken) != 0:
            vc.fail("the refusing destination changed the existing file")
        still_running(src, "after a refused disk copy")

        # 4. the real one
        mig = os.path.join(work, "mig.sock")
        dst = vc.Console([sl.vmm(), "--incoming", "unix:" + mig, "--disk", dst_disk,
                          "--serial", "stdio", "--timeout", str(int(600 * vc.timeout_scale()))],
                         os.path.join(work, "dst.log"))
        cons.append(dst)
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while not os.path.exists(mig):
            if time.monotonic() > deadline:
                vc.fail("the destination never listened")
            time.sleep(0.05)
        n_before = wlog_lines(src)
        sl.drain(src)
        lo = sl.last_counter(src)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + mig, "disks": "copy"})
        if st != 202 or out.get("state") != "active":
            vc.fail("PUT /migrate (copy): %d %r" % (st, out))
        last = None
        deadline = time.monotonic() + 300 * vc.timeout_scale()
        while src.proc.poll() is None:
            if time.monotonic() > deadline:
                vc.fail("disk-copy migration still running: %r" % last)
            try:
                st, o = sl.api(s_sock, "GET", "/migrate", timeout=10, wait=False)
                if st == 200:
                    last = o
                    if o["state"] == "failed":
                        vc.fail("migration failed: %s" % o["error"])
            except (OSError, ConnectionError):
                pass
            src._read(0.1)
        if src.wait_exit(60) != 0:
            vc.fail("source exit status %d after migrating" % src.status)
        mres = src.expect(r"migration to \S+ completed: total ([\d.]+) ms, downtime "
                          r"([\d.]+) ms, (\d+) bytes", 10, "the source's result line")
        if last is not None and "disk_bytes_sent" not in last:
            vc.fail("GET /migrate has no disk_bytes_sent: %r" % last)
        if last is not None and last["state"] == "active" and last["disk_bytes_sent"] == 0 \
                and last["pages_sent"] > 0:
            pass  # polled before the disk round: fine
        if int(mres.group(3)) < (8 << 20):
            vc.fail("a disk-copy migration sent only %s bytes" % mres.group(3))
        v = sl.counter_value(dst)
        hi = lo + 10 + int(float(mres.group(1)) / 100) + 3
        if not (lo <= v <= hi):
            vc.fail("destination counter printed %d first; the source had printed %d "
                    "before the migration (total %s ms)" % (v, lo, mres.group(1)))
        sl.wait_counter(dst, v + 5)
        # only the copy is open on this side
        fds = [os.readlink("/proc/%d/fd/%s" % (dst.proc.pid, f))
               for f in os.listdir("/proc/%d/fd" % dst.proc.pid)]
        if dst_disk not in fds or disk in fds:
            vc.fail("the destination's open disks: %r" % [f for f in fds if "qcow2" in f])
        dst.send("\n")
        dst.run("test -e /mnt/before")
        dst.run("kill %1 %2 2>/dev/null; true")
        time.sleep(0.2)
        out = clean(dst.run("awk '{ if ($2 != NR - 1) bad = NR } END { print (bad ? \"BAD \" "
                            "bad : \"GOOD\"), NR }' /mnt/wlog")[1])
        mm = re.search(r"(GOOD|BAD \d+) (\d+)", out)
        if not mm or mm.group(1) != "GOOD":
            vc.fail("/mnt/wlog on the destination is not consecutive: %r" % out)
        if int(mm.group(2)) <= n_before:
            vc.fail("/mnt/wlog has %s lines on the destination, %d before the migration: "
                    "the writes during it are missing" % (mm.group(2), n_before))
        dst.run("echo after > /mnt/after && sync && umount /mnt")
        dst.send("kill %1 %2 2>/dev/null\n")
        if dst.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % dst.status)
        print("ok: disk copy: %s bytes in %s ms (downtime %s ms); /mnt/wlog %s lines on the "
              "destination, %d before the migration"
              % (mres.group(3), mres.group(1), mres.group(2), mm.group(2), n_before))
    finally:
        for c in cons:
            c.close()
    r = subprocess.run(["qemu-img", "check", dst_disk], capture_output=True, text=True)
    if r.returncode != 0 or "No errors were found" not in r.stdout:
        vc.fail("qemu-img check of the copied disk: %s%s" % (r.stdout, r.stderr))


if __name__ == "__main__":
    vc.main(test)
