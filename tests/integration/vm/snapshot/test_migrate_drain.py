#!/usr/bin/env python3
"""vm-migrate-drain: the source pauses an idle guest only once the
destination has read everything sent before (docs/migration.md): the
socket's buffers hold megabytes, and an idle guest converges right after
round 0, so without that wait the destination read most of round 0 while
the guest was paused (idle downtime 25-32 ms against a busy guest's 7).

The destination is made slow (VESSEL_TEST_MIGRATE_SLOW=20: it sleeps 20 ms
after each PAGES message of up to 1 MiB), so round 0 of the idle guest
(~15 MiB) certainly fills the buffers.  The source's result line must say
that 0 bytes were unread at the pause (SIOCOUTQ on the unix socket: bytes
the destination has not read), and the guest's counter must continue on
the destination.  Unix sockets, no root needed.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


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
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)
        dst, mig = sl.incoming_unix(work, cons, "VESSEL_TEST_MIGRATE_SLOW=20")
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + mig})
        if st != 202:
            vc.fail("PUT /migrate: %d %r" % (st, out))
        status = src.wait_exit(300 * vc.timeout_scale())
        if status != 0:
            vc.fail("source: exit status %d (0 expected): %r" % (status, src.buf[-400:]))
        line = re.search(r"migration to \S+ completed: [^\n]*", src.buf)
        if not line:
            vc.fail("source: no result line in %r" % src.buf[-400:])
        unread = re.search(r", (-?\d+) bytes unread at the pause", line.group(0))
        if not unread:
            vc.fail("source's result line without the bytes unread at the pause: %r"
                    % line.group(0))
        if int(unread.group(1)) != 0:
            vc.fail("the guest paused while the destination had %s bytes to read: %r"
                    % (unread.group(1), line.group(0)))
        v = sl.counter_value(dst)
        sl.wait_counter(dst, v + 3)
        dst.send("kill %1\n")
        if dst.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % dst.status)
    finally:
        for c in cons:
            c.close()


if __name__ == "__main__":
    vc.main(test)
