#!/usr/bin/env python3
"""vm-boot-gdb: debug the recipe kernel through the VMM's GDB stub.

A 2-hart guest boots to its shell with the stub on a unix socket
(vessel-vmm --gdb unix:PATH; QEMU: -gdb on a socket chardev, which checks
this script against the peer).  The recipe kernel has no symbols (no
vmlinux, no kallsyms are kept), so the test takes its addresses from the
machine itself:
  1. (vessel only: QEMU 7.2 stops with T05 and stays paused after D) a raw
     protocol client attaches (the machine halts), continues with vCont;c,
     interrupts with Ctrl-C (0x03: a T02 stop reply) and detaches (D: the
     guest runs on and still answers on its console);
  2. gdb-multiarch in batch mode attaches: one thread per hart, S-mode
     (priv 1) with Sv39 paging, breaks on the kernel's trap entry
     (handle_exception, the address in stvec), continues until a hart hits
     it (Sv39/48/57: the kernel takes the largest mode the machine has),
     steps one instruction (that hart only), reads registers (pc, scause,
     sp; pc and sp of each thread: two different sp) and a
     kernel variable through the page tables: the "Linux version" banner,
     at KERNEL_LINK_ADDR + its offset in the Image file;
  3. gdb deletes the breakpoint and continues; the guest powers off and gdb
     sees the exit.
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

KERNEL_LINK_ADDR = 0xffffffff80000000  # arch/riscv: the kernel's VA of Image offset 0


def packet(data):
    return b"$" + data + b"#%02x" % (sum(data) & 0xff)


class Reader:
    """Packets from the stub, in order (several may come in one recv)."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def reply(self, deadline):
        """The next packet's data (acknowledged); acks are skipped."""
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-fA-F]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                try:
                    self.s.sendall(b"+")
                except OSError:  # the stub may close right after D's reply
                    pass
                return m.group(1)
            left = deadline - time.monotonic()
            if left <= 0:
                vc.fail("gdb stub: no reply (got %r)" % self.buf)
            self.s.settimeout(left)
            chunk = self.s.recv(4096)
            if not chunk:
                vc.fail("gdb stub closed the connection (got %r)" % self.buf)
            self.buf += chunk


def raw_client(sock_path, scale):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    rd = Reader(s)
    try:
        deadline = time.monotonic() + 30 * scale
        s.sendall(packet(b"?"))
        r = rd.reply(deadline)
        if not r.startswith(b"T") and not r.startswith(b"S"):
            vc.fail("'?' reply %r" % r)
        s.sendall(packet(b"vCont;c"))
        time.sleep(0.3)  # let the guest run a little (no condition to wait for)
        s.sendall(b"\x03")
        r = rd.reply(time.monotonic() + 30 * scale)
        want = (b"T02", b"S02")
        if not r.startswith(want):
            vc.fail("Ctrl-C stop reply %r, expected %r" % (r, want))
        s.sendall(packet(b"D"))
        r = rd.reply(time.monotonic() + 30 * scale)
        if r != b"OK":
            vc.fail("detach reply %r" % r)
    finally:
        s.close()


def sp_differ(text):
    a = re.search(r"\$9 = (0x[0-9a-f]+)", text)
    b = re.search(r"\$11 = (0x[0-9a-f]+)", text)
    return a and b and a.group(1) != b.group(1)


def test(work):
    gdb = vc.shutil.which("gdb-multiarch")
    if not gdb:
        vc.skip("gdb-multiarch not installed")
    gdir = vc.guest_dir()
    kind = vc.vmm_kind()
    with open(os.path.join(gdir, "Image"), "rb") as f:
        image = f.read()
    off = image.find(b"Linux version ")
    if off < 0:
        vc.fail("no 'Linux version' banner in the Image")
    banner_va = KERNEL_LINK_ADDR + off

    sock = os.path.join(work, "gdb.sock")
    # QEMU's stub reports the exit at the end only with MTTCG
    m = vc.Machine(gdir, cpus=2, mem="256M", qemu_mttcg=True)
    argv = m.argv(kind, vc.vmm_program(kind))
    if kind == "vessel":
        argv += ["--gdb", "unix:" + sock]
    else:
        argv += ["-chardev", "socket,path=%s,server=on,wait=off,id=gdb0" % sock,
                 "-gdb", "chardev:gdb0"]
    con = vc.Console(argv, os.path.join(work, "console.log"))
    with con:
        con.wait_banner()
        if kind == "vessel":  # QEMU 7.2 answers Ctrl-C and D differently
            raw_client(sock, con.scale)
        _, out = con.run("echo still-running")
        if "still-running" not in out:
            vc.fail("guest shell did not answer after the detach: %r" % out)

        cmds = os.path.join(work, "gdb.cmds")
        with open(cmds, "w") as f:
            f.write("\n".join([
                "set pagination off", "set confirm off",
                "set architecture riscv:rv64",
                "target remote " + sock,
                "info threads",
                "print $priv",
                "print/x (unsigned long)$satp >> 60",
                "print/x $stvec",
                "break *$stvec",
                "continue",
                "print $pc == $stvec",
                "print/x $scause",
                # only the stopped hart steps (with hart threads another
                # hart may have hit the breakpoint meanwhile)
                "set scheduler-locking step",
                "stepi",
                "print/d (long)$pc - (long)$stvec",
                "print/x $sp",
                # the registers of each thread (hart)
                "thread 1", "print/x $pc", "print/x $sp",
                "thread 2", "print/x $pc", "print/x $sp",
                "x/s 0x%x" % banner_va,
                "delete",
                "echo READY-TO-EXIT\\n",
                "continue",
            ]) + "\n")
        gdb_log = os.path.join(work, "gdb.log")
        with open(gdb_log, "w") as log:
            proc = subprocess.Popen([gdb, "-nx", "-batch", "-x", cmds],
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120 * con.scale
            while True:
                with open(gdb_log, errors="replace") as f:
                    text = f.read()
                if "READY-TO-EXIT" in text:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    vc.fail("gdb did not get to the end (status %s):\n%s" %
                            (proc.poll(), text[-3000:]))
                con._read(0.2)  # keep the console drained
            status = con.poweroff()
            proc.wait(timeout=60 * con.scale)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with open(gdb_log, errors="replace") as f:
            text = f.read()
        print(text)
        threads = re.findall(r"^\*?\s+\d+\s+Thread ", text, re.M)
        checks = [
            (len(threads) == 2, "two threads (one per hart)"),
            ("$1 = 1" in text, "the hart in S-mode ($priv = 1)"),
            (re.search(r"\$2 = 0x[89a]\b", text), "paging on (satp mode Sv39/48/57)"),
            (re.search(r"\$3 = 0xffffffff8[0-9a-f]{7}", text), "stvec in the kernel"),
            (re.search(r"hit Breakpoint 1, 0xffffffff8", text), "breakpoint hit"),
            ("$4 = 1" in text, "stopped at the breakpoint address"),
            (re.search(r"\$5 = 0x", text), "scause read"),
            (re.search(r"\$6 = [24]\b", text), "stepi moved one instruction"),
            (re.search(r"\$7 = 0xffffffff", text) or re.search(r"\$7 = 0x", text), "sp read"),
            (re.search(r"\$8 = 0x[0-9a-f]+\n\$9 = 0x[0-9a-f]+\n", text) and
             re.search(r"\$10 = 0x[0-9a-f]+\n\$11 = 0x[0-9a-f]+\n", text),
             "registers of both threads read"),
            (sp_differ(text), "the two harts have their own sp"),
            (re.search(r'"Linux version 6\.1', text), "kernel banner read at its VA"),
            ("exited normally" in text or
             (kind == "qemu" and "Remote connection closed" in text),
             "gdb saw the machine end (W00; QEMU 7.2 just closes)"),
        ]
        for ok, what in checks:
            if not ok:
                vc.fail("gdb: %s; transcript:\n%s" % (what, text[-4000:]))
        if status != 0:
            vc.fail("VMM exit status %s after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
