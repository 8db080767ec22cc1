#!/usr/bin/env python3
"""vm-respond: vessel-vmm answers --timeout, SIGTERM and Ctrl-A x at once,
whatever its guest makes the disk do.

The guest (stall.c) keeps virtio-blk busy for minutes on a qcow2 with
512-byte clusters: write-zeroes of the whole 4 GiB disk, eight 256 MiB
writes and a flush.  Measured from outside:

  timeout  wall time from the guest's first line (the machine exists) to
           exit <= --timeout + BOUND, status 124
  SIGTERM  from kill() to exit <= BOUND, status 130
  Ctrl-A x from writing the escape on the VMM's terminal (a pty) to exit
           <= BOUND, status 130

The control API answers too: with --api, while the guest's disk work is
in flight, GET /vm, a pause, a resume and GET /metrics each return within
BOUND, and PUT /actions poweroff ends the VMM (status 0) within BOUND.

for a busy guest (polling the used ring: the harts run) and an idle one
(WFI: the run loop sleeps in poll), on an empty image (the I/O thread
stops at a piece boundary and closes the image, normally cleanly) and on
one whose first 8 MiB hold data (the write-zeroes frees them, which makes
lib/disk's close slow: the VMM stops waiting for it after 30 ms).
`qemu-img check` must then report nothing or leaked clusters only, never
corruption; on a loaded host even the empty image's close can outlast the
30 ms, so leaks are accepted there too (each attempt prints which).
In every case the flush, queued last, has not completed: the VMM really
was in the middle of the guest's work.  Two more cases use the guest built
with -DHAMMER, which floods virtio-rng and virtio-console (--console stdio)
with rings full of queue-long chains of 16 MiB buffers, forever: work that
runs on the VMM's loop thread itself and is bounded per pass; the test
checks that several MiB of console output did flow.

BOUND is the 100 ms the issue asks for in the release build.  Under
ASan+UBSan (VESSEL_SANITIZED=1) process start and exit are slower
(LeakSanitizer stops every thread, a disk thread still at work included,
and scans the heap at exit: 50-150 ms on a loaded host), so the bound is
3 x 100 ms there; the release build is held to the 100 ms.
Each timing is tried up to 5 times and the best counts: one measurement
on a loaded 2-core machine can be delayed by the host's scheduler; the
image check runs after every attempt.
"""
import http.client
import json
import os
import pty
import select
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.join(os.environ["VESSEL_SOURCE_ROOT"], "tests/integration/vm/hostile")
VMM = os.environ["VESSEL_VESSEL_VMM"]
CC = "riscv64-linux-gnu-gcc"
SANITIZED = os.environ.get("VESSEL_SANITIZED") == "1"
BOUND = 0.100 * (3.0 if SANITIZED else 1.0)
ATTEMPTS = 5
TIMEOUT = 2.0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(argv, what):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s failed (%d): %s%s" % (what, r.returncode, r.stdout, r.stderr))


def build_guest(work, idle=False, hammer=False):
    out = os.path.join(work, "stall-%s.elf" % ("hammer" if hammer else "idle" if idle else "busy"))
    argv = [CC, "-nostdlib", "-nostartfiles", "-ffreestanding", "-fno-builtin", "-fno-pic",
            "-no-pie", "-static", "-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany",
            "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,--build-id=none",
            "-Wl,--no-warn-rwx-segments", "-T", os.path.join(SRC, "link.ld"),
            os.path.join(SRC, "start.S"), os.path.join(SRC, "stall.c"), "-o", out]
    if idle:
        argv.append("-DIDLE")
    if hammer:
        argv.append("-DHAMMER")
    run(argv, "cross-compiling stall.c")
    return out


def check_image(path, allow_leaks=True):
    """qemu-img check: 0 = clean; 3 = leaked clusters only (allowed: the
    close may have been abandoned); anything else is corruption or an error."""
    r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    tail = "\n".join(l for l in r.stdout.splitlines() if not l.startswith("Leaked cluster"))
    if r.returncode == 0:
        return "clean"
    if r.returncode == 3 and allow_leaks and "ERROR" not in r.stdout:
        return "leaks only"
    fail("qemu-img check %s exited %d:\n%s%s" % (path, r.returncode, tail, r.stderr))


MARKERS = ("stall: requests in flight", "stall: request 9 completed", "stall: FAIL")


class Vmm:
    """vessel-vmm on a stall guest; stdout drained by a thread (the first
    64 KiB kept, the rest counted and searched for MARKERS: the hammer guest
    writes hundreds of MiB), optionally through a pty."""

    KEEP = 64 << 10

    def __init__(self, elf, disk=None, timeout=None, tty=False, extra=()):
        argv = [VMM, "--bios", elf, "--mem", "64M"] + list(extra)
        if disk:
            argv += ["--disk", disk]
        if timeout:
            argv += ["--timeout", str(timeout)]
        self.master = None
        self.out = b""
        self.total = 0
        self.tail = b""
        self.found = set()
        self.cond = threading.Condition()
        self.eof = False
        if tty:
            self.master, slave = pty.openpty()
            self.start = time.monotonic()
            self.p = subprocess.Popen(argv, stdin=slave, stdout=slave,
                                      stderr=subprocess.PIPE, start_new_session=True)
            os.close(slave)
            self.fd = self.master
        else:
            self.start = time.monotonic()
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
            self.fd = self.p.stdout.fileno()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except OSError:
                chunk = b""
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                if len(self.out) < self.KEEP:
                    self.out += chunk[:self.KEEP - len(self.out)]
                window = self.tail + chunk
                for m in MARKERS:
                    if m.encode() in window:
                        self.found.add(m)
                self.tail = window[-256:]
                self.total += len(chunk)
                self.cond.notify_all()

    def read_until(self, marker, deadline):
        with self.cond:
            while marker not in self.found and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return marker in self.found

    def wait(self, limit=60):
        try:
            self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            fail("vessel-vmm did not exit within %d s" % limit)
        end = time.monotonic()
        self.err = self.p.stderr.read().decode(errors="replace")
        self.reader.join(10)
        if self.master is not None:
            os.close(self.master)
        return end

    def saw(self, marker):
        with self.cond:
            return marker in self.found

    def stdout(self):
        """The beginning of the output, printable, for messages."""
        with self.cond:
            return repr(self.out[:2000].decode(errors="replace"))


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def api_call(sock, method, path, body=None):
    """One request on a fresh connection; returns (status, seconds)."""
    c = UnixHTTP(sock)
    t0 = time.monotonic()
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    dt = time.monotonic() - t0
    c.close()
    return r.status, dt


def api_attempt(elf, disk, sock):
    """The slowest of the API answers while the guest's disk work runs, and
    the poweroff's exit; checks statuses and the image."""
    vm = Vmm(elf, disk, extra=("--api", sock))
    if not vm.read_until("stall: requests in flight", time.monotonic() + 30):
        vm.p.kill()
        vm.wait()
        fail("api: guest never reported its requests in flight: %s %s" % (vm.stdout(), vm.err[-2000:]))
    time.sleep(1.0)  # let the I/O thread get deep into the work
    worst = 0.0
    for method, path, body, want in [
        ("GET", "/vm", None, 200),
        ("PUT", "/vm/state", {"state": "paused"}, 204),
        ("GET", "/vm", None, 200),
        ("PUT", "/vm/state", {"state": "running"}, 204),
        ("GET", "/metrics", None, 200),
    ]:
        status, dt = api_call(sock, method, path, body)
        if status // 100 != want // 100:
            vm.p.kill()
            vm.wait()
            fail("api: %s %s answered %d, expected %d" % (method, path, status, want))
        worst = max(worst, dt)
    t0 = time.monotonic()
    try:
        status, _ = api_call(sock, "PUT", "/actions", {"action": "poweroff"})
    except (OSError, http.client.HTTPException):
        status = None  # the VMM may exit before the answer is read
    end = vm.wait()
    worst = max(worst, end - t0)
    if vm.p.returncode != 0:
        fail("api: poweroff: exit status %d (answer %s)\nstderr: %s"
             % (vm.p.returncode, status, vm.err[-2000:]))
    if vm.saw("stall: request 9 completed"):
        fail("api: the flush completed: the guest's work was not long enough")
    return worst, check_image(disk, True)


def api_case(work, elf, base, label):
    best = None
    sock = os.path.join(work, "api.sock")
    for attempt in range(ATTEMPTS):
        disk = os.path.join(work, "disk.qcow2")
        shutil.copyfile(base, disk)
        delay, state = api_attempt(elf, disk, sock)
        print("  %-34s attempt %d: %6.1f ms (slowest), image %s"
              % (label, attempt + 1, delay * 1e3, state))
        best = delay if best is None else min(best, delay)
        if best <= BOUND:
            break
    if best > BOUND:
        fail("%s: slowest answer %.1f ms (best of %d), bound %.0f ms"
             % (label, best * 1e3, ATTEMPTS, BOUND * 1e3))


def one_attempt(kind, elf, disk, allow_leaks):
    """Returns the measured delay (s) of one run, after checking its outcome."""
    extra = () if disk else ("--console", "stdio")  # the hammer guest
    if kind == "timeout":
        vm = Vmm(elf, disk, timeout=TIMEOUT, extra=extra)
        # --timeout counts from the machine's creation, which comes before
        # the guest's first line: the exit is due at most TIMEOUT after that
        # line (so process start-up, slow on a loaded host, is not counted).
        seen = vm.read_until("stall: requests in flight", time.monotonic() + 30)
        t0 = time.monotonic() if seen else vm.start
        end = vm.wait()
        delay = end - t0 - TIMEOUT
        want = 124
    else:
        vm = Vmm(elf, disk, tty=(kind == "ctrl-a x"), extra=extra)
        if not vm.read_until("stall: requests in flight", time.monotonic() + 30):
            vm.p.kill()
            vm.wait()
            fail("guest never reported its requests in flight: %s %s" % (vm.stdout(), vm.err[-2000:]))
        time.sleep(1.0)  # let the I/O thread get deep into the work
        t0 = time.monotonic()
        if kind == "SIGTERM":
            vm.p.send_signal(signal.SIGTERM)
        else:
            os.write(vm.master, b"\x01x")
        end = vm.wait()
        delay = end - t0
        want = 130
    status = vm.p.returncode
    if status != want:
        fail("%s: exit status %d, expected %d\nstdout: %s\nstderr: %s"
             % (kind, status, want, vm.stdout(), vm.err[-2000:]))
    if not vm.saw("stall: requests in flight"):
        fail("%s: the guest never got its requests in flight: %s" % (kind, vm.stdout()))
    if vm.saw("stall: request 9 completed"):
        fail("%s: the flush completed: the guest's work was not long enough" % kind)
    if vm.saw("stall: FAIL"):
        fail("%s: guest: %s" % (kind, vm.stdout()))
    if not disk:  # the hammer: the console must really have been flooded
        if vm.total < 4 << 20:
            fail("%s: only %d bytes of console output: the guest did not hammer"
                 % (kind, vm.total))
        return delay, "none (%d MiB of console output)" % (vm.total >> 20)
    state = check_image(disk, allow_leaks)
    return delay, state


def case(work, kind, elf, base, allow_leaks, label):
    best = None
    for attempt in range(ATTEMPTS):
        disk = None
        if base:
            disk = os.path.join(work, "disk.qcow2")
            shutil.copyfile(base, disk)
        delay, state = one_attempt(kind, elf, disk, allow_leaks)
        print("  %-34s attempt %d: %6.1f ms, image %s" % (label, attempt + 1, delay * 1e3, state))
        best = delay if best is None else min(best, delay)
        if best <= BOUND:
            break
    if best > BOUND:
        fail("%s: exit took %.1f ms (best of %d), bound %.0f ms"
             % (label, best * 1e3, ATTEMPTS, BOUND * 1e3))
    return best


def main():
    if not shutil.which(CC):
        print("SKIP: %s not installed" % CC)
        return 77
    for tool in ("qemu-img", "qemu-io"):
        if not shutil.which(tool):
            print("SKIP: %s not installed" % tool)
            return 77
    work = tempfile.mkdtemp(prefix="vessel-respond-")
    try:
        busy = build_guest(work, idle=False)
        idle = build_guest(work, idle=True)
        hammer = build_guest(work, hammer=True)
        empty = os.path.join(work, "empty.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", empty, "4G"],
            "qemu-img create")
        data = os.path.join(work, "data.qcow2")
        shutil.copyfile(empty, data)
        run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 8M", data], "qemu-io write")

        print("bound: %.0f ms%s" % (BOUND * 1e3, " (sanitized build)" if SANITIZED else ""))
        cases = [
            ("timeout", busy, empty, True, "timeout, busy guest, empty image"),
            ("timeout", idle, data, True, "timeout, idle guest, data image"),
            ("SIGTERM", idle, empty, True, "SIGTERM, idle guest, empty image"),
            ("SIGTERM", busy, data, True, "SIGTERM, busy guest, data image"),
            ("ctrl-a x", busy, empty, True, "Ctrl-A x, busy guest, empty image"),
            ("timeout", hammer, None, True, "timeout, guest flooding rng+console"),
            ("SIGTERM", hammer, None, True, "SIGTERM, guest flooding rng+console"),
        ]
        for kind, elf, base, leaks, label in cases:
            case(work, kind, elf, base, leaks, label)
        api_case(work, busy, data, "API requests, busy guest, data image")
        print("PASS: vessel-vmm answered and exited within %.0f ms of every request"
              % (BOUND * 1e3))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
