#!/usr/bin/env python3
"""vm-snapshot-empty: `vessel-vmm --api PATH` alone starts empty (no VM,
Firecracker's model: a warm process waiting for a snapshot) and
PUT /snapshot/load builds the machine from the snapshot and runs it.

A guest printing a counter is snapshotted and powered off.  A second
vessel-vmm starts with --api only: GET /vm says "empty", requests that
need a VM (pause, actions, snapshot create, balloon, metrics, migration)
get 409 with a JSON error, and loading a corrupt copy (a flipped byte in a
hart section) or a missing file gets 400 with the loader's reason while
the process stays empty, prints no guest output and still serves.  Then
the good snapshot loads: 200, the counter goes on from the snapshot's
value, GET /vm says "running", and an API poweroff ends the process with
status 0.  The combinations refused at start (--sandbox, --net) exit 1
with a message.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

NEEDS_VM = [("PUT", "/vm/state", {"state": "paused"}),
            ("PUT", "/actions", {"action": "poweroff"}),
            ("PUT", "/snapshot/create", {"path": "x.snap"}),
            ("GET", "/balloon", None),
            ("GET", "/metrics", None),
            ("PUT", "/migrate", {"uri": "unix:x.sock"}),
            ("GET", "/migrate", None)]


def expect_empty(sock, what):
    st, out = sl.api(sock, "GET", "/vm")
    if st != 200 or not isinstance(out, dict) or out.get("state") != "empty":
        vc.fail("%s: GET /vm answered %d %r, expected state \"empty\""
                % (what, st, out))


def refused_at_start(extra, reason, work):
    r = subprocess.run([sl.vmm(), "--api", os.path.join(work, "r.sock")]
                       + extra, capture_output=True, text=True,
                       timeout=60 * vc.timeout_scale(),
                       stdin=subprocess.DEVNULL)
    if r.returncode != 1 or reason not in r.stderr:
        vc.fail("--api %s: exit status %d, expected 1 and %r:\n%s"
                % (" ".join(extra), r.returncode, reason, r.stderr[-2000:]))


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    sock = os.path.join(work, "api.sock")
    good = os.path.join(work, "good.snap")
    bad = os.path.join(work, "crc.snap")
    m = vc.Machine(gdir, cpus=1, mem="256M")
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 5)
        win = sl.snapshot_window(con, lambda: sl.api_ok(
            sock, "PUT", "/snapshot/create", {"path": good}))
        sl.api_ok(sock, "PUT", "/actions", {"action": "poweroff"})
        if con.wait_exit(60) != 0:
            vc.fail("first VMM: exit status %d after poweroff" % con.status)
    s = sl.Snapshot(good)
    sl.copy_with(good, bad, patch=sl.flip_byte(good, s.section_offset(4, 0)
                                                + 40))

    refused_at_start(["--sandbox"], "--sandbox needs a VM at start", work)
    refused_at_start(["--net", "tap=nonexistent0"], "--net do not apply", work)

    sock2 = os.path.join(work, "empty.sock")
    argv = [sl.vmm(), "--api", sock2, "--serial", "stdio",
            "--timeout", str(int(600 * vc.timeout_scale()))]
    with vc.Console(argv, os.path.join(work, "empty.log")) as con:
        expect_empty(sock2, "at start")
        for method, path, body in NEEDS_VM:
            st, out = sl.api(sock2, method, path, body)
            if st != 409 or not isinstance(out, dict) or \
                    "empty" not in out.get("error", ""):
                vc.fail("%s %s while empty: %d %r, expected 409 with an "
                        "error naming the empty state" % (method, path, st, out))
        for path, reason in ((bad, "CRC32C mismatch"),
                             (os.path.join(work, "missing.snap"),
                              "missing.snap")):
            st, out = sl.api(sock2, "PUT", "/snapshot/load", {"path": path})
            if st != 400 or reason not in out.get("error", ""):
                vc.fail("load of %s while empty: %d %r, expected 400 with %r"
                        % (os.path.basename(path), st, out, reason))
            expect_empty(sock2, "after the refused %s" % os.path.basename(path))
        con._read(0.5)
        if "CNT" in con.buf or con.proc.poll() is not None:
            vc.fail("a refused load ran a guest or ended the VMM (status %r):"
                    "\n%s" % (con.proc.poll(), con.buf[-2000:]))

        t0 = time.monotonic()
        out = sl.api_ok(sock2, "PUT", "/snapshot/load", {"path": good})
        if out.get("path") != good or "elapsed_ms" not in out:
            vc.fail("PUT /snapshot/load answered %r" % out)
        v = sl.check_counter(con, win, "load into the empty VMM")
        sl.wait_counter(con, v + 5)  # timers fire: the count goes on
        st, out = sl.api(sock2, "GET", "/vm")
        if st != 200 or out.get("state") != "running" or \
                out["config"]["mem_bytes"] != 256 << 20:
            vc.fail("GET /vm after the load: %d %r" % (st, out))
        print("load to running counter: %.0f ms" % ((time.monotonic() - t0)
                                                    * 1e3))
        sl.api_ok(sock2, "PUT", "/actions", {"action": "poweroff"})
        if con.wait_exit(60) != 0:
            vc.fail("loaded VMM: exit status %d after poweroff" % con.status)


if __name__ == "__main__":
    vc.main(test)
