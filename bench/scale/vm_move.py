#!/usr/bin/env python3
"""bench/scale/vm_move.py RUNS DIR - vessel-vmm live migration with
"disks": "copy": the recipe guest (256 MiB, its own qcow2 disk, a process
appending to a file on it with sync) hops RUNS times between vessel-vmm
processes over unix sockets, each destination creating its own disk.
Prints medians: `downtime MS`, `total MS`, `disk_bytes N`."""
import os
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests/integration/vm/snapshot"))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

WRITER = ("(i=0; while :; do echo W $i >> /mnt/wlog; sync; i=$((i+1)); sleep 0.05; done) "
          "</dev/null >/dev/null 2>&1 &")


def main():
    runs, work = int(sys.argv[1]), sys.argv[2]
    os.makedirs(work, exist_ok=True)
    gdir = vc.guest_dir()
    disk = os.path.join(work, "d0.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    sock = os.path.join(work, "api0.sock")
    cur = vc.Console(m.argv("vessel", sl.vmm()) + ["--api", sock], os.path.join(work, "vm0.log"))
    cons = [cur]
    down, total, dbytes = [], [], []
    try:
        cur.wait_banner()
        cur.run("mount -t ext4 /dev/vda /mnt")
        cur.send(WRITER + "\n")
        time.sleep(1)
        for i in range(1, runs + 1):
            mig = os.path.join(work, "mig%d.sock" % i)
            nsock = os.path.join(work, "api%d.sock" % i)
            nxt = vc.Console([sl.vmm(), "--incoming", "unix:" + mig, "--disk",
                              os.path.join(work, "d%d.qcow2" % i), "--serial", "stdio",
                              "--api", nsock, "--timeout", "600"],
                             os.path.join(work, "vm%d.log" % i))
            cons.append(nxt)
            while not os.path.exists(mig):
                time.sleep(0.02)
            st, out = sl.api(sock, "PUT", "/migrate", {"uri": "unix:" + mig, "disks": "copy"})
            if st != 202:
                raise SystemExit("PUT /migrate: %d %r" % (st, out))
            last = None
            while cur.proc.poll() is None:
                try:
                    st, o = sl.api(sock, "GET", "/migrate", timeout=10, wait=False)
                    if st == 200:
                        last = o
                        if o["state"] == "failed":
                            raise SystemExit("migration failed: %s" % o["error"])
                except (OSError, ConnectionError):
                    pass
                cur._read(0.05)
            mm = cur.expect(r"migration to \S+ completed: total ([\d.]+) ms, downtime "
                            r"([\d.]+) ms, (\d+) bytes", 10, "result")
            total.append(float(mm.group(1)))
            down.append(float(mm.group(2)))
            if last:
                dbytes.append(last.get("disk_bytes_sent", 0))
            cur, sock = nxt, nsock
            time.sleep(0.5)
        cur.send("\n")
        cur.run("kill %1; sync")
    finally:
        for c in cons:
            c.close()
    print("downtime %.1f" % statistics.median(down))
    print("total %.1f" % statistics.median(total))
    print("disk_bytes %d" % (statistics.median(dbytes) if dbytes else 0))


if __name__ == "__main__":
    main()
