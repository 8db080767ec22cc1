#!/usr/bin/env python3
"""The hostile-guest campaign: campaign.c, once per seed, against vessel-vmm.

    campaign.py [--seeds 1,2,3 | --start S --count N] [--timeout SECONDS] [--sandbox]

Each run boots the campaign guest with every kind of device: a qcow2 disk
(cluster size 512 B, 4 KiB or 64 KiB, chosen by the seed, 1 MiB of data), a
raw disk, virtio-net on a TAP device inside a private network namespace (a
broadcast ping from the namespace feeds the guest's receive queue),
virtio-console on stdio (stdin carries random bytes) and virtio-rng.  The
guest drives every device window and every queue with random and malformed
accesses for 3 s of guest time, then checks that every device still works
and powers off.

A run passes when vessel-vmm exits 0 (the guest's final checks passed and
it powered off) within --timeout (a hang fails), stderr shows no sanitizer
report, the console line arrived, and `qemu-img check` finds the qcow2 disk
clean (or, when the VMM says it stopped waiting for a disk thread still busy
at exit, leaked clusters and nothing worse, as after a crash).  A failing seed is printed with the command line that reproduces it
and its files are kept.  Without root, /dev/net/tun or iproute2 the runs
have no network device (said so on stdout).  With --sandbox the VMM runs
`--sandbox` (every device must work confined; sanitizer builds then run
without LeakSanitizer, whose exit scan the sandbox forbids).  Exit status:
0 all passed, 1 a seed failed, 77 no cross compiler.
"""
import argparse
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

SRC = os.path.join(os.environ["VESSEL_SOURCE_ROOT"], "tests/integration/vm/hostile")
VMM = os.environ["VESSEL_VESSEL_VMM"]
CC = "riscv64-linux-gnu-gcc"
MAGIC = struct.pack("<Q", 0x5EEDC0DE5EEDC0DE)
NET_HOST = "192.168.79.1"


def sh(argv, what, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (what, r.returncode, r.stdout, r.stderr))
    return r


def build_guest(work):
    elf = os.path.join(work, "campaign.elf")
    sh([CC, "-nostdlib", "-nostartfiles", "-ffreestanding", "-fno-builtin", "-fno-pic",
        "-no-pie", "-static", "-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany", "-O2",
        "-Wall", "-Wextra", "-Werror", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
        "-T", os.path.join(SRC, "link.ld"), os.path.join(SRC, "start.S"),
        os.path.join(SRC, "campaign.c"), "-o", elf], "cross-compiling campaign.c")
    with open(elf, "rb") as f:
        image = f.read()
    if image.count(MAGIC) != 1:
        raise RuntimeError("campaign.elf: seed slot not found exactly once")
    return image


def with_seed(image, seed, path):
    at = image.index(MAGIC) + 8
    with open(path, "wb") as f:
        f.write(image[:at] + struct.pack("<Q", seed) + image[at + 8:])


class Netns:
    """A private network namespace with a TAP device and a pinger."""

    def __init__(self):
        self.name = None
        self.tap = "vfz0"
        self.pinger = None
        why = None
        if os.geteuid() != 0:
            why = "not root"
        elif not os.path.exists("/dev/net/tun"):
            why = "no /dev/net/tun"
        elif not shutil.which("ip"):
            why = "no ip (iproute2)"
        if why:
            print("campaign: no virtio-net device (%s)" % why)
            return
        name = "vessel-fuzz-%d" % os.getpid()
        sh(["ip", "netns", "add", name], "ip netns add")
        self.name = name
        sh(["ip", "-n", name, "link", "set", "lo", "up"], "ip link")
        sh(["ip", "-n", name, "tuntap", "add", "dev", self.tap, "mode", "tap"], "ip tuntap")
        sh(["ip", "-n", name, "addr", "add", NET_HOST + "/24", "dev", self.tap], "ip addr")
        sh(["ip", "-n", name, "link", "set", self.tap, "up"], "ip link up")

    def start_pinger(self):
        if self.name and shutil.which("ping") and not self.pinger:
            self.pinger = subprocess.Popen(
                ["ip", "netns", "exec", self.name, "ping", "-b", "-q", "-i", "0.02",
                 "192.168.79.255"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self):
        if self.pinger:
            self.pinger.kill()
            self.pinger.wait()
            self.pinger = None
        if self.name:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self.name = None


def run_seed(seed, image, work, net, timeout, sandbox):
    rnd = random.Random(seed)
    d = os.path.join(work, "seed-%d" % seed)
    os.makedirs(d, exist_ok=True)
    elf = os.path.join(d, "campaign.elf")
    with_seed(image, seed, elf)
    qcow = os.path.join(d, "disk0.qcow2")
    raw = os.path.join(d, "disk1.raw")
    cluster = rnd.choice([512, 4096, 65536])
    sh(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=%d" % cluster, qcow,
        "256M"], "qemu-img create")
    sh(["qemu-io", "-f", "qcow2", "-c", "write -P 0x%02x 0 1M" % rnd.randrange(256), qcow],
       "qemu-io write")
    with open(raw, "wb") as f:
        f.truncate(64 << 20)
    argv = [VMM, "--bios", elf, "--mem", "64M", "--disk", qcow, "--disk", raw + ",format=raw",
            "--console", "stdio", "--timeout", str(timeout)]
    env = dict(os.environ)
    if sandbox:
        argv.append("--sandbox")
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    if net.name:
        argv += ["--net", "tap=" + net.tap]
        argv = ["ip", "netns", "exec", net.name] + argv
    out_path, err_path = os.path.join(d, "stdout"), os.path.join(d, "stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
        try:
            p.stdin.write(bytes(rnd.randrange(256) for _ in range(4096)))
            p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            status = p.wait(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            status = "no exit %d s after its timeout" % 30
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")

    problems = []
    if status != 0:
        problems.append("vessel-vmm exit status %s (0 = the guest's final checks passed)"
                        % status)
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if marker in stderr:
            problems.append("sanitizer report on stderr (%s)" % marker)
    if "campaign: done, every device answered" not in stdout:
        problems.append("the guest did not finish its final checks")
    if "campaign: console alive" not in stdout:
        problems.append("the console line did not arrive")
    chk = sh(["qemu-img", "check", qcow], "qemu-img check", check=False)
    # Leaked clusters (exit 3, no ERROR) are what a crash leaves, and the VMM
    # leaves them only when it says it stopped waiting for a disk thread
    # still busy with the guest's garbage at exit (its exit stays within
    # bounds: block_queue.c); corruption, or leaks without that, fail.
    abandoned = "disk I/O thread: still busy at exit" in stderr
    if chk.returncode == 3 and abandoned and "ERROR" not in chk.stdout:
        print("  (seed %d: leaked clusters after the VMM abandoned a busy disk thread at exit)"
              % seed)
    elif chk.returncode != 0:
        problems.append("qemu-img check exited %d: %s" % (
            chk.returncode, "\n".join(chk.stdout.splitlines()[-4:]) + chk.stderr))
    # (the line may follow stray bytes of the guest's random UART writes)
    ops = [l[l.index("campaign: ops") + 10:] for l in stdout.splitlines() if "campaign: ops" in l]
    names = {1: "net", 2: "blk", 3: "console", 4: "rng"}
    found = [names.get(int(l.split()[-1], 16), "?") for l in stdout.splitlines()
             if l.startswith("campaign: slot") and int(l.split()[-1], 16)]
    summary = "seed %d: %s, qcow2 clusters %d, %s" % (
        seed, "+".join(found), cluster, ops[-1] if ops else "no summary")
    if problems:
        print("FAIL " + summary)
        for pr in problems:
            print("  - " + pr)
        print("  files kept in %s; reproduce with:" % d)
        print("    " + " ".join(argv))
        tail = [l for l in stdout.splitlines() if l.startswith("campaign:")][-6:]
        for l in tail + stderr.splitlines()[-6:]:
            print("  | " + l)
        return False
    print("ok   " + summary)
    shutil.rmtree(d, ignore_errors=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", help="comma-separated seeds")
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--sandbox", action="store_true", help="run vessel-vmm --sandbox")
    args = ap.parse_args()
    if not shutil.which(CC):
        print("SKIP: %s not installed" % CC)
        return 77
    seeds = ([int(s) for s in args.seeds.split(",")] if args.seeds
             else list(range(args.start, args.start + args.count)))
    work = tempfile.mkdtemp(prefix="vessel-campaign-")
    net = None

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    failed = []
    try:
        image = build_guest(work)
        net = Netns()
        net.start_pinger()
        for seed in seeds:
            if not run_seed(seed, image, work, net, args.timeout, args.sandbox):
                failed.append(seed)
    finally:
        if net:
            net.close()
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    print("campaign: %d seeds, %d failed%s" % (len(seeds), len(failed),
                                               (": " + ",".join(map(str, failed))) if failed
                                               else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
