"""snaplib.py - helpers of the snapshot and migration tests.

- api(): one HTTP request to vessel-vmm's control API on its unix socket.
- Snapshot: a reader of vessel snapshot files (docs/snapshot-format.md) so
  tests can compare two snapshots section by section and RAM page by page,
  and make corrupt, truncated and foreign-version copies.
- Guest helpers: start a counter on the console, read the counter.
Standard library only.
"""
import http.client
import json
import os
import re
import shutil
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "guest"))
import vmconsole as vc  # noqa: E402

MAGIC = b"VSLSNAP\n"
SEC_NAMES = {0: "END", 1: "META", 2: "CONFIG", 3: "MACHINE", 4: "HART",
             5: "CLINT", 6: "PLIC", 7: "UART", 8: "RTC", 9: "ROM",
             10: "VIRTIO", 11: "DISKS", 12: "RAM"}
PAGE = 4096


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, timeout=120, wait=True):
    """(status, parsed JSON or raw bytes) of one request.  wait: for the
    socket to appear (else OSError when it is not there)."""
    deadline = time.monotonic() + (60 * vc.timeout_scale() if wait else 0)
    while not os.path.exists(sock):
        if not wait:
            raise OSError("no API socket %s" % sock)
        if time.monotonic() > deadline:
            vc.fail("API socket %s never appeared" % sock)
        time.sleep(0.05)
    c = _UnixHTTP(sock, timeout * vc.timeout_scale())
    data = json.dumps(body) if body is not None else None
    c.request(method, path, body=data,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def api_ok(sock, method, path, body=None, timeout=120):
    st, out = api(sock, method, path, body, timeout)
    if st != 200:
        vc.fail("%s %s %r: HTTP %d %r" % (method, path, body, st, out))
    return out


class Snapshot:
    """A parsed snapshot file: header fields, sections, RAM layout."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.head = f.read(64)
            if self.head[:8] != MAGIC:
                raise ValueError("bad magic")
            (self.version, hsize, self.kind, nsec,
             self.file_size) = struct.unpack_from("<IIIIQ", self.head, 8)
            self.sections = []  # (type, instance, payload_offset, payload)
            off = 64
            for _ in range(nsec):
                f.seek(off)
                t, inst, ver, crc, ln = struct.unpack("<IIIIQ", f.read(24))
                payload = f.read(ln)
                self.sections.append((t, inst, off + 24, payload))
                off += 24 + ((ln + 7) & ~7)
        ram = self.section(12)
        (self.ram_base, self.ram_size, _page, self.ram_offset,
         self.stored) = struct.unpack_from("<QQQQQ", ram, 0)
        self.bitmap = ram[40:]

    def section(self, t, inst=0):
        for st, si, _, p in self.sections:
            if st == t and si == inst:
                return p
        return None

    def section_offset(self, t, inst=0):
        for st, si, o, _ in self.sections:
            if st == t and si == inst:
                return o
        return None

    def stored_page(self, i):
        return (self.bitmap[i // 8] >> (i % 8)) & 1

    def ram(self):
        """Guest RAM as one bytes object (holes read as zeros)."""
        with open(self.path, "rb") as f:
            f.seek(self.ram_offset)
            return f.read(self.ram_size)


def copy_with(src, dst, patch=None, truncate=None):
    """Copy a snapshot, then patch bytes at (offset, bytes) or truncate."""
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        if patch:
            off, data = patch
            f.seek(off)
            f.write(data)
        if truncate is not None:
            f.truncate(truncate)


def flip_byte(path, off):
    with open(path, "rb") as f:
        f.seek(off)
        b = f.read(1)
    return (off, bytes([b[0] ^ 0x5a]))


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xffffffff


def with_version(head, version):
    """A header with another format version and a valid checksum."""
    h = bytearray(head)
    struct.pack_into("<I", h, 8, version)
    struct.pack_into("<I", h, 60, crc32c(bytes(h[:60])))
    return bytes(h)


COUNTER = ("(i=0; while :; do echo CNT $i; i=$((i+1)); sleep 0.1; done) "
           "</dev/null >/dev/console 2>&1 &")


def counter_value(con, timeout=60):
    """The next counter value the guest prints."""
    return int(con.expect(r"CNT (\d+)[\r\n]", timeout, "the counter").group(1))


def wait_counter(con, at_least, timeout=120):
    deadline = time.monotonic() + timeout * vc.timeout_scale()
    while True:
        v = counter_value(con, timeout)
        if v >= at_least:
            return v
        if time.monotonic() > deadline:
            vc.fail("counter stuck below %d (last %d)" % (at_least, v))


def vmm():
    return vc.vmm_program("vessel")


def restore_argv(snap, sock=None, extra=()):
    a = [vmm(), "--restore", snap, "--serial", "stdio",
         "--timeout", str(int(600 * vc.timeout_scale()))]
    if sock:
        a += ["--api", sock]
    return a + list(extra)


def incoming_unix(work, cons, hook):
    """A destination vessel-vmm waiting on unix:WORK/dst.mig with a test
    hook in its environment (hook: "VAR=VALUE"), appended to cons once
    started; returns (console, its migration socket) after the socket
    appears (at most 60 s)."""
    mig = os.path.join(work, "dst.mig")
    dst = vc.Console(["env", hook, vmm(), "--incoming", "unix:" + mig,
                      "--serial", "stdio",
                      "--timeout", str(int(600 * vc.timeout_scale()))],
                     os.path.join(work, "dst.log"))
    cons.append(dst)
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while not os.path.exists(mig):
        if time.monotonic() > deadline:
            vc.fail("the destination never listened on %s" % mig)
        time.sleep(0.05)
    return dst, mig


def drain(con, quiet=0.15, limit=3.0):
    """Read what the guest printed until it is quiet for `quiet` seconds (at
    most `limit`); the next expect starts after all of it."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        n = len(con.buf)
        if not con._read(quiet) or len(con.buf) == n:
            break
    con.pos = len(con.buf)


def last_counter(con):
    vals = re.findall(r"CNT (\d+)[\r\n]", con.buf)
    return int(vals[-1]) if vals else -1


AFTER_S = 0.5  # snapshot_window: how long lines are read after the request


def snapshot_window(con, take):
    """Call take() (which snapshots the VM) and return (lo, hi): the counter
    value the snapshot holds lies in [lo, hi].  lo is the last value seen
    before the request.  Every line the guest printed before the snapshot
    was printed before take() returned, so it reaches us within the pipes'
    delay: hi is the largest value that arrived within AFTER_S seconds of
    the return (the counter goes on, so that already counts lines past the
    snapshot), plus 3 for slower pipes.  (hi used to be the first value
    printed after the request plus 3, but the guest prints on while the
    request makes its way to the safe point: on a loaded host it printed 4
    lines more than that before the snapshot, and vm-sandbox-snapshot
    failed with 24 against [19, 23].)"""
    drain(con)
    lo = last_counter(con)
    pos = len(con.buf)
    take()
    end = time.monotonic() + AFTER_S
    while time.monotonic() < end and con._read(end - time.monotonic()):
        pass
    vals = [int(v) for v in re.findall(r"CNT (\d+)[\r\n]", con.buf[pos:])]
    return lo, (max(vals) if vals else counter_value(con)) + 3


def check_counter(con, window, what, running_from=None):
    """The first value a restored guest prints continues the snapshot's.
    running_from: for a load into a running VM, the last value it printed
    before the request; values after it still in flight are skipped."""
    v = counter_value(con)
    lo, hi = window
    for _ in range(10):
        if running_from is None or v > running_from + 10 or v < running_from:
            break
        v = counter_value(con)
    if not (lo <= v <= hi):
        vc.fail("%s: the counter printed %d first; the snapshot holds a value "
                "in [%d, %d]" % (what, v, lo, hi))
    return v
