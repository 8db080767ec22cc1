#!/usr/bin/env python3
"""vm-migrate-switch: a message lost at the switch-over never leaves the VM
running on both sides (docs/migration.md, failure matrix).  Unix sockets,
no root needed.

1. The source boots the recipe guest (--api) and starts a console counter.
2. Lost 'K': a destination with VESSEL_TEST_MIGRATE_DROP=ready restores
   the whole state but its ready message never arrives.  The source must
   report "failed" and resume (its counter advances); the destination must
   not run the guest: it exits with status 1 and never prints the counter.
3. Lost 'R': a destination with VESSEL_TEST_MIGRATE_DROP=running gets the
   source's 'G', runs, and its confirmation is lost.  The source must report
   "failed" (switch-over not confirmed) and stay paused (GET /vm: paused,
   its counter stands still while the destination's advances).  Then the
   destination powers off cleanly.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def wait_path(path, what):
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            vc.fail("%s never appeared" % what)
        time.sleep(0.05)


def wait_failed(sock, src, what):
    deadline = time.monotonic() + 300 * vc.timeout_scale()
    while True:
        st, out = sl.api(sock, "GET", "/migrate")
        if st == 200 and out["state"] == "failed":
            return out
        if st != 200 or out["state"] != "active":
            vc.fail("%s: GET /migrate %d %r" % (what, st, out))
        if src.proc.poll() is not None:
            vc.fail("%s: the source exited (status %d)" % (what, src.proc.returncode))
        if time.monotonic() > deadline:
            vc.fail("%s: migration still active: %r" % (what, out))
        src._read(0.1)


def destination(work, name, drop):
    sock = os.path.join(work, name + ".mig")
    con = vc.Console(["env", "VESSEL_TEST_MIGRATE_DROP=" + drop, sl.vmm(),
                      "--incoming", "unix:" + sock, "--serial", "stdio",
                      "--timeout", str(int(600 * vc.timeout_scale()))],
                     os.path.join(work, name + ".log"))
    wait_path(sock, "the %s migration socket" % name)
    return con, sock


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

        # 2. the destination's 'K' is lost: the source resumes, it never runs
        d1, mig1 = destination(work, "ready-lost", "ready")
        cons.append(d1)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + mig1})
        if st != 202:
            vc.fail("PUT /migrate: %d %r" % (st, out))
        out = wait_failed(s_sock, src, "lost ready")
        if "ready" not in out["error"]:
            vc.fail("lost ready: unexpected reason %r" % out["error"])
        status = d1.wait_exit(120)
        if status != 1:
            vc.fail("destination whose ready was lost: exit status %d (1 expected)" % status)
        if "CNT" in d1.buf:
            vc.fail("the destination ran the guest without the source's go")
        if "switch-over not confirmed by the source" not in d1.buf:
            vc.fail("destination without the go: no precise message in %r"
                    % d1.buf[-400:])
        st, vm = sl.api(s_sock, "GET", "/vm")
        if vm.get("state") != "running":
            vc.fail("source after a lost ready: %r (running expected)" % vm.get("state"))
        v = sl.counter_value(src)
        sl.wait_counter(src, v + 5)

        # 3. the destination's 'R' is lost: it runs, the source stays paused
        d2, mig2 = destination(work, "running-lost", "running")
        cons.append(d2)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + mig2})
        if st != 202:
            vc.fail("PUT /migrate: %d %r" % (st, out))
        out = wait_failed(s_sock, src, "lost running confirmation")
        if "stays paused" not in out["error"]:
            vc.fail("lost running confirmation: unexpected reason %r" % out["error"])
        st, vm = sl.api(s_sock, "GET", "/vm")
        if vm.get("state") != "paused":
            vc.fail("source after an unconfirmed switch-over: %r (paused expected)"
                    % vm.get("state"))
        v = sl.counter_value(d2)
        sl.wait_counter(d2, v + 5)
        sl.drain(src)
        before = src.buf
        # the destination counts 5 more; the paused source prints nothing
        v = sl.last_counter(d2)
        sl.wait_counter(d2, v + 5)
        src._read(0.2)
        if re.search(r"CNT \d+", src.buf[len(before):]):
            vc.fail("the source ran on after sending go")
        if src.proc.poll() is not None:
            vc.fail("the source exited although the switch-over was not confirmed")
        d2.send("kill %1\n")
        if d2.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % d2.status)
    finally:
        for c in cons:
            c.close()


if __name__ == "__main__":
    vc.main(test)
