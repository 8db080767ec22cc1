#!/usr/bin/env python3
"""vm-sandbox-migrate-tcp: live migration over TCP from sandboxed
vessel-vmm processes (--sandbox: empty network namespace, seccomp without
AF_INET) through their connect brokers (--sandbox-connect), between two
network namespaces, with shared storage and with "disks": "copy".

0. A sandboxed VMM with --sandbox-connect that is killed with SIGKILL takes
   its broker with it (this test is the subreaper that reaps the broker).
1. Namespaces A and B joined by a veth pair.  The source boots the recipe
   guest in A under --sandbox --sandbox-connect (B's two ports, and a
   subnet no route leads to).  Its broker: a child named vessel-broker,
   uid 65534, no capabilities, seccomp, no_new_privs, in namespace A; the
   VMM's machine thread is in another (empty) namespace.
2. Refused at once (400), the guest runs on: a destination outside the
   allow-list, a host name.  Accepted, then failed with the reason in
   GET /migrate, the guest runs on (counter, disk): nothing listening on
   B's port (Connection refused), no route (Network is unreachable), a
   port whose packets B drops (no answer within the broker's 10 s).
3. TCP into a sandboxed `vessel-vmm --incoming tcp:B:PORT` in B, shared
   disk: the source exits 0 and its broker is gone, the destination's
   counter continues, the disk holds /mnt/before.
4. From there, with "disks": "copy" and a writer appending numbered lines
   to /mnt/wlog, over TCP back into a sandboxed `--incoming tcp:A:PORT
   --disk NEW` in A: B's VMM exits 0 and its broker is gone, the counter
   continues, /mnt/wlog is consecutive and grew during the migration; the
   guest powers off cleanly; `qemu-img check` finds both disks clean.
Needs root (ip netns, the sandbox's uid switch); SKIP (77) otherwise.
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402
import test_migrate as tm  # noqa: E402
import test_migrate_copy as tc  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
# test_migrate_copy's writer, paced: a guest migrated in once and syncing
# without pause can keep the pre-copy iterating for its 30 rounds (~16 s
# here, sandboxed or not), which adds time and proves nothing more
WRITER = ("(i=0; while :; do echo W $i >> /mnt/wlog; sync; i=$((i+1)); sleep 0.05; done) "
          "</dev/null >/dev/null 2>&1 &")


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict((k, v.strip()) for k, v in
                    (line.split(":", 1) for line in f if ":" in line))


def broker_of(vmm_pid):
    """The pid of the VMM's connect broker (a child named vessel-broker)."""
    deadline = time.monotonic() + 30 * vc.timeout_scale()
    while True:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == vmm_pid and comm == "vessel-broker":
                return int(name)
        if time.monotonic() > deadline:
            vc.fail("VMM %d has no vessel-broker child" % vmm_pid)
        time.sleep(0.05)


def check_broker(bpid, netns_name, vmm_pid):
    st = proc_status(bpid)
    if (st["Seccomp"] != "2" or st["NoNewPrivs"] != "1"
            or st["Uid"].split()[0] != "65534" or st["CapEff"] != "0000000000000000"
            or st["CapBnd"] != "0000000000000000"):
        vc.fail("broker %d not confined: %r" % (bpid, st))
    want = "net:[%d]" % os.stat("/run/netns/" + netns_name).st_ino
    got = os.readlink("/proc/%d/ns/net" % bpid)
    if got != want:
        vc.fail("broker %d is in %s, not in namespace %s (%s)"
                % (bpid, got, netns_name, want))
    machine = os.readlink("/proc/%d/task/%d/ns/net" % (vmm_pid, vmm_pid))
    if machine == want:
        vc.fail("the sandboxed VMM's machine thread is still in %s" % netns_name)


def broker_gone(bpid, what):
    """After its VMM exited normally: reaped by the VMM, no process left."""
    if os.path.exists("/proc/%d" % bpid):
        try:
            with open("/proc/%d/stat" % bpid) as f:
                stat = f.read()
        except OSError:
            return
        if "(vessel-broker)" in stat:
            vc.fail("%s: the broker %d is still there: %s" % (what, bpid, stat))


def wait_failed(sock, reason):
    out = tc.wait_failed(sock)
    if reason not in (out.get("error") or ""):
        vc.fail("failed migration: expected %r in the error, got %r" % (reason, out))
    return out


def still_running(src, what):
    v = sl.counter_value(src)
    sl.wait_counter(src, v + 5)
    src.send("\n")
    src.run("test -e /mnt/before")
    if src.proc.poll() is not None:
        vc.fail("%s: the source exited" % what)


def wait_listen(net, ns, port):
    deadline = time.monotonic() + 60 * vc.timeout_scale()
    while ":%d " % port not in subprocess.run(
            net.argv(ns, ["ss", "-Hltn"]), capture_output=True, text=True).stdout + " ":
        if time.monotonic() > deadline:
            vc.fail("nothing listens on port %d in %s" % (port, ns))
        time.sleep(0.1)


def sandboxed(argv):
    return argv + ([] if "--sandbox" in argv else ["--sandbox"])


def kill_takes_broker(gdir, work):
    """0. SIGKILL of a sandboxed VMM: its broker dies too, reaped here."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        vc.fail("PR_SET_CHILD_SUBREAPER: errno %d" % ctypes.get_errno())
    sock = os.path.join(work, "kill.sock")
    m = vc.Machine(gdir, cpus=1, mem="128M")
    con = vc.Console(sandboxed(m.argv("vessel", sl.vmm()) +
                               ["--api", sock, "--sandbox-connect", "tcp:127.0.0.1:1"]),
                     os.path.join(work, "kill.log"))
    try:
        bpid = broker_of(con.proc.pid)
        sl.api_ok(sock, "GET", "/vm")  # up and serving
        deadline = time.monotonic() + 30 * vc.timeout_scale()
        while proc_status(con.proc.pid)["Seccomp"] != "2":  # the drop follows
            if time.monotonic() > deadline:
                vc.fail("the VMM never entered its sandbox")
            time.sleep(0.05)
        con.check_sandboxed()
        os.killpg(con.proc.pid, signal.SIGKILL)
        con.proc.wait()
        deadline = time.monotonic() + 30 * vc.timeout_scale()
        while True:
            pid, status = os.waitpid(bpid, os.WNOHANG)
            if pid == bpid:
                break
            if time.monotonic() > deadline:
                vc.fail("the broker %d outlived its SIGKILLed VMM" % bpid)
            time.sleep(0.05)
        if not (os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0):
            vc.fail("broker ended with status 0x%x" % status)
    finally:
        con.close()
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test(work):
    if os.geteuid() != 0 or not shutil.which("ip"):
        vc.skip("needs root and iproute2 (ip netns)")
    if not shutil.which("nft"):
        vc.skip("needs nft (nftables)")
    gdir = vc.guest_dir()
    sl.vmm()
    kill_takes_broker(gdir, work)

    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    copy = os.path.join(work, "copy.qcow2")
    net = tm.Netns()
    n = os.getpid() % 200 + 20
    nowhere = "10.232.%d.9" % n  # no route to it in A
    base = 50000 + os.getpid() % 5000
    p_dst, p_drop, p_back = base, base + 1, base + 2
    cons = []
    try:
        # 1. the sandboxed source in A and its broker
        m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
        s_sock = os.path.join(work, "src.sock")
        allow = ["--sandbox-connect", "tcp:%s:%d" % (net.ip_b, p_dst),
                 "--sandbox-connect", "tcp:%s/32:%d" % (net.ip_b, p_drop),
                 "--sandbox-connect", "tcp:10.232.%d.0/24:*" % n]
        src = vc.Console(net.argv(net.a, sandboxed(m.argv("vessel", sl.vmm()) +
                                                   ["--api", s_sock] + allow)),
                         os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        src_broker = broker_of(src.proc.pid)
        check_broker(src_broker, net.a, src.proc.pid)
        src.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before && sync")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)

        # 2. refusals: 400 at once
        for uri, reason in (("tcp:%s:%d" % (net.ip_b, p_dst + 7), "not allowed"),
                            ("tcp:%s:%d" % (net.ip_a, p_dst), "not allowed"),
                            ("tcp:localhost:%d" % p_dst, "numeric")):
            st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": uri})
            if st != 400 or reason not in str(out):
                vc.fail("PUT /migrate %s: expected 400 (%s), got %d %r"
                        % (uri, reason, st, out))
        # accepted, then failed with the reason; the guest runs on
        sh = ["nft", "-f", "-"]
        subprocess.run(net.argv(net.b, sh), check=True, text=True, input=(
            "table inet vstest {\n chain drop_in {\n"
            "  type filter hook input priority 0; policy accept;\n"
            "  tcp dport %d drop\n }\n}\n" % p_drop))
        for uri, reason in (("tcp:%s:%d" % (net.ip_b, p_dst), "Connection refused"),
                            ("tcp:%s:4000" % nowhere, "unreachable"),
                            ("tcp:%s:%d" % (net.ip_b, p_drop), "no answer within")):
            st, out = sl.api(s_sock, "PUT", "/migrate", {"uri": uri})
            if st != 202:
                vc.fail("PUT /migrate %s: %d %r" % (uri, st, out))
            out = wait_failed(s_sock, reason)
            if uri not in out["error"]:
                vc.fail("the error does not name %s: %r" % (uri, out))
            still_running(src, uri)
        if not os.path.exists("/proc/%d" % src_broker):
            vc.fail("the broker died on a failed connect")

        # 3. TCP into a sandboxed destination in B (shared disk)
        d_sock = os.path.join(work, "dst.sock")
        dst = vc.Console(net.argv(net.b, [
            sl.vmm(), "--incoming", "tcp:%s:%d" % (net.ip_b, p_dst), "--serial", "stdio",
            "--api", d_sock, "--sandbox", "--sandbox-connect",
            "tcp:%s:%d" % (net.ip_a, p_back),
            "--timeout", str(int(600 * vc.timeout_scale()))]), os.path.join(work, "dst.log"))
        cons.append(dst)
        wait_listen(net, net.b, p_dst)
        shared = tm.migrate(src, s_sock, dst, "tcp:%s:%d" % (net.ip_b, p_dst), "tcp", work)
        broker_gone(src_broker, "source after migrating")
        dst.check_sandboxed()
        dst_broker = broker_of(dst.proc.pid)
        check_broker(dst_broker, net.b, dst.proc.pid)
        dst.send("\n")
        dst.run("test -e /mnt/before && echo tcp > /mnt/tcp && sync")

        # 4. back into A over TCP with the disk copied, a writer running
        third = vc.Console(net.argv(net.a, [
            sl.vmm(), "--incoming", "tcp:%s:%d" % (net.ip_a, p_back), "--disk", copy,
            "--serial", "stdio", "--sandbox",
            "--timeout", str(int(600 * vc.timeout_scale()))]), os.path.join(work, "third.log"))
        cons.append(third)
        wait_listen(net, net.a, p_back)
        dst.send(WRITER + "\n")
        n0 = tc.wlog_lines(dst)
        deadline = time.monotonic() + 60 * vc.timeout_scale()
        while tc.wlog_lines(dst) <= n0:
            if time.monotonic() > deadline:
                vc.fail("the guest's writer does not write")
            time.sleep(0.2)
        n_before = tc.wlog_lines(dst)
        sl.drain(dst)
        lo = sl.last_counter(dst)
        uri = "tcp:%s:%d" % (net.ip_a, p_back)
        st, out = sl.api(d_sock, "PUT", "/migrate", {"uri": uri, "disks": "copy"})
        if st != 202 or out.get("state") != "active":
            vc.fail("PUT /migrate %s (copy): %d %r" % (uri, st, out))
        tm.wait_migration(d_sock, dst)
        if dst.wait_exit(60) != 0:
            vc.fail("B's VMM: exit status %d after migrating" % dst.status)
        mres = dst.expect(r"migration to \S+ completed: total ([\d.]+) ms, downtime "
                          r"([\d.]+) ms, (\d+) bytes", 10, "B's result line")
        if int(mres.group(3)) < (8 << 20):
            vc.fail("a disk-copy migration sent only %s bytes" % mres.group(3))
        broker_gone(dst_broker, "B after migrating")
        v = sl.counter_value(third)
        hi = lo + 10 + int(float(mres.group(1)) / 100) + 3
        if not (lo <= v <= hi):
            vc.fail("third counter printed %d first; B had printed %d before the "
                    "migration (total %s ms)" % (v, lo, mres.group(1)))
        sl.wait_counter(third, v + 5)
        fds = [os.readlink("/proc/%d/fd/%s" % (third.proc.pid, f))
               for f in os.listdir("/proc/%d/fd" % third.proc.pid)]
        if copy not in fds or disk in fds:
            vc.fail("the third VMM's open disks: %r" % [f for f in fds if "qcow2" in f])
        third.check_sandboxed()
        third.send("\n")
        third.run("test -e /mnt/before && test -e /mnt/tcp")
        third.run("kill %1 %2 2>/dev/null; true")
        time.sleep(0.2)
        out = tc.clean(third.run("awk '{ if ($2 != NR - 1) bad = NR } END { print (bad ? "
                                 "\"BAD \" bad : \"GOOD\"), NR }' /mnt/wlog")[1])
        mm = re.search(r"(GOOD|BAD \d+) (\d+)", out)
        if not mm or mm.group(1) != "GOOD":
            vc.fail("/mnt/wlog on the copy is not consecutive: %r" % out)
        if int(mm.group(2)) <= n_before:
            vc.fail("/mnt/wlog has %s lines on the copy, %d before the migration"
                    % (mm.group(2), n_before))
        third.run("umount /mnt")
        third.send("kill %1 %2 2>/dev/null\n")
        if third.poweroff() != 0:
            vc.fail("migrated guest: exit status %d after poweroff" % third.status)
        print("ok: sandboxed tcp migrations: shared disk %.1f ms (downtime %.1f ms); "
              "disk copy %s bytes in %s ms (downtime %s ms)"
              % (shared[0], shared[1], mres.group(3), mres.group(1), mres.group(2)))
    finally:
        for c in cons:
            c.close()
        net.close()
    for path in (disk, copy):
        r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
        if r.returncode != 0 or "No errors were found" not in r.stdout:
            vc.fail("qemu-img check %s: %s%s" % (path, r.stdout, r.stderr))


if __name__ == "__main__":
    vc.main(test)
