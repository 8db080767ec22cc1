#!/usr/bin/env python3
"""vm-migrate-stream: `vessel-vmm --incoming unix:PATH` refuses a bad
migration stream with a precise message (the 'E' answer and stderr), exits
with status 1 and never runs a guest.  No guest image needed.

Streams: the former protocol's magic (VSLMIG2: no SYNC), a ZERO
message past the end of RAM, a ZERO message of 0 pages, PAGES past the end
of RAM, and a stream whose in-range ZERO and PAGES messages end without the
machine state.
"""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

RAM = 64 << 20
PAGES, DONE, ZERO = 1, 3, 6  # 4 and 5: DISKS and DISK (disk copy)


def hello(magic=b"VSLMIG3\n"):
    return magic + struct.pack("<QQ", RAM, 4 << 20)


def msg(kind, count, first, data=b""):
    return struct.pack("<IIQ", kind, count, first) + data


CASES = [
    ("the former protocol", hello(b"VSLMIG2\n"), "not a vessel migration stream"),
    ("ZERO past the end", hello() + msg(ZERO, 2, RAM // 4096 - 1), "zero pages out of range"),
    ("ZERO of 0 pages", hello() + msg(ZERO, 0, 0), "zero pages out of range"),
    ("PAGES past the end", hello() + msg(PAGES, 1, RAM // 4096), "pages out of range"),
    ("no state", hello() + msg(ZERO, 3, 10) + msg(PAGES, 1, 0, b"\x5a" * 4096) +
     msg(DONE, 0, 0), "stream ended without the state"),
]


def test(work):
    vmm = sl.vmm()
    for i, (what, stream, want) in enumerate(CASES):
        path = os.path.join(work, "in%d.sock" % i)
        log = open(os.path.join(work, "in%d.log" % i), "w+")
        p = subprocess.Popen([vmm, "--incoming", "unix:" + path, "--serial", "stdio"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60 * vc.timeout_scale()
            while not os.path.exists(path):
                if p.poll() is not None or time.monotonic() > deadline:
                    vc.fail("%s: the destination never listened" % what)
                time.sleep(0.02)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(60 * vc.timeout_scale())
            s.connect(path)
            s.sendall(stream)
            answer = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    answer += d
            except OSError:
                pass
            s.close()
            status = p.wait(timeout=60 * vc.timeout_scale())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        log.seek(0)
        err = log.read()
        log.close()
        if status != 1:
            vc.fail("%s: destination exit status %d (1 expected): %r" % (what, status, err))
        if not answer.startswith(b"E") or want.encode() not in answer:
            vc.fail("%s: answer %r (E and %r expected)" % (what, answer[:200], want))
        if want not in err:
            vc.fail("%s: stderr %r lacks %r" % (what, err[-300:], want))


if __name__ == "__main__":
    vc.main(test)
