#!/usr/bin/env python3
"""vm-boot-agent: the guest agent over its virtio-console port.

Boots the recipe guest with an agent port on a unix socket (vessel-vmm
--agent; QEMU: a virtconsole on a socket chardev) and drives it with
vessel-vmm-agent and with a raw client (docs/agent-protocol.md):
  - hello, exec `echo`, non-zero exit status and death by signal mirrored
    in the CLI's exit status, a missing command (127);
  - stdin passed (300 KB, md5 compared), 1 MiB of stdout byte-exact;
  - push a file (mode kept) and check it with md5sum in the guest, pull a
    guest file back byte-exact, pull of a missing file fails cleanly;
  - malformed frames from a raw client (garbage, bad checksum, oversized
    length, unknown type, malformed exec fields) each get an ERROR frame
    and a PING after them still gets its PONG;
  - a client that disconnects mid-frame, one whose exec times out and one
    killed while 1e8 lines stream to it: the VMM keeps running, the next
    client's exec works and the abandoned commands are gone;
  - exec round-trip latency of `true` (printed, not asserted).
"""
import hashlib
import os
import random
import socket
import stat
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

MAGIC = b"VSAG"
HELLO, PING, EXEC, PULL, ACK = 0x01, 0x02, 0x03, 0x07, 0x08
HELLO_REPLY, PONG, ERROR = 0x81, 0x82, 0x8F
EPROTO, EMSGSIZE, EBADMSG, ENOSYS, EINVAL = 71, 90, 74, 38, 22


def frame(ftype, fid, payload=b"", flags=0, crc=None, length=None):
    n = len(payload) if length is None else length
    hdr = MAGIC + struct.pack("<HHII", ftype, flags, fid, n)
    if crc is None:
        crc = zlib.crc32(payload, zlib.crc32(hdr + b"\0\0\0\0"))
    return hdr + struct.pack("<I", crc) + payload


def tlv(tag, val):
    return struct.pack("<HHI", tag, 0, len(val)) + val


class Raw:
    """A raw protocol client on the agent socket."""

    def __init__(self, path, scale):
        self.path = path
        self.buf = b""
        self.scale = scale
        self.s = None

    def connect(self, timeout=60):
        """Connect and HELLO; a connection closed at once (the VMM still
        serves the previous client) is retried."""
        deadline = time.monotonic() + timeout * self.scale
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect(self.path)
            try:
                return self.hello(timeout)
            except (ConnectionResetError, EOFError):
                self.s.close()
                if time.monotonic() > deadline:
                    vc.fail("the agent socket keeps closing new connections")
                time.sleep(0.1)

    def frames(self, timeout):
        """Frames until `timeout` s pass without a complete one."""
        deadline = time.monotonic() + timeout * self.scale
        while True:
            i = self.buf.find(MAGIC)
            if i > 0:
                self.buf = self.buf[i:]
            if len(self.buf) >= 20:
                t, _, fid, n, _ = struct.unpack("<HHIII", self.buf[4:20])
                if len(self.buf) >= 20 + n:
                    payload = self.buf[20:20 + n]
                    self.buf = self.buf[20 + n:]
                    yield t, fid, payload
                    continue
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return
            if not data:
                raise EOFError("agent socket closed by the VMM")
            self.buf += data

    def expect(self, ftype, fid, timeout=60, what=""):
        seen = []
        for t, i, p in self.frames(timeout):
            if t == ftype and i == fid:
                return p
            seen.append((hex(t), i, p[:80]))
        vc.fail("no frame 0x%x id %d (%s) from the agent; got %r" %
                (ftype, fid, what, seen))

    def hello(self, timeout=60):
        """HELLO until answered (the agent may be mid-resync)."""
        deadline = time.monotonic() + timeout * self.scale
        fid = 1000
        while time.monotonic() < deadline:
            fid += 1
            self.s.sendall(frame(HELLO, fid))
            for t, i, p in self.frames(5):
                if t == HELLO_REPLY and i in (fid, 0):
                    return p
        vc.fail("the agent did not answer HELLO")

    def close(self):
        self.s.close()


def cli(args, stdin=None, timeout=120, scale=1.0):
    prog = os.environ.get("VESSEL_VESSEL_VMM_AGENT", "")
    if not prog or not os.access(prog, os.X_OK):
        vc.skip("vessel-vmm-agent not built (VESSEL_VESSEL_VMM_AGENT=%r)" % prog)
    try:
        return subprocess.run([prog] + args, input=stdin, capture_output=True,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              timeout=timeout * scale)
    except subprocess.TimeoutExpired:
        vc.fail("vessel-vmm-agent %s: no answer in %.0f s" %
                (" ".join(args[:4]), timeout * scale))


def exercise(sock, work, scale, alive, guest=True, rdir="/tmp"):
    """Every check through the agent socket; alive() says the VMM still runs.
    guest=False: the agent runs on the host (vm-agent-host), where other
    processes may be called `sleep` and the kernel is not riscv64; rdir is
    where files are pushed to ("remote" side)."""
    pushed = rdir + "/pushed.bin"
    seqfile = rdir + "/seq.txt"

    def run(*args, stdin=None, timeout=120):
        return cli(["--connect-timeout", str(120 * scale), sock] +
                   list(args), stdin=stdin, timeout=timeout, scale=scale)

    def check(res, what, status=0):
        if res.returncode != status:
            vc.fail("%s: exit status %d, expected %d; stderr: %r" %
                    (what, res.returncode, status, res.stderr[-600:]))

    r = run("hello")
    check(r, "hello")
    if not r.stdout.startswith(b"vessel-agent 1 Linux") or \
            (guest and b"riscv64" not in r.stdout):
        vc.fail("hello printed %r" % r.stdout)
    r = run("exec", "--", "echo", "hello", "agent")
    check(r, "exec echo")
    if r.stdout != b"hello agent\n":
        vc.fail("exec echo printed %r" % r.stdout)
    r = run("exec", "--env", "GREETING=hi there", "--cwd", "/etc", "--",
            "sh", "-c", 'echo "$GREETING $(pwd)"; echo oops >&2; exit 7')
    check(r, "exec exit 7", 7)
    if r.stdout != b"hi there /etc\n" or r.stderr != b"oops\n":
        vc.fail("env/cwd/stderr: stdout %r stderr %r" % (r.stdout, r.stderr))
    r = run("exec", "--", "sh", "-c", "kill -9 $$")
    check(r, "exec killed by SIGKILL", 128 + 9)
    r = run("exec", "--", "/no/such/command")
    check(r, "exec of a missing command", 127)

    data = random.Random(9).randbytes(300 * 1024)
    r = run("exec", "--", "md5sum", stdin=data)
    check(r, "exec md5sum with stdin")
    if r.stdout.split()[0].decode() != hashlib.md5(data).hexdigest():
        vc.fail("md5 of 300 KB stdin is %r" % r.stdout)

    n = 170000
    want = "".join("%d\n" % i for i in range(1, n + 1)).encode()
    assert len(want) >= 1 << 20
    r = run("exec", "--no-stdin", "--", "seq", "1", str(n), timeout=300)
    check(r, "exec seq (1 MiB of output)")
    if r.stdout != want:
        vc.fail("1 MiB output differs: %d bytes, expected %d; first diff at %d"
                % (len(r.stdout), len(want),
                   next((i for i, (a, b) in enumerate(zip(r.stdout, want))
                         if a != b), min(len(r.stdout), len(want)))))

    local = os.path.join(work, "push.bin")
    blob = random.Random(10).randbytes(200 * 1024 + 17)
    with open(local, "wb") as f:
        f.write(blob)
    r = run("push", local, pushed, "640")
    check(r, "push")
    r = run("exec", "--no-stdin", "--", "sh", "-c",
            "md5sum %s; stat -c %%a %s" % (pushed, pushed))
    check(r, "md5sum of the pushed file")
    out = r.stdout.split()
    if out[0].decode() != hashlib.md5(blob).hexdigest() or out[2] != b"640":
        vc.fail("pushed file: %r, expected md5 %s mode 640" %
                (r.stdout, hashlib.md5(blob).hexdigest()))
    back = os.path.join(work, "pulled.bin")
    r = run("pull", pushed, back)
    check(r, "pull")
    with open(back, "rb") as f:
        if f.read() != blob:
            vc.fail("pulled file differs from the pushed one")
    r = run("exec", "--no-stdin", "--", "sh", "-c",
            "seq 1 30000 > %s" % seqfile)
    check(r, "write /tmp/seq.txt")
    r = run("pull", seqfile, back)
    check(r, "pull /tmp/seq.txt")
    with open(back, "rb") as f:
        if f.read() != "".join("%d\n" % i for i in range(1, 30001)).encode():
            vc.fail("pulled /tmp/seq.txt differs")
    r = run("pull", "/no/such/file", os.path.join(work, "x"))
    check(r, "pull of a missing file", 125)
    if b"No such file" not in r.stderr or os.listdir(work).count("x"):
        vc.fail("pull of a missing file: %r" % r.stderr)

    # -- malformed frames from a raw client --------------------------
    raw = Raw(sock, scale)
    raw.connect()
    raw.s.sendall(b"this is not a frame\n" * 3)
    p = raw.expect(ERROR, 0, what="garbage")
    if struct.unpack("<I", p[:4])[0] != EPROTO:
        vc.fail("garbage: error %r" % p)
    raw.s.sendall(frame(PING, 11, b"x", crc=0x12345678))
    p = raw.expect(ERROR, 11, what="bad checksum")
    if struct.unpack("<I", p[:4])[0] != EBADMSG:
        vc.fail("bad checksum: error %r" % p)
    raw.s.sendall(frame(PING, 12, b"", length=0x7FFFFFFF))
    p = raw.expect(ERROR, 12, what="oversized length")
    if struct.unpack("<I", p[:4])[0] != EMSGSIZE:
        vc.fail("oversized frame: error %r" % p)
    raw.s.sendall(frame(0x55, 13, b"??"))
    p = raw.expect(ERROR, 13, what="unknown type")
    if struct.unpack("<I", p[:4])[0] != ENOSYS:
        vc.fail("unknown type: error %r" % p)
    raw.s.sendall(frame(EXEC, 14, tlv(1, b"echo") + b"\x01\x00\x00"))
    p = raw.expect(ERROR, 14, what="malformed exec fields")
    if struct.unpack("<I", p[:4])[0] != EINVAL:
        vc.fail("malformed exec: error %r" % p)
    raw.s.sendall(frame(EXEC, 15, tlv(1, b"ec\0ho")))
    raw.expect(ERROR, 15, what="NUL in argv")
    raw.s.sendall(frame(PULL, 16, tlv(5, b"/proc")))
    raw.expect(ERROR, 16, what="pull of a directory")
    raw.s.sendall(frame(PING, 17, b"still there"))
    if raw.expect(PONG, 17, what="ping after bad frames") != b"still there":
        vc.fail("PONG payload differs")
    # gone in the middle of a frame: a header promising 1000 bytes
    raw.s.sendall(frame(PING, 18, b"y" * 1000)[:40])
    raw.close()
    if not alive():
        vc.fail("VMM exited after a client left mid-frame")
    r = run("exec", "--no-stdin", "--", "echo", "after-disconnect")
    check(r, "exec after a client left mid-frame")
    if r.stdout != b"after-disconnect\n":
        vc.fail("exec after disconnect printed %r" % r.stdout)

    # an exec that times out is abandoned; the next client resets it
    r = cli(["--timeout", str(2 * scale), sock, "exec", "--no-stdin", "--",
             "sleep", "600"], timeout=120, scale=scale)
    check(r, "exec that times out", 125)
    r = run("exec", "--no-stdin", "--", "sh", "-c",
            "pgrep -x sleep >/dev/null && echo sleeping || echo none")
    check(r, "exec after a timed-out one")
    if guest and r.stdout != b"none\n":
        vc.fail("the abandoned command still runs: %r" % r.stdout)

    # a client killed while the agent streams output to it
    prog = os.environ["VESSEL_VESSEL_VMM_AGENT"]
    p = subprocess.Popen([prog, sock, "exec", "--no-stdin", "--", "seq", "1",
                          "100000000"], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    got = p.stdout.read(200000)
    p.kill()
    p.wait()
    p.stdout.close()
    if not got.startswith(b"1\n2\n3\n"):
        vc.fail("streamed exec printed %r" % got[:40])
    if not alive():
        vc.fail("VMM exited after its client died during a stream")
    r = run("exec", "--no-stdin", "--", "sh", "-c",
            "pgrep -x seq >/dev/null && echo running || echo none")
    check(r, "exec after a client died during a stream")
    if guest and r.stdout != b"none\n":
        vc.fail("the abandoned stream's command still runs: %r" % r.stdout)

    r = run("latency", "20", timeout=300)
    check(r, "latency")
    print(r.stdout.decode().strip())
    r = run("ping", "5")
    check(r, "ping")

    if not alive():
        vc.fail("VMM exited during the agent test")


def test(work):
    gdir = vc.guest_dir()
    kind = vc.vmm_kind()
    scale = vc.timeout_scale()
    sock = os.path.join(work, "agent.sock")
    m = vc.Machine(gdir, cpus=1, mem="256M", agent=sock)
    with vc.start(m, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        if kind == "vessel":
            mode = stat.S_IMODE(os.stat(sock).st_mode)
            if mode != 0o600:
                vc.fail("agent socket has mode %o, expected 600" % mode)
        print(kind, end=": ")
        exercise(sock, work, scale, lambda: con.proc.poll() is None)
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
