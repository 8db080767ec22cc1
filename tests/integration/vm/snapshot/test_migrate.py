#!/usr/bin/env python3
"""vm-migrate: live migration between vessel-vmm processes, over TCP
between two network namespaces and over a unix socket; a migration whose
peer dies midway leaves the source running.

1. Two network namespaces joined by a veth pair (10.231.N.1 <-> .2).  The
   source boots the recipe guest in the first one (qcow2 disk, --api),
   writes /mnt/before and starts a console counter.
2. A fake destination accepts the stream, reads 1 MiB of it and hangs up:
   GET /migrate must report "failed" with the reason, and the source guest
   keeps running (its counter advances, commands still work).
3. Migration over TCP to `vessel-vmm --incoming tcp:10.231.N.2:PORT` in the
   second namespace: the source exits with status 0, GET /migrate reported
   progress, the destination's counter continues from the switch-over
   point, the disk holds /mnt/before and takes new writes.
4. From there over `--incoming unix:PATH` to a third process: the counter
   continues again; the guest powers off cleanly and `qemu-img check`
   finds the shared disk image clean.
Needs root (ip netns); SKIP (77) otherwise.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Netns:
    def __init__(self):
        n = os.getpid() % 200 + 20
        self.a, self.b = "vsmig-a-%d" % os.getpid(), "vsmig-b-%d" % os.getpid()
        self.ip_a, self.ip_b = "10.231.%d.1" % n, "10.231.%d.2" % n
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
        va, vb = "vsm%da" % os.getpid(), "vsm%db" % os.getpid()
        sh("ip", "link", "add", va[:15], "type", "veth", "peer", "name", vb[:15])
        sh("ip", "link", "set", va[:15], "netns", self.a)
        sh("ip", "link", "set", vb[:15], "netns", self.b)
        for ns, dev, ip in ((self.a, va[:15], self.ip_a), (self.b, vb[:15], self.ip_b)):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def close(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def argv(self, ns, argv):
        return ["ip", "netns", "exec", ns] + argv


def wait_path(path, what):
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            vc.fail("%s never appeared" % what)
        time.sleep(0.05)


def wait_migration(sock, src):
    """Poll GET /migrate until the source exits; the last status seen."""
    last = None
    deadline = time.monotonic() + 300 * vc.timeout_scale()
    while src.proc.poll() is None:
        if time.monotonic() > deadline:
            vc.fail("migration still running after %.0f s: %r"
                    % (300 * vc.timeout_scale(), last))
        if not os.path.exists(sock):
            src._read(0.1)
            continue  # the source is exiting
        try:
            st, out = sl.api(sock, "GET", "/migrate", timeout=10, wait=False)
            if st == 200:
                last = out
                if out["state"] == "failed":
                    vc.fail("migration failed: %s" % out["error"])
        except (OSError, ConnectionError):
            pass  # the source is exiting
        src._read(0.1)
    return last


def migrate(src, src_sock, dst, uri, log_name, work):
    sl.drain(src)
    lo = sl.last_counter(src)
    out = sl.api(src_sock, "PUT", "/migrate", {"uri": uri})
    if out[0] != 202 or out[1].get("state") != "active":
        vc.fail("PUT /migrate %s: %r" % (uri, out))
    last = wait_migration(src_sock, src)
    status = src.wait_exit(60)
    if status != 0:
        vc.fail("source exit status %d after migrating" % status)
    m = src.expect(r"migration to \S+ completed: total ([\d.]+) ms, downtime "
                   r"([\d.]+) ms, (\d+) bytes", 10, "the source's result line")
    # GET /migrate answered while it ran (a fast migration may end before a
    # poll sees pages sent, or before the first poll: then PUT's answer,
    # "active", is the report); the result line counts the bytes
    if last is None:
        last = out[1]
    if last["state"] not in ("active", "completed"):
        vc.fail("GET /migrate did not report the migration: %r" % last)
    if int(m.group(3)) < (1 << 20):
        vc.fail("migration sent only %s bytes" % m.group(3))
    # the destination's counter continues from the switch-over point
    v = sl.counter_value(dst)
    hi = lo + 10 + int(float(m.group(1)) / 100) + 3
    if not (lo <= v <= hi):
        vc.fail("%s: destination counter printed %d first; the source had "
                "printed %d before the migration (total %s ms)"
                % (uri, v, lo, m.group(1)))
    sl.wait_counter(dst, v + 5)
    return float(m.group(1)), float(m.group(2))


def test(work):
    if os.geteuid() != 0 or not shutil.which("ip"):
        vc.skip("needs root and iproute2 (ip netns)")
    gdir = vc.guest_dir()
    sl.vmm()
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    net = Netns()
    cons = []
    try:
        m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
        s_sock = os.path.join(work, "src.sock")
        src = vc.Console(net.argv(net.a, m.argv("vessel", sl.vmm()) +
                                  ["--api", s_sock]),
                         os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        src.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before "
                "&& sync")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)

        # 2. the peer hangs up midway: the source runs on
        fake = os.path.join(work, "fake.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(fake)
        srv.listen(1)
        st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": "unix:" + fake})
        if st != 202:
            vc.fail("PUT /migrate to the fake peer: %d %r" % (st, out))
        c, _ = srv.accept()
        got = 0
        while got < (1 << 20):
            data = c.recv(65536)
            if not data:
                break
            got += len(data)
        c.close()
        srv.close()
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while True:
            out = sl.api(s_sock, "GET", "/migrate")[1]
            if out["state"] == "failed":
                break
            if out["state"] != "active" or time.monotonic() > deadline:
                vc.fail("migration to a peer that hung up: %r" % out)
            time.sleep(0.1)
        if not out["error"]:
            vc.fail("failed migration without a reason: %r" % out)
        v = sl.counter_value(src)
        sl.wait_counter(src, v + 5)
        src.run("test -e /mnt/before")
        if src.proc.poll() is not None:
            vc.fail("the source exited after a failed migration")

        # 3. TCP into the other namespace
        port = 47000 + os.getpid() % 1000
        d_sock = os.path.join(work, "dst.sock")
        dst = vc.Console(net.argv(net.b, [sl.vmm(), "--incoming",
                                          "tcp:%s:%d" % (net.ip_b, port),
                                          "--serial", "stdio", "--api", d_sock,
                                          "--timeout", str(int(600 * vc.timeout_scale()))]),
                         os.path.join(work, "dst.log"))
        cons.append(dst)
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while str(port) not in subprocess.run(
                net.argv(net.b, ["ss", "-Hltn"]), capture_output=True,
                text=True).stdout:
            if time.monotonic() > deadline:
                vc.fail("the destination never listened on %s:%d"
                        % (net.ip_b, port))
            time.sleep(0.1)
        migrate(src, s_sock, dst, "tcp:%s:%d" % (net.ip_b, port), "tcp", work)
        dst.send("\n")
        dst.run("test -e /mnt/before && echo tcp > /mnt/tcp && sync")

        # 4. unix socket to a third process (same namespace)
        mig = os.path.join(work, "mig.sock")
        third = vc.Console(net.argv(net.b, [sl.vmm(), "--incoming", "unix:" + mig,
                                            "--serial", "stdio",
                                            "--timeout", str(int(600 * vc.timeout_scale()))]),
                           os.path.join(work, "third.log"))
        cons.append(third)
        wait_path(mig, "the unix migration socket")
        migrate(dst, d_sock, third, "unix:" + mig, "unix", work)
        third.send("\n")
        third.run("test -e /mnt/before && test -e /mnt/tcp && umount /mnt")
        third.send("kill %1\n")
        if third.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % third.status)
    finally:
        for c in cons:
            c.close()
        net.close()
    r = subprocess.run(["qemu-img", "check", disk], capture_output=True, text=True)
    if r.returncode != 0 or "No errors were found" not in r.stdout:
        vc.fail("qemu-img check after the migrations: %s%s" % (r.stdout, r.stderr))


if __name__ == "__main__":
    vc.main(test)
