#!/usr/bin/env python3
"""vm-agent-hostile: vessel-vmm-agent (lib/vm/agent/client.c) against a
fake agent that misbehaves as a hostile guest could.  Each scenario answers
the client's HELLO and request with crafted frames; the client must use
what is valid, skip what is not, and fail with one clear message and exit
status 125 where the exchange cannot be trusted -- never crash (the ASan
build runs this too), hang or leave a half-pulled file.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))
import vmconsole as vc  # noqa: E402

MAGIC = b"VSAG"


def frame(ftype, fid, payload=b"", crc=None, length=None):
    n = len(payload) if length is None else length
    hdr = MAGIC + struct.pack("<HHII", ftype, 0, fid, n)
    if crc is None:
        crc = zlib.crc32(payload, zlib.crc32(hdr + b"\0\0\0\0"))
    return hdr + struct.pack("<I", crc) + payload


def hello_reply(fid, version=1):
    return frame(0x81, fid, struct.pack("<I", version) + b"vessel-agent 1 fake")


def read_frame(conn, buf):
    """Next frame from the client: (type, id, payload, rest of buf)."""
    while True:
        if len(buf) >= 20:
            t, _, fid, n, _ = struct.unpack("<HHIII", buf[4:20])
            if len(buf) >= 20 + n:
                return t, fid, buf[20:20 + n], buf[20 + n:]
        data = conn.recv(65536)
        if not data:
            return None, None, None, buf
        buf += data


def serve(listener, script, result):
    """Accept one client and play `script(conn, request_id)`."""
    try:
        conn, _ = listener.accept()
        conn.settimeout(60)
        t, fid, _, buf = read_frame(conn, b"")
        if t != 0x01:
            result.append("first frame 0x%s, not HELLO" % t)
            return
        t, rid, payload, buf = script(conn, fid, buf)
        conn.close()
    except Exception as e:  # reported by the main thread
        result.append(repr(e))


def scenario_exec_garbage(conn, fid, buf):
    conn.sendall(b"\xff" * 100 + hello_reply(fid))
    t, rid, _, buf = read_frame(conn, buf)
    assert t == 0x03, t
    conn.sendall(frame(0x84, rid, b"corrupt\n", crc=1) +       # bad checksum
                 frame(0x84, rid, b"", length=0xFFFFFFFF) +     # absurd length
                 frame(0x84, rid + 7, b"other id\n") +          # not ours
                 b"VSA" + frame(0x84, rid, b"ok\n") +           # false magic start
                 frame(0x85, rid, b"err\n") +
                 frame(0x86, rid, struct.pack("<ii", 3, 0)))
    read_frame(conn, buf)  # the client's ACKs, then its close
    return None, None, None, b""


def scenario_bad_version(conn, fid, buf):
    conn.sendall(hello_reply(fid, version=99))
    return None, None, None, buf


def scenario_bad_exit(conn, fid, buf):
    conn.sendall(hello_reply(fid))
    t, rid, _, buf = read_frame(conn, buf)
    conn.sendall(frame(0x86, rid, struct.pack("<iI", 99999, 5000)))
    read_frame(conn, buf)
    return None, None, None, buf


def scenario_long_error(conn, fid, buf):
    conn.sendall(hello_reply(fid))
    t, rid, _, buf = read_frame(conn, buf)
    conn.sendall(frame(0x8F, rid, struct.pack("<I", 0xFFFFFFF0) +
                       (b"\x1b[31m\x00" * 11000)[:65000]))
    read_frame(conn, buf)
    return None, None, None, buf


def scenario_pull_short(conn, fid, buf):
    conn.sendall(hello_reply(fid))
    t, rid, _, buf = read_frame(conn, buf)
    assert t == 0x07, t
    conn.sendall(frame(0x88, rid, b"x" * 1000) +
                 frame(0x89, rid, struct.pack("<III", 0o644, 5000, 0)))
    read_frame(conn, buf)
    return None, None, None, buf


def scenario_hangup_mid_frame(conn, fid, buf):
    conn.sendall(hello_reply(fid))
    t, rid, _, buf = read_frame(conn, buf)
    conn.sendall(frame(0x84, rid, b"y" * 500)[:100])
    return None, None, None, buf


SCENARIOS = [
    # name, script, CLI args after SOCKET, exit status, stdout, stderr must contain
    ("garbage around valid frames", scenario_exec_garbage,
     ["exec", "--no-stdin", "--", "x"], 3, b"ok\n", b"err\n"),
    ("wrong protocol version", scenario_bad_version,
     ["exec", "--no-stdin", "--", "x"], 125, b"", b"protocol version 99"),
    ("impossible exit status", scenario_bad_exit,
     ["exec", "--no-stdin", "--", "x"], 125, b"", b"exit status 99999"),
    ("huge error message", scenario_long_error,
     ["exec", "--no-stdin", "--", "x"], 125, b"", b"guest agent:"),
    ("pull shorter than announced", scenario_pull_short,
     ["pull", "/f", "@LOCAL@"], 125, b"", b"got 1000 bytes"),
    ("hangup in the middle of a frame", scenario_hangup_mid_frame,
     ["exec", "--no-stdin", "--", "x"], 125, b"", b"closed the connection"),
]


def main():
    prog = os.environ.get("VESSEL_VESSEL_VMM_AGENT", "")
    if not prog or not os.access(prog, os.X_OK):
        vc.skip("vessel-vmm-agent not built")
    scale = vc.timeout_scale()
    work = tempfile.mkdtemp(prefix="vessel-agent-hostile-")
    failures = []
    for name, script, args, status, out, err in SCENARIOS:
        path = os.path.join(work, "s.sock")
        local = os.path.join(work, "pulled")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        result = []
        th = threading.Thread(target=serve, args=(listener, script, result),
                              daemon=True)
        th.start()
        argv = [prog, "--timeout", str(30 * scale), "--connect-timeout",
                str(30 * scale), path] + [local if a == "@LOCAL@" else a
                                          for a in args]
        try:
            r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=90 * scale)
        except subprocess.TimeoutExpired:
            failures.append("%s: the client hung" % name)
            continue
        finally:
            th.join(10)
            listener.close()
            os.unlink(path)
        problems = list(result)
        if r.returncode != status:
            problems.append("exit status %d, expected %d" % (r.returncode, status))
        if out and r.stdout != out:
            problems.append("stdout %r, expected %r" % (r.stdout, out))
        if err not in r.stderr:
            problems.append("stderr %r lacks %r" % (r.stderr[-300:], err))
        if len(r.stderr) > 2000:
            problems.append("stderr of %d bytes (not bounded)" % len(r.stderr))
        if b"Sanitizer" in r.stderr or b"runtime error" in r.stderr:
            problems.append("sanitizer report")
        leftovers = [f for f in os.listdir(work) if f.startswith("pulled")]
        if leftovers:
            problems.append("left files behind: %r" % leftovers)
        print("%s: %s" % (name, "ok" if not problems else "; ".join(problems)))
        if problems:
            print("  stderr: %r" % r.stderr[-400:])
        if problems:
            failures.append(name)
    subprocess.run(["rm", "-rf", work])
    if failures:
        print("FAIL: %s" % ", ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
