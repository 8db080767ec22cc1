#!/usr/bin/env python3
"""vm-respond: vessel-vmm answers --timeout, SIGTERM and Ctrl-A x at once,
whatever its guest makes the disk do.

The guest (stall.c) keeps virtio-blk busy for minutes on a qcow2 with
512-byte clusters: write-zeroes of the whole 4 GiB disk, eight 256 MiB
writes and a flush.  Measured from outside:

  timeout  wall time from spawn to exit <= --timeout + BOUND, status 124
  SIGTERM  from kill() to exit <= BOUND, status 130
  Ctrl-A x from writing the escape on the VMM's terminal (a pty) to exit
           <= BOUND, status 130

for a busy guest (polling the used ring: the harts run) and an idle one
(WFI: the run loop sleeps in poll), on an empty image (the I/O thread
stops at a piece boundary and closes the image cleanly: `qemu-img check`
must find nothing) and on one whose first 8 MiB hold data (the write-zeroes
frees them, which makes lib/disk's close slow: the VMM stops waiting for
it, so `qemu-img check` may report leaked clusters, and nothing else).
In every case the flush, queued last, has not completed: the VMM really
was in the middle of the guest's work.

BOUND is the 100 ms the issue asks for in the release build.  Under
ASan+UBSan (VESSEL_SANITIZED=1) process start and exit are slower
(LeakSanitizer scans the heap at exit), so the bound is 1.5 x 100 ms.
Each timing is tried up to 3 times and the best counts: one measurement
on a loaded 2-core machine can be delayed by the host's scheduler; the
image check runs after every attempt.
"""
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.environ["VESSEL_SOURCE_ROOT"], "tests/integration/vm/hostile")
VMM = os.environ["VESSEL_VESSEL_VMM"]
CC = "riscv64-linux-gnu-gcc"
SANITIZED = os.environ.get("VESSEL_SANITIZED") == "1"
BOUND = 0.100 * (1.5 if SANITIZED else 1.0)
ATTEMPTS = 3
TIMEOUT = 2.0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(argv, what):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s failed (%d): %s%s" % (what, r.returncode, r.stdout, r.stderr))


def build_guest(work, idle):
    out = os.path.join(work, "stall-%s.elf" % ("idle" if idle else "busy"))
    argv = [CC, "-nostdlib", "-nostartfiles", "-ffreestanding", "-fno-builtin", "-fno-pic",
            "-no-pie", "-static", "-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany",
            "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,--build-id=none",
            "-Wl,--no-warn-rwx-segments", "-T", os.path.join(SRC, "link.ld"),
            os.path.join(SRC, "start.S"), os.path.join(SRC, "stall.c"), "-o", out]
    if idle:
        argv.append("-DIDLE")
    run(argv, "cross-compiling stall.c")
    return out


def check_image(path, allow_leaks):
    """qemu-img check: 0 = clean; 3 = leaked clusters only (allowed when the
    close was abandoned); anything else is corruption or an error."""
    r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    tail = "\n".join(l for l in r.stdout.splitlines() if not l.startswith("Leaked cluster"))
    if r.returncode == 0:
        return "clean"
    if r.returncode == 3 and allow_leaks and "ERROR" not in r.stdout:
        return "leaks only"
    fail("qemu-img check %s exited %d:\n%s%s" % (path, r.returncode, tail, r.stderr))


class Vmm:
    """vessel-vmm on the stall guest; stdout collected, optionally on a pty."""

    def __init__(self, elf, disk, timeout=None, tty=False):
        argv = [VMM, "--bios", elf, "--disk", disk, "--mem", "64M"]
        if timeout:
            argv += ["--timeout", str(timeout)]
        self.master = None
        self.out = b""
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

    def read_until(self, text, deadline):
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    return text.encode() in self.out
                self.out += chunk
        return True

    def wait(self, limit=60):
        try:
            self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            fail("vessel-vmm did not exit within %d s" % limit)
        end = time.monotonic()
        self.read_until("\0never", time.monotonic() + 0.5)  # drain
        self.err = self.p.stderr.read().decode(errors="replace")
        if self.master is not None:
            os.close(self.master)
        return end

    def stdout(self):
        return self.out.decode(errors="replace")


def one_attempt(kind, elf, disk, allow_leaks):
    """Returns the measured delay (s) of one run, after checking its outcome."""
    if kind == "timeout":
        vm = Vmm(elf, disk, timeout=TIMEOUT)
        end = vm.wait()
        delay = end - vm.start - TIMEOUT
        want = 124
    else:
        vm = Vmm(elf, disk, tty=(kind == "ctrl-a x"))
        if not vm.read_until("stall: requests in flight", time.monotonic() + 30):
            vm.p.kill()
            vm.wait()
            fail("guest never reported its requests in flight: %r %s" % (vm.stdout(), vm.err))
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
             % (kind, status, want, vm.stdout(), vm.err))
    if "stall: requests in flight" not in vm.stdout():
        fail("%s: the guest never got its requests in flight: %r" % (kind, vm.stdout()))
    if "stall: request 9 completed" in vm.stdout():
        fail("%s: the flush completed: the guest's work was not long enough" % kind)
    if "FAIL" in vm.stdout():
        fail("%s: guest: %s" % (kind, vm.stdout()))
    state = check_image(disk, allow_leaks)
    return delay, state


def case(work, kind, elf, base, allow_leaks, label):
    best = None
    for attempt in range(ATTEMPTS):
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
        empty = os.path.join(work, "empty.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", empty, "4G"],
            "qemu-img create")
        data = os.path.join(work, "data.qcow2")
        shutil.copyfile(empty, data)
        run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 8M", data], "qemu-io write")

        print("bound: %.0f ms%s" % (BOUND * 1e3, " (sanitized build)" if SANITIZED else ""))
        cases = [
            ("timeout", busy, empty, False, "timeout, busy guest, empty image"),
            ("timeout", idle, data, True, "timeout, idle guest, data image"),
            ("SIGTERM", idle, empty, False, "SIGTERM, idle guest, empty image"),
            ("SIGTERM", busy, data, True, "SIGTERM, busy guest, data image"),
            ("ctrl-a x", busy, empty, False, "Ctrl-A x, busy guest, empty image"),
        ]
        for kind, elf, base, leaks, label in cases:
            case(work, kind, elf, base, leaks, label)
        print("PASS: vessel-vmm exited within %.0f ms of every request" % (BOUND * 1e3))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
