#!/usr/bin/env python3
"""vm-board-serial: the character backends of vessel-vmm's virt board.

Boots the cached guest kernel + initramfs three times on the real
vessel-vmm and checks, from the host side:
  1. --serial unix:PATH: the VMM listens on PATH; a client connecting there
     sees the boot, runs `uname -m` on the guest's ttyS0 shell, checks that
     the guest's clock (set from the goldfish RTC) is the host's, powers the
     guest off (exit status 0) and PATH is gone afterwards; --serial-log
     FILE holds all of it, including the boot written before the client
     connected;
  2. --console stdio with console=hvcN: the shell on virtio-console
     answers commands typed on stdio (a pty) and /sys says the console is
     that hvc (hvc1 when the kernel's SBI console took hvc0);
  3. on a terminal, Ctrl-A x quits with exit status 130 within seconds and
     the terminal's mode is restored exactly.
SKIPs (77) when the guest images are not built.
"""
import os
import pty
import select
import socket
import subprocess
import sys
import tempfile
import termios
import time

SKIP = 77
BANNER = "vessel-guest: userspace up"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def scale():
    env = os.environ.get("VESSEL_TEST_TIMEOUT_SCALE")
    if env:
        return float(env)
    root = os.environ.get("VESSEL_BUILD_ROOT", "")
    try:
        import json
        with open(os.path.join(root, "meson-info", "intro-buildoptions.json")) as f:
            for opt in json.load(f):
                if opt.get("name") == "b_sanitize" and opt.get("value") not in ("none", ""):
                    return 4.0
    except (OSError, ValueError):
        pass
    return 1.0


def guest_dir():
    d = os.environ.get("VESSEL_GUEST_DIR", "")
    if not d:
        src = os.environ.get("VESSEL_SOURCE_ROOT", ".")
        try:
            d = subprocess.run([os.path.join(src, "guest", "build.sh"), "--print-dir"],
                               capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            d = ""
    for f in ("Image", "initramfs.cpio.gz"):
        if not d or not os.path.isfile(os.path.join(d, f)):
            print("SKIP: guest images not built (VESSEL_GUEST_DIR=%r)" % d)
            sys.exit(SKIP)
    return d


class Stream:
    """Accumulates what a file descriptor produces; waits for strings."""

    def __init__(self, read_fn, fd, log):
        self.read_fn, self.fd, self.log, self.buf = read_fn, fd, log, ""

    def wait(self, text, timeout, proc=None):
        deadline = time.monotonic() + timeout * scale()
        while text not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timed out waiting for %r; last output:\n%s" % (text, self.buf[-1500:]))
            r, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if r:
                try:
                    data = self.read_fn()
                except OSError:
                    data = b""
                if not data:
                    fail("stream closed waiting for %r; last output:\n%s"
                         % (text, self.buf[-1500:]))
                s = data.decode("utf-8", "replace")
                self.buf += s
                self.log.write(s)
                self.log.flush()
            elif proc is not None and proc.poll() is not None:
                fail("vessel-vmm exited (%d) waiting for %r:\n%s"
                     % (proc.returncode, text, self.buf[-1500:]))
        return self.buf


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout=timeout * scale())
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        fail("vessel-vmm still running %d s later" % timeout)


def base_argv(vmm, gdir, append):
    return [vmm, "--kernel", os.path.join(gdir, "Image"),
            "--initrd", os.path.join(gdir, "initramfs.cpio.gz"),
            "--append", append, "--mem", "128M", "--timeout", str(int(240 * scale()))]


def test_unix_socket(vmm, gdir, work, log):
    path = os.path.join(work, "serial.sock")
    serial_log = os.path.join(work, "serial.log")
    proc = subprocess.Popen(base_argv(vmm, gdir, "console=ttyS0") +
                            ["--serial", "unix:" + path, "--serial-log", serial_log],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10 * scale()
        while not os.path.exists(path):
            if time.monotonic() > deadline or proc.poll() is not None:
                fail("vessel-vmm did not create %s" % path)
            time.sleep(0.01)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        st = Stream(lambda: s.recv(65536), s.fileno(), log)
        st.wait(BANNER, 120, proc)
        s.sendall(b"\nuname -m; echo SOCK-$((6*7))\n")
        out = st.wait("SOCK-42", 30, proc)
        if "riscv64" not in out.split(BANNER, 1)[1]:
            fail("uname -m over the unix socket did not say riscv64")
        # the log has everything: the kernel's first lines (written before
        # we connected, if we were late) and the command's output
        # (the VMM writes the socket first, then the file: poll a little)
        deadline = time.monotonic() + 30 * scale()
        while True:
            with open(serial_log, "rb") as f:
                logged = f.read().decode("utf-8", "replace")
            if "Linux version" in logged and "SOCK-42" in logged:
                break
            if time.monotonic() > deadline:
                fail("--serial-log %s lacks the boot or the command's output" % serial_log)
            time.sleep(0.05)
        # The guest's clock came from the goldfish RTC at boot.
        s.sendall(b"echo CLOCK-$(date +%s)-EN''D\n")  # the echoed line never matches
        out = st.wait("-END", 30, proc)
        import re
        m = re.findall(r"CLOCK-(\d+)-END", out)
        if not m or abs(int(m[-1]) - time.time()) > 30 * scale():
            fail("guest clock %s is not the host's %d (goldfish RTC)"
                 % (m[-1] if m else "?", time.time()))
        s.sendall(b"poweroff -f\n")
        rc = wait_exit(proc, 60)
        s.close()
        if rc != 0:
            fail("poweroff over the unix socket: exit status %d, expected 0" % rc)
        if os.path.exists(path):
            fail("%s left behind after exit" % path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("ok   --serial unix:PATH: boot, shell, RTC time, poweroff (status 0), socket removed, "
          "--serial-log")


def start_on_pty(argv, log, raw):
    master, slave = pty.openpty()
    if raw:
        import tty
        tty.setraw(slave)
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True)
    return proc, master, slave


def virtio_hvc_name(gdir):
    """hvc0, or hvc1 when the kernel's SBI console (CONFIG_HVC_RISCV_SBI)
    registers first and takes hvc0 (QEMU's virtconsole behaves the same)."""
    try:
        with open(os.path.join(gdir, "kernel.config")) as f:
            if "CONFIG_HVC_RISCV_SBI=y" in f.read():
                return "hvc1"
    except OSError:
        pass
    return "hvc0"


def test_hvc_console(vmm, gdir, work, log):
    hvc = virtio_hvc_name(gdir)
    proc, master, slave = start_on_pty(base_argv(vmm, gdir, "console=" + hvc) +
                                       ["--console", "stdio"], log, raw=True)
    try:
        st = Stream(lambda: os.read(master, 65536), master, log)
        st.wait(BANNER, 120, proc)
        os.write(master, b"\ncat /sys/class/tty/console/active; echo HVC-$((6*7))\n")
        out = st.wait("HVC-42", 30, proc)
        if hvc not in out.split(BANNER, 1)[1]:
            fail("the active console is not %s:\n%s" % (hvc, out[-500:]))
        os.write(master, b"poweroff -f\n")
        rc = wait_exit(proc, 60)
        if rc != 0:
            fail("poweroff on hvc0: exit status %d, expected 0" % rc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
    print("ok   --console stdio: shell on %s (virtio-console), poweroff (status 0)" % hvc)


def test_escape(vmm, gdir, work, log):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(base_argv(vmm, gdir, "console=ttyS0"), stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True,
                            close_fds=True)
    try:
        st = Stream(lambda: os.read(master, 65536), master, log)
        st.wait(BANNER, 120, proc)
        during = termios.tcgetattr(slave)
        if during[3] & termios.ICANON or during[3] & termios.ECHO:
            fail("the terminal is not in raw mode while the guest runs")
        os.write(master, b"\x01x")
        rc = wait_exit(proc, 10)
        if rc != 130:
            fail("Ctrl-A x: exit status %d, expected 130" % rc)
        after = termios.tcgetattr(slave)
        if after != before:
            fail("terminal mode not restored:\nbefore %r\nafter  %r" % (before, after))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
    print("ok   Ctrl-A x: status 130, terminal mode restored")


def main():
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    if not vmm or not os.access(vmm, os.X_OK):
        print("SKIP: vessel-vmm not built")
        return SKIP
    gdir = guest_dir()
    with tempfile.TemporaryDirectory() as work:
        log_path = os.path.join(work, "console.log")
        with open(log_path, "w") as log:
            try:
                test_unix_socket(vmm, gdir, work, log)
                test_hvc_console(vmm, gdir, work, log)
                test_escape(vmm, gdir, work, log)
            except SystemExit:
                log.flush()
                with open(log_path, errors="replace") as f:
                    sys.stdout.write("---- transcript (tail) ----\n" + f.read()[-3000:])
                raise
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
