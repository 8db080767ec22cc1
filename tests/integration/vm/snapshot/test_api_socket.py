#!/usr/bin/env python3
"""vm-api-socket: the API's socket file appears only once it listens.

A client that connects the moment it sees the file (as the manager and
every script that waits for the socket do) must never be refused.  Each
round starts an empty vessel-vmm (`--api PATH` alone: no guest needed),
polls for the file in a tight loop, connects once with no retry and asks
GET /vm; it must answer 200 with state "empty".  Then SIGTERM must end
it with status 130, its socket removed, and its directory must hold no
temporary socket name.  Before
the fix the file appeared at bind(), before listen(), and a connect in
that window got ECONNREFUSED.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

ROUNDS = 60


def one_round(work, i):
    sock = os.path.join(work, "api%d.sock" % i)
    p = subprocess.Popen([sl.vmm(), "--api", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while not os.path.exists(sock):
            if p.poll() is not None:
                vc.fail("round %d: vessel-vmm exited %d before its socket appeared: %s"
                        % (i, p.returncode, p.stderr.read().decode()[-1000:]))
            if time.monotonic() > deadline:
                vc.fail("round %d: the API socket never appeared" % i)
        try:
            st, out = sl.api(sock, "GET", "/vm", wait=False)
        except ConnectionRefusedError:
            vc.fail("round %d: connect refused right after %s appeared "
                    "(the socket is visible before it listens)" % (i, sock))
        if st != 200 or not isinstance(out, dict) or out.get("state") != "empty":
            vc.fail("round %d: GET /vm answered %d %r" % (i, st, out))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60 * vc.timeout_scale())
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            vc.fail("round %d: vessel-vmm ignored SIGTERM" % i)
    if p.returncode != 130:
        vc.fail("round %d: exit status %d after SIGTERM, expected 130" % (i, p.returncode))
    if os.path.exists(sock):
        vc.fail("round %d: SIGTERM to the empty VMM left its socket %s behind" % (i, sock))
    left = [f for f in os.listdir(work) if f.endswith(".tmp")]
    if left:
        vc.fail("round %d: temporary socket names left behind: %s" % (i, left))


def test(work):
    sl.vmm()
    for i in range(ROUNDS):
        one_round(work, i)
    print("ok: %d rounds, every connect right after the socket appeared was accepted"
          % ROUNDS)


if __name__ == "__main__":
    vc.main(test)
