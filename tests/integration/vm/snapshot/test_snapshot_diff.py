#!/usr/bin/env python3
"""vm-snapshot-diff: a diff snapshot restores to the same state as a full
one taken at the same moment.

1. Full snapshot F0 of a guest printing a counter (dirty tracking starts).
2. The guest runs and writes memory; then it is paused, and a diff D1 and a
   full F1 are taken at the same paused moment.  D1 must hold far fewer
   pages than F1.
3. The guest resumes and runs on; it is paused again and D1 (layered on F0)
   is loaded into it while paused; a full F2 is taken at once.  F2 must
   equal F1: every section but META and DISKS byte for byte, and all of
   guest RAM page for page.
4. Resumed, the counter continues from D1's point; and `vessel-vmm
   --restore D1` in a new process continues it too.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def compare(a, b):
    sa, sb = sl.Snapshot(a), sl.Snapshot(b)
    keys = lambda s: {(t, i): p for t, i, _, p in s.sections  # noqa: E731
                      if t not in (1, 11)}
    ka, kb = keys(sa), keys(sb)
    if ka.keys() != kb.keys():
        vc.fail("sections differ: %s vs %s" % (sorted(ka), sorted(kb)))
    for k in ka:
        if k[0] != 12 and ka[k] != kb[k]:
            vc.fail("section %s %d differs between %s and %s"
                    % (sl.SEC_NAMES.get(k[0]), k[1], a, b))
    ra, rb = sa.ram(), sb.ram()
    if ra != rb:
        bad = [i for i in range(0, len(ra), sl.PAGE)
               if ra[i:i + sl.PAGE] != rb[i:i + sl.PAGE]]
        vc.fail("%d RAM pages differ (first at 0x%x)" % (len(bad), bad[0]))


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    sock = os.path.join(work, "api.sock")
    f0, d1, f1, f2 = (os.path.join(work, n) for n in
                      ("f0.snap", "d1.snap", "f1.snap", "f2.snap"))
    m = vc.Machine(gdir, cpus=2, mem="256M")
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 5)
        sl.api_ok(sock, "PUT", "/snapshot/create", {"path": f0})
        con.send("dd if=/dev/urandom of=/tmp/blob bs=64k count=64 2>/dev/null\n")
        v = sl.wait_counter(con, sl.counter_value(con) + 10)
        sl.api_ok(sock, "PUT", "/vm/state", {"state": "paused"})
        rd = sl.api_ok(sock, "PUT", "/snapshot/create",
                       {"path": d1, "type": "diff"})
        rf = sl.api_ok(sock, "PUT", "/snapshot/create", {"path": f1})
        if not 0 < rd["ram_pages"] < rf["ram_pages"] // 2:
            vc.fail("diff stores %d pages, full %d: not a diff"
                    % (rd["ram_pages"], rf["ram_pages"]))
        sl.drain(con)
        lo = sl.last_counter(con)
        sl.api_ok(sock, "PUT", "/vm/state", {"state": "running"})
        win = (lo, sl.counter_value(con) + 3)
        sl.wait_counter(con, win[1] + 20)
        sl.api_ok(sock, "PUT", "/vm/state", {"state": "paused"})
        sl.api_ok(sock, "PUT", "/snapshot/load", {"path": d1})
        sl.api_ok(sock, "PUT", "/snapshot/create", {"path": f2})
        compare(f1, f2)
        sl.drain(con)
        sl.api_ok(sock, "PUT", "/vm/state", {"state": "running"})
        sl.check_counter(con, win, "PUT /snapshot/load of the diff")
    with vc.Console(sl.restore_argv(d1), os.path.join(work,
                                                      "restore.log")) as con:
        v = sl.check_counter(con, win, "--restore of the diff")
        sl.wait_counter(con, v + 5)


if __name__ == "__main__":
    vc.main(test)
