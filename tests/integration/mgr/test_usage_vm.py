#!/usr/bin/env python3
"""mgr-usage-vm: vesseld's usage sampler on a real VM, through the names the
VM driver uses (CONTRACTS.md): STATE/vms/<runtime_id>/api.sock and vmm.pid,
the VMM's cgroup vessel-vm-<runtime_id>.

Until the VM driver is merged, the test plays its part: it records a VM
instance in vesseld's database (running, limits.memory=256MiB,
limits.cpu=1), starts vessel-vmm itself (256 MiB guest, --balloon, --api
on that socket) and puts it in that cgroup.  Then, with vesseld sampling
every 0.5 s:
  - /1.0/metrics (promtool accepts it) has the VM's CPU time (the cgroup),
    its harts' busy time (GET /vm), growing while the guest spins, and the
    guest's own memory figures (balloon statistics);
  - GET /1.0/instances/vm1/usage has samples whose memory is the guest's
    total minus available;
  - after the guest fills its memory (tmpfs) to under 10% available, the
    advice says limits.memory is starved, with the guest's available memory
    as evidence.
"""
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vm", "guest"))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402

RID = "vessel-00000000000000ee"
CG = "vessel-vm-" + RID


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("vessel", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def get(sock, path):
    c = UnixConn(sock)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def cgroup_dirs():
    if os.path.exists("/sys/fs/cgroup/cpu/cgroup.procs"):
        return ["/sys/fs/cgroup/%s/%s" % (h, CG) for h in ("cpu", "cpuacct", "memory")
                if os.path.exists("/sys/fs/cgroup/%s/cgroup.procs" % h)]
    return ["/sys/fs/cgroup/" + CG]


def metric(text, name):
    """The value of NAME{name="vm1",...} or None."""
    for line in text.splitlines():
        if line.startswith(name + '{name="vm1",type="virtual-machine"'):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait(what, fn, timeout):
    deadline = time.monotonic() + timeout * vc.timeout_scale()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            vc.fail("timed out: " + what)
        time.sleep(0.3)


def test(work):
    if os.geteuid() != 0:
        vc.skip("needs root (cgroups)")
    vesseld = os.environ.get("VESSEL_VESSELD")
    runtime = os.environ.get("VESSEL_VESSEL_RUNTIME")
    if not vesseld or not shutil.which("promtool"):
        vc.skip("run through meson test; needs promtool")
    gdir = vc.guest_dir()
    state = os.path.join(work, "state")
    sock = os.path.join(work, "vessel.sock")
    dlog = open(os.path.join(work, "vesseld.log"), "w")
    daemon = subprocess.Popen([vesseld, "--state-dir", state, "--socket", sock,
                               "--runtime", runtime, "--busybox", "none",
                               "--usage-interval", "0.5", "--advice-min-history", "4"],
                              stdout=dlog, stderr=dlog)
    cgs = []
    try:
        wait("vesseld answers", lambda: os.path.exists(sock) and get(sock, "/1.0")[0] == 200, 120)
        db = sqlite3.connect(os.path.join(state, "vessel.db"), timeout=30)
        cur = db.execute("INSERT INTO instances (name, type, runtime_id, power_state, created_at) "
                         "VALUES ('vm1', 'vm', ?, 'running', '2027-01-01T00:00:00Z')", (RID,))
        iid = cur.lastrowid
        db.executemany("INSERT INTO instance_config VALUES (?, ?, ?)",
                       [(iid, "limits.memory", "256MiB"), (iid, "limits.cpu", "1"),
                        (iid, "user.project", "vmtest")])
        db.commit()
        db.close()
        vmdir = os.path.join(state, "vms", RID)
        os.makedirs(vmdir)
        api_sock = os.path.join(vmdir, "api.sock")
        m = vc.Machine(gdir, cpus=1, mem="256M")
        argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", api_sock, "--balloon"]
        with vc.Console(argv, os.path.join(work, "console.log")) as con:
            pid = con.proc.pid
            with open(os.path.join(vmdir, "vmm.pid"), "w") as f:
                f.write("%d\n" % pid)
            for d in cgroup_dirs():
                os.makedirs(d, exist_ok=True)
                cgs.append(d)
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            con.wait_banner()
            api = vmapi.VmApi(api_sock, timeout=30)
            api.wait_ready(30)

            def guest_metrics():
                s, text = get(sock, "/1.0/metrics")
                if s != 200 or metric(text, "vessel_guest_memory_total_bytes") is None:
                    return None
                return text
            text = wait("the VM's metrics with the guest's memory", guest_metrics, 120)
            cpu0 = metric(text, "vessel_cpu_seconds_total")
            busy0 = metric(text, "vessel_vm_hart_busy_seconds_total")
            total = metric(text, "vessel_guest_memory_total_bytes")
            avail = metric(text, "vessel_guest_memory_available_bytes")
            used = metric(text, "vessel_memory_usage_bytes")
            print("vm1: cpu %.2f s, harts busy %.2f s, guest total %d, available %d, used %d"
                  % (cpu0, busy0, total, avail, used))
            if not (cpu0 and cpu0 > 0 and busy0 is not None):
                vc.fail("no CPU figures for the VM: %r %r" % (cpu0, busy0))
            if not (128 << 20 < total <= 256 << 20 and 0 < avail < total):
                vc.fail("implausible guest memory: total %r available %r" % (total, avail))
            if 'project="vmtest"' not in text:
                vc.fail("project label missing")
            p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                               capture_output=True)
            if p.returncode != 0:
                vc.fail("promtool: %s" % p.stdout.decode() + p.stderr.decode())
            # the guest spins until the harts' busy time and the cgroup's CPU
            # grew by a second each (however busy the host is)
            con.run("(while :; do :; done) >/dev/null 2>&1 & echo $! >/tmp/spin")

            def busier():
                s, t = get(sock, "/1.0/metrics")
                b = metric(t, "vessel_vm_hart_busy_seconds_total")
                c = metric(t, "vessel_cpu_seconds_total")
                return (b, c) if b and c and b > busy0 + 1.0 and c > cpu0 + 1.0 else None
            b1, c1 = wait("the harts' busy time grows by 1 s", busier, 120)
            con.run("kill $(cat /tmp/spin)")
            print("after spinning: cpu %.2f s, harts busy %.2f s" % (c1, b1))
            s, body = get(sock, "/1.0/instances/vm1/usage?window=1h")
            u = json.loads(body)["metadata"] if s == 200 else None
            if not u or u["type"] != "virtual-machine" or len(u["samples"]) < 2:
                vc.fail("usage of vm1: %d %s" % (s, body[:300]))
            # samples every 0.5 s: together they hold the >= 1 s the spin took
            if sum(x["cpu"] for x in u["samples"]) * 0.5 < 0.5:
                vc.fail("the samples do not show the guest's spinning: %s" % body[:500])
            if u["limits"]["memory"] != 256 << 20:
                vc.fail("limits: %r" % u["limits"])
            # the guest leaves itself under 10% available: starved
            _, out = con.run("grep MemAvailable /proc/meminfo")
            avail_kib = int(out.split()[1])
            fill = max(avail_kib // 1024 - 16, 1)
            # anonymous memory held by a blocked dd (the OOM killer can take
            # it, unlike tmpfs pages, whose exhaustion panics the guest)
            con.run("(dd if=/dev/zero bs=%dM count=1 2>/dev/null | sleep 120) & sleep 2"
                    % fill, timeout=120)
            _, out = con.run("grep MemAvailable /proc/meminfo")
            print("guest MemAvailable after filling %d MiB: %s" % (fill, out.strip()))

            def starved():
                s, body = get(sock, "/1.0/advice?instance=vm1")
                if s != 200:
                    return None
                for a in json.loads(body)["metadata"]:
                    if a["kind"] == "starved" and a["key"] == "limits.memory":
                        return a
                return None
            a = wait("limits.memory advised up for the VM", starved, 90)
            print("advice: %s" % json.dumps(a))
            if "guest had only" not in a["evidence"] or a["data"].get("guest_total", 0) <= 0:
                vc.fail("the guest's available memory is not in the evidence: %r" % a)
            con.send("poweroff -f\n")
            con.wait_exit(60)
    finally:
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        for d in cgs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)
        dlog.close()
        with open(os.path.join(work, "vesseld.log")) as f:
            log = f.read()
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log:
            vc.fail("sanitizer report from vesseld:\n" + log[-3000:])


if __name__ == "__main__":
    vc.main(test)
