"""vmconsole.py - drive a RISC-V Linux guest through its serial console.

Shared by the vm-boot integration tests and bench/boot.  It starts a VMM
(vessel-vmm or qemu-system-riscv64 -M virt, chosen by VESSEL_TEST_VMM) on a
pseudo-terminal, waits for the guest init's banner, runs shell commands on
the console and collects their output and exit status, and reaps the VMM
with its exit status.  Standard library only (pty, select, subprocess).

Both VMMs get the same machine: OpenSBI fw_dynamic, the cached guest Image
and initramfs (guest/build.sh), N harts, M bytes of RAM, a virtio-rng
device (always present in vessel-vmm), virtio-blk disks and a virtio-net
device on a TAP interface.

Command protocol: each command is sent as
    echo "__VS""_B<n>"; CMD; echo "__VS""_E<n>:$?"
so the markers only appear assembled in the output, never in the echo of
the typed line; the output is what lies between them.

Invariants: a Console never outlives its test (close() kills the VMM and
its process group); every wait has a deadline; the full console transcript
is kept in a log file for the test's error log.
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import tty

SKIP = 77
BANNER = r"vessel-guest: userspace up: [^\r\n]*"
# The VMM the tests drive unless VESSEL_TEST_VMM says otherwise.
DEFAULT_VMM = "vessel"
OPENSBI_FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


class TestFailure(Exception):
    """A check failed: the message says what was expected and seen."""


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


def fail(msg):
    raise TestFailure(msg)


def timeout_scale():
    """Deadlines are multiplied by this: 4 under a sanitizer build."""
    env = os.environ.get("VESSEL_TEST_TIMEOUT_SCALE")
    if env:
        return float(env)
    root = os.environ.get("VESSEL_BUILD_ROOT")
    if root:
        try:
            with open(os.path.join(root, "meson-info",
                                   "intro-buildoptions.json")) as f:
                for opt in json.load(f):
                    if opt.get("name") == "b_sanitize":
                        if opt.get("value") not in ("none", [], ""):
                            return 4.0
        except (OSError, ValueError):
            pass
    return 1.0


def guest_dir():
    """The guest image directory, or SKIP when it is not built."""
    d = os.environ.get("VESSEL_GUEST_DIR", "")
    if not d:
        src = os.environ.get("VESSEL_SOURCE_ROOT",
                             os.path.join(os.path.dirname(__file__),
                                          "../../../.."))
        build = os.path.join(src, "guest", "build.sh")
        try:
            d = subprocess.run([build, "--print-dir"], capture_output=True,
                               text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            d = ""
    for f in ("Image", "initramfs.cpio.gz", "disk.qcow2"):
        if not d or not os.path.isfile(os.path.join(d, f)):
            skip("guest images not built (run guest/build.sh); "
                 "VESSEL_GUEST_DIR=%r" % d)
    return d


def vmm_kind():
    """--vmm=KIND on the test's command line, else $VESSEL_TEST_VMM, else
    DEFAULT_VMM."""
    for arg in sys.argv[1:]:
        if arg.startswith("--vmm="):
            kind = arg[len("--vmm="):]
            break
    else:
        kind = os.environ.get("VESSEL_TEST_VMM") or DEFAULT_VMM
    if kind not in ("qemu", "vessel"):
        fail("VESSEL_TEST_VMM must be 'qemu' or 'vessel', not %r" % kind)
    return kind


def vmm_program(kind):
    """Path of the VMM binary, or SKIP when it is not available."""
    if kind == "vessel":
        path = os.environ.get("VESSEL_VESSEL_VMM", "")
        if not path or not os.access(path, os.X_OK):
            skip("vessel-vmm not built (VESSEL_VESSEL_VMM=%r)" % path)
        return path
    path = shutil.which("qemu-system-riscv64")
    if not path:
        skip("qemu-system-riscv64 not installed")
    return path


class Machine:
    """What to boot; turned into either VMM's command line by argv()."""

    def __init__(self, gdir, cpus=1, mem="256M", append="", disks=(),
                 tap=None, mac="52:54:00:12:34:56", timeout=300,
                 console="ttyS0", agent=None, qemu_mttcg=False):
        self.qemu_mttcg = qemu_mttcg  # QEMU peer: one thread per hart
        self.kernel = os.path.join(gdir, "Image")
        self.initrd = os.path.join(gdir, "initramfs.cpio.gz")
        self.cpus = cpus
        self.mem = mem
        # ttyS0: the ns16550a UART; hvc0: virtio-console (both on stdio)
        if console not in ("ttyS0", "hvc0"):
            fail("console must be ttyS0 or hvc0, not %r" % console)
        self.console = console
        self.append = ("console=%s %s" % (console, append)).strip()
        self.disks = list(disks)  # (path, format, readonly)
        self.tap = tap
        self.mac = mac
        # unix socket of the guest agent's virtio-console port (None: none)
        self.agent = agent
        # the VMM's own deadline (vessel-vmm --timeout), scaled like ours
        self.timeout = int(timeout * timeout_scale())

    def argv(self, kind, program):
        if kind == "vessel":
            a = [program, "--kernel", self.kernel, "--initrd", self.initrd,
                 "--append", self.append, "--mem", self.mem,
                 "--cpus", str(self.cpus), "--serial", "stdio",
                 "--timeout", str(self.timeout)]
            if self.console == "hvc0":
                a += ["--console", "stdio"]
            for path, fmt, ro in self.disks:
                spec = "%s,format=%s" % (path, fmt)
                if ro:
                    spec += ",readonly=on"
                a += ["--disk", spec]
            if self.tap:
                a += ["--net", "tap=%s,mac=%s" % (self.tap, self.mac)]
            # e.g. --sandbox (the vm-boot-sandbox-* tests)
            a += os.environ.get("VESSEL_VMM_EXTRA_ARGS", "").split()
            if self.agent:
                a += ["--agent", self.agent]
            return a
        a = [program, "-M", "virt", "-bios", OPENSBI_FW,
             "-kernel", self.kernel, "-initrd", self.initrd,
             "-append", self.append, "-no-reboot",
             "-m", self.mem, "-smp", str(self.cpus),
             "-device", "virtio-rng-device"]
        if self.cpus > 1 and not self.qemu_mttcg:
            # One TCG thread for every hart: with MTTCG a secondary hart's
            # host thread, starved on a loaded 2-core host, can miss Linux's
            # 1 s bring-up wait ("CPU1: failed to come online").  The peer
            # runs here to validate images and scripts, not QEMU's threading.
            a += ["-accel", "tcg,thread=single"]
        if self.console == "hvc0":
            a += ["-display", "none", "-monitor", "none", "-serial", "null",
                  "-chardev", "stdio,id=hvc,signal=off",
                  "-device", "virtio-serial-device",
                  "-device", "virtconsole,chardev=hvc"]
        else:
            a += ["-nographic"]
        if self.agent:
            # a virtconsole port of its own (hvc0 or hvc1 in the guest)
            if self.console != "hvc0":
                a += ["-device", "virtio-serial-device"]
            a += ["-chardev", "socket,id=agent,path=%s,server=on,wait=off"
                  % self.agent,
                  "-device", "virtconsole,chardev=agent"]
        for i, (path, fmt, ro) in enumerate(self.disks):
            # discard=unmap: pass guest discards to the image as vessel-vmm does
            drive = "if=none,id=d%d,file=%s,format=%s,discard=unmap" % (i, path, fmt)
            if ro:
                drive += ",readonly=on"
            a += ["-drive", drive,
                  "-device", "virtio-blk-device,drive=d%d" % i]
        if self.tap:
            a += ["-netdev",
                  "tap,id=n0,ifname=%s,script=no,downscript=no" % self.tap,
                  "-device", "virtio-net-device,netdev=n0,mac=%s" % self.mac]
        return a


class Console:
    """A running VMM whose serial console is a pty we hold the master of."""

    def __init__(self, argv, log_path, scale=None, echo=None):
        self.scale = timeout_scale() if scale is None else scale
        self.echo = echo  # a text file that also gets the console output
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.log_path = log_path
        self.argv = list(argv)
        self.log.write("# argv: %s\n" % " ".join(argv))
        self.log.flush()
        self.buf = ""
        self.pos = 0
        self.seq = 0
        self.status = None
        self.t0 = time.monotonic()
        master, slave = pty.openpty()
        # raw: no newline translation or echo by the pty itself; the
        # transcript is exactly what the guest UART sent
        tty.setraw(slave)
        self.fd = master
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave,
                                     stderr=slave, start_new_session=True,
                                     close_fds=True)
        os.close(slave)

    # -- low level ---------------------------------------------------------
    def _read(self, wait):
        """Read what is available within `wait` seconds; False on EOF."""
        r, _, _ = select.select([self.fd], [], [], max(wait, 0))
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: every slave fd closed (VMM exited)
            data = b""
        if not data:
            return False
        text = data.decode("utf-8", errors="replace")
        self.buf += text
        self.log.write(text)
        self.log.flush()
        if self.echo:
            self.echo.write(text)
            self.echo.flush()
        return True

    def send(self, text):
        data = text.encode()
        while data:
            _, w, _ = select.select([], [self.fd], [], 5)
            if not w:
                fail("console input blocked for 5 s")
            n = os.write(self.fd, data)
            data = data[n:]

    def expect(self, pattern, timeout, what=None):
        """Wait for regex `pattern` after the current position."""
        deadline = time.monotonic() + timeout * self.scale
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timeout (%.0f s) waiting for %s; console tail:\n%s" %
                     (timeout * self.scale, what or repr(pattern),
                      self.buf[-1500:]))
            if not self._read(min(left, 1.0)):
                # EOF: the VMM closed the console, i.e. it exited
                m = rx.search(self.buf, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                fail("VMM exited (status %s) while waiting for %s; "
                     "console tail:\n%s" %
                     (self.proc.wait(), what or repr(pattern),
                      self.buf[-1500:]))

    def check_sandboxed(self):
        """vessel-vmm --sandbox: confined, as /proc shows from outside."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            status = f.read()
        for want in ("NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000"):
            if want not in status:
                fail("vessel-vmm --sandbox is not confined: no %r in its status" % want)

    # -- guest level -------------------------------------------------------
    def wait_banner(self, timeout=120):
        """Wait for /init's banner; returns seconds since start."""
        self.expect(BANNER, timeout, "the guest banner")
        t = time.monotonic() - self.t0
        if "--sandbox" in self.argv:
            self.check_sandboxed()
        # a prompt follows the banner; quiet the kernel so printk does not
        # interleave with command output
        self.run("dmesg -n 1", timeout=60)
        return t

    def run(self, cmd, timeout=60, check=True):
        """Run `cmd` in the guest shell; returns (status, output)."""
        self.seq += 1
        n = self.seq
        self.send('echo "__VS""_B%d"; %s; echo "__VS""_E%d:$?"\n' %
                  (n, cmd, n))
        self.expect(r"__VS_B%d\r*\n" % n, timeout, "start of `%s`" % cmd)
        start = self.pos
        m = self.expect(r"__VS_E%d:(\d+)" % n, timeout, "end of `%s`" % cmd)
        out = self.buf[start:m.start()].replace("\r", "")
        status = int(m.group(1))
        if check and status != 0:
            fail("guest command `%s` failed with status %d:\n%s" %
                 (cmd, status, out))
        return status, out

    def poweroff(self, timeout=60):
        """`poweroff -f` in the guest; returns the VMM's exit status."""
        self.send("poweroff -f\n")
        return self.wait_exit(timeout)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout * self.scale
        while self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("VMM still running %.0f s after poweroff; tail:\n%s" %
                     (timeout * self.scale, self.buf[-1500:]))
            self._read(min(left, 0.5))
        while self._read(0.1):  # drain what is left
            if not select.select([self.fd], [], [], 0)[0]:
                break
        self.status = self.proc.returncode
        return self.status

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start(machine, log_path, kind=None, echo=None):
    kind = kind or vmm_kind()
    program = vmm_program(kind)
    return Console(machine.argv(kind, program), log_path, echo=echo)


def main(test):
    """Run test(workdir) with a scratch dir; map failures to exit codes."""
    import tempfile
    work = tempfile.mkdtemp(prefix="vessel-guest-test-")
    try:
        test(work)
    except TestFailure as e:
        print("FAIL: %s" % e)
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print("--- %s (tail) ---" % name)
                with open(os.path.join(work, name), errors="replace") as f:
                    print(f.read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("PASS")
    sys.exit(0)
