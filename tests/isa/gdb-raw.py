#!/usr/bin/env python3
"""gdb-raw.py ELF: the GDB stub of vessel-vmm under bad and odd input.

Runs the bare-metal gdb_target program with `--gdb tcp:PORT --gdb-wait`
(127.0.0.1) and speaks the remote protocol directly:
  - a packet with a bad checksum is refused with '-', then a good one works;
  - malformed packets (missing fields, bad hex, unknown registers, huge
    lengths, unknown commands) get an error or the empty reply, never a
    crash, and the stub keeps answering;
  - the register and memory round trips: P/p of a0, M/m and X (binary, with
    escaped bytes) on a guest variable, a CSR through p;
  - a second connection is refused while one is open;
  - single steps (s, vCont;s:1) advance the pc; a watchpoint with length 0
    is refused;
  - k ends the VM (exit status 130);
  - (a second VM) a packet larger than the stub's buffer closes the
    connection, and the guest runs on to its end.
Exit 77 when the ELF or vessel-vmm is missing.
"""
import os
import re
import socket
import subprocess
import sys
import time

elf = sys.argv[1] if len(sys.argv) > 1 else ""
root = os.environ.get("VESSEL_BUILD_ROOT", ".")
vmm = os.environ.get("VESSEL_VESSEL_VMM", os.path.join(root, "cmd/vessel-vmm/vessel-vmm"))
if not os.path.isfile(elf) or os.path.getsize(elf) == 0:
    print("SKIP: no ELF (riscv64-linux-gnu-gcc missing?)")
    sys.exit(77)
if not os.access(vmm, os.X_OK):
    print("SKIP: no vessel-vmm")
    sys.exit(77)

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def packet(data):
    return b"$" + data + b"#%02x" % (sum(data) & 0xff)


class Conn:
    def __init__(self, port):
        deadline = time.monotonic() + 60
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""

    def recv_more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply; have %r" % self.buf)
        self.s.settimeout(left)
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed; have %r" % self.buf)
        self.buf += chunk

    def reply(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\$([^#]*)#([0-9a-f]{2})", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                self.s.sendall(b"+")
                return m.group(1)
            self.recv_more(deadline)

    def ack(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.buf:
            self.recv_more(deadline)
        c, self.buf = self.buf[:1], self.buf[1:]
        return c

    def cmd(self, data):
        self.s.sendall(packet(data))
        a = self.ack()
        if a != b"+":
            raise RuntimeError("no ack for %r: %r" % (data, a))
        return self.reply()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(port):
    return subprocess.Popen([vmm, "--bios", elf, "--cpus", "2", "--timeout", "120",
                             "--gdb", "tcp:%d" % port, "--gdb-wait"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


port = free_port()
proc = start(port)
try:
    c = Conn(port)
    # bad checksum: '-', then the stub goes on
    c.s.sendall(b"$?#00")
    check(c.ack() == b"-", "bad checksum refused with '-'")
    check(c.cmd(b"?").startswith(b"T05thread:1;"), "'?' after gdb-wait: T05 on thread 1")
    for bad in [b"m", b"m80000000", b"mzz,4", b"M80000000,4:zz", b"X80000000,4:ab",
                b"p", b"p99999", b"pffffffffffffffffff", b"P0", b"P1=zz",
                b"P1=" + b"00" * 9, b"Z9,0,0", b"Z2,80000000,0", b"Z0", b"z0,1234,4",
                b"G00", b"Hgzz", b"Hg99", b"T9", b"qXfer:features:read:target.xml:zz",
                b"qThreadExtraInfo,9", b"vCont;x", b"m0,4", b"mffffffffffffffff,10"]:
        r = c.cmd(bad)
        check(r == b"" or re.fullmatch(rb"E[0-9a-f]{2}", r) is not None,
              "malformed %r -> %r" % (bad, r))
    check(c.cmd(b"vFoo") == b"", "unknown packet: empty reply")
    check(c.cmd(b"m80000000,1000000")[:8] != b"", "huge m length is clipped")
    # registers
    check(c.cmd(b"P0a=efbeadde00000000") == b"OK", "P a0")
    check(c.cmd(b"p0a") == b"efbeadde00000000", "p a0 reads it back")
    check(c.cmd(b"p0") == b"0000000000000000", "x0 reads 0")
    misa = c.cmd(b"p%x" % (65 + 0x301))
    check(len(misa) == 16 and misa.endswith(b"00000080"), "p misa (RV64): %r" % misa)
    check(len(c.cmd(b"g")) == 33 * 16, "g: 33 registers")
    # memory: M/m and X with bytes that need escaping
    nm = subprocess.run(["riscv64-linux-gnu-nm", elf], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) B gdb_poke$", nm, re.M)
    if m:
        addr = int(m.group(1), 16)
        check(c.cmd(b"M%x,8:0102030405060708" % addr) == b"OK", "M gdb_poke")
        check(c.cmd(b"m%x,8" % addr) == b"0102030405060708", "m reads it back")
        raw = bytes([0x23, 0x24, 0x7d, 0x2a, 0, 1, 0xff, 0x10])
        esc = b"".join(bytes([0x7d, b ^ 0x20]) if b in (0x23, 0x24, 0x7d, 0x2a) else bytes([b])
                       for b in raw)
        check(c.cmd(b"X%x,8:" % addr + esc) == b"OK", "X with escaped bytes")
        check(c.cmd(b"m%x,8" % addr) == raw.hex().encode(), "m reads the binary write back")
        c.cmd(b"M%x,8:0000000000000000" % addr)
    else:
        check(False, "gdb_poke symbol (nm)")
    # steps
    pc0 = int.from_bytes(bytes.fromhex(c.cmd(b"p20").decode()), "little")
    c.s.sendall(packet(b"s"))
    c.ack()
    r = c.reply()
    pc1 = int.from_bytes(bytes.fromhex(c.cmd(b"p20").decode()), "little")
    check(r.startswith(b"T05thread:1;") and pc1 in (pc0 + 2, pc0 + 4),
          "s: one instruction (%x -> %x, %r)" % (pc0, pc1, r))
    c.s.sendall(packet(b"vCont;s:2"))
    c.ack()
    r = c.reply()
    check(r.startswith(b"T05thread:2;"), "vCont;s:2 steps hart 1: %r" % r)
    # one debugger at a time: a second connection is closed at once
    c2 = Conn(port)
    try:
        c2.recv_more(time.monotonic() + 30)
        second_closed = False
    except (EOFError, ConnectionError):
        second_closed = True
    check(second_closed, "a second connection is refused")
    c2.s.close()
    check(c.cmd(b"?").startswith(b"T05"), "the first connection still works")
    c.s.sendall(packet(b"k"))
    rc = proc.wait(timeout=60)
    check(rc == 130, "k ends the VM (exit %d)" % rc)
    print(proc.stdout.read().decode(errors="replace"))

    # a packet larger than the buffer closes the connection, which lets the
    # guest run on: the program ends (its poke check fails: exit 2)
    port = free_port()
    proc = start(port)
    c = Conn(port)
    try:
        c.s.sendall(b"$" + b"a" * 70000)
        closed = False
        deadline = time.monotonic() + 30
        while True:
            c.recv_more(deadline)
    except (EOFError, ConnectionError):
        closed = True
    except (TimeoutError, OSError):
        closed = False
    check(closed, "an oversized packet closes the connection")
    rc = proc.wait(timeout=60)
    check(rc == 2, "the guest ran on after the connection closed (exit %d)" % rc)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    print(proc.stdout.read().decode(errors="replace"))
if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("PASS")
