#!/usr/bin/env python3
"""vm-migrate-converge: a guest that dirties memory faster than the link
carries it still migrates promptly, throttled (docs/migration.md,
auto-converge).

The guest rewrites 8 MiB of non-zero file data (tmpfs: page cache) in a
loop, as fast as it can; the destination reads pages no faster than
20 MB/s (the test-only hook VESSEL_TEST_MIGRATE_RATE=20), so the guest
dirties its working set several times while one round is on the link.
The source must converge before its last round (MIG_MAX_ROUNDS, 30, is
giving up: it then stops the guest with whatever is dirty left, ~0.4 s of
this link), within a generous total time, with a downtime that shows the
stop-and-copy was small, and GET /migrate must show the throttle at work.
On the destination the guest goes on (its counter) and the file it was
rewriting holds the same bytes as its source.  Unix sockets, no root.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

MAX_ROUNDS = 30  # lib/vm/snapshot/migrate.c MIG_MAX_ROUNDS
LINK_MBPS = 20
TOTAL_S = 30  # generous: about 2 s on an idle host
DOWNTIME_MS = 250  # the whole 8 MiB set at the stop would be ~420 ms alone

MAKE = ("yes 0123456789abcdef-vessel-converge | head -c 8388608 > /tmp/a; "
        "cp /tmp/a /tmp/b; md5sum /tmp/a | sed 's/^/SUM /'")
WRITER = ("(while :; do dd if=/tmp/a of=/tmp/b bs=1M conv=notrunc 2>/dev/null; done) "
          "</dev/null >/dev/null 2>&1 &")


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    cons = []
    try:
        m = vc.Machine(gdir, cpus=1, mem="256M")
        s_sock = os.path.join(work, "src.sock")
        src = vc.Console(m.argv("vessel", sl.vmm()) + ["--api", s_sock],
                         os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        src.send(MAKE + "\n")
        want = src.expect(r"SUM ([0-9a-f]{32})", 120, "the file's md5sum").group(1)
        src.send(WRITER + "\n")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)
        dst, mig = sl.incoming_unix(work, cons, "VESSEL_TEST_MIGRATE_RATE=%d" % LINK_MBPS)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + mig})
        if st != 202:
            vc.fail("PUT /migrate: %d %r" % (st, out))
        # GET /migrate while it runs: the throttle must show
        throttle = 0
        deadline = time.monotonic() + 300 * vc.timeout_scale()
        while src.proc.poll() is None and time.monotonic() < deadline:
            try:
                st, out = sl.api(s_sock, "GET", "/migrate", timeout=10, wait=False)
            except OSError:
                break  # the source exited meanwhile
            if st == 200 and isinstance(out, dict):
                throttle = max(throttle, out.get("throttle_percent") or 0)
                if out.get("state") == "failed":
                    vc.fail("migration failed: %r" % out)
            src._read(0.02)  # its console and log lines, so it never blocks
        status = src.wait_exit(300 * vc.timeout_scale())
        if status != 0:
            vc.fail("source: exit status %d (0 expected): %r" % (status, src.buf[-600:]))
        line = re.search(r"migration to \S+ completed: total ([\d.]+) ms, downtime ([\d.]+) "
                         r"ms, (\d+) bytes, (\d+) rounds[^\n]*", src.buf)
        if not line:
            vc.fail("source: no result line in %r" % src.buf[-600:])
        total, downtime, nbytes, rounds = (float(line.group(1)), float(line.group(2)),
                                           int(line.group(3)), int(line.group(4)))
        for r in re.findall(r"migration round [^\n]*", src.buf):
            print(r.rstrip())
        print("busy guest over a %d MB/s link: %s; GET /migrate showed throttle %d %%"
              % (LINK_MBPS, line.group(0), throttle))
        if nbytes / 1e3 / total > LINK_MBPS * 1.25:
            vc.fail("the link was not limited to %d MB/s (%.0f MB/s: no "
                    "VESSEL_TEST_MIGRATE_RATE?): %s"
                    % (LINK_MBPS, nbytes / 1e3 / total, line.group(0)))
        if rounds >= MAX_ROUNDS:
            vc.fail("no convergence: the source gave up after %d rounds: %s"
                    % (rounds, line.group(0)))
        if total > TOTAL_S * 1000 * vc.timeout_scale():
            vc.fail("migration took %.0f ms (at most %d s expected): %s"
                    % (total, TOTAL_S, line.group(0)))
        if downtime > DOWNTIME_MS * vc.timeout_scale():
            vc.fail("downtime %.1f ms (at most %d ms expected): %s"
                    % (downtime, DOWNTIME_MS, line.group(0)))
        if throttle <= 0:
            vc.fail("GET /migrate never showed the throttle (throttle_percent 0): %s"
                    % line.group(0))
        v = sl.counter_value(dst)
        sl.wait_counter(dst, v + 3)
        dst.send("kill %1; kill %2; md5sum /tmp/a /tmp/b | sed 's/^/SUM /'\n")
        for name in ("/tmp/a", "/tmp/b"):
            got = dst.expect(r"SUM ([0-9a-f]{32})  " + name, 60, "md5sum " + name).group(1)
            if got != want:
                vc.fail("%s on the destination: md5 %s, the source's %s" % (name, got, want))
        if dst.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % dst.status)
    finally:
        for c in cons:
            c.close()


if __name__ == "__main__":
    vc.main(test)
