#!/usr/bin/env python3
"""bench/lifecycle: VM lifecycle operations, vessel-vmm vs QEMU 7.2 TCG.

Both VMMs boot the same OpenSBI, kernel and initramfs (guest/build.sh) with
256 MiB and one hart, in the same run; vessel-vmm is driven through its
control API (--api, one kept-alive HTTP connection), QEMU through QMP (one
unix socket, as libvirt drives it).  Rows:

  pause     round trip of PUT /vm/state paused  vs QMP stop   (ms)
  resume    round trip of PUT /vm/state running vs QMP cont   (ms)
  balloon   time to shrink the guest by 128 MiB: from the request until the
            guest's driver has inflated it all (GET /balloon actual ==
            target vs query-balloon actual == target), and back     (ms)
  overhead  the VMM process's resident memory beyond guest RAM: RSS minus
            the resident part of the guest-RAM mapping (/proc/PID/smaps;
            the mapping of exactly the RAM size, which vessel-vmm keeps
            between guard pages; for a peer without one, the largest of
            about that size), idle guest at its shell                (MiB)
  idle 5 s  overhead again after the guests idled 5 s more (vessel-vmm
            gives an idle guest's CPU caches back after 1 s+ idle,
            rv_core_trim)                                            (MiB)
  private   the same with private pages only (Private_Clean + Private_Dirty):
            shared library text that other processes map too is left
            out                                                      (MiB)

Each row prints the median (and p90 for latencies) of both and the
vessel/qemu ratio (below 1: vessel is faster/smaller).

libvirt 9 (when $BENCH_LIBVIRT_URI names a running libvirtd: run.sh starts
one) is measured in the same run on the same guest as a transient domain
(libvirt_peer.py): virsh suspend / resume, setmem --live (until dommemstat's
actual reaches the target), and the QEMU process's overhead; then virsh
save (time, file size) and virsh restore (time until virsh returns, and
whether the restored guest's shell still answers within 20 s), with
vessel/libvirt ratios.  vessel's snapshot and restore rows are
snapshot_bench.py's (the next part of run.sh).
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "vm", "guest"))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402
import libvirt_peer  # noqa: E402

MiB = 1 << 20
MEM = "256M"
SHRINK_MIB = 128


class Qmp:
    """A minimal QMP client (one connection, synchronous commands)."""

    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rwb", buffering=0)
        self._line()  # greeting
        self.cmd("qmp_capabilities")

    def _line(self):
        while True:
            line = self.f.readline()
            if not line:
                raise OSError("QMP connection closed")
            obj = json.loads(line)
            if "event" not in obj:
                return obj

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        r = self._line()
        if "error" in r:
            raise OSError("QMP %s: %s" % (name, r["error"]))
        return r["return"]

    def close(self):
        self.s.close()


class VesselCtl:
    """The same operations through vessel-vmm's API (kept-alive connection)."""

    def __init__(self, path):
        vmapi.VmApi(path).wait_ready(60)
        self.conn = vmapi.UnixHTTPConnection(path, 60)

    def req(self, method, url, obj=None):
        body = None if obj is None else json.dumps(obj)
        self.conn.request(method, url, body=body,
                          headers={"Content-Type": "application/json"} if body else {})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise OSError("%s %s: %d %s" % (method, url, r.status, data[:200]))
        return json.loads(data) if data else None

    def pause(self):
        self.req("PUT", "/vm/state", {"state": "paused"})

    def resume(self):
        self.req("PUT", "/vm/state", {"state": "running"})

    def balloon(self, memory_mib):
        self.req("PATCH", "/balloon", {"memory_mib": memory_mib})

    def balloon_done(self):
        b = self.req("GET", "/balloon")
        return b["actual_balloon_bytes"] == b["target_balloon_bytes"]

    def close(self):
        self.conn.close()


class QemuCtl:
    def __init__(self, path):
        self.q = Qmp(path)
        self.target = None

    def pause(self):
        self.q.cmd("stop")

    def resume(self):
        self.q.cmd("cont")

    def balloon(self, memory_mib):
        self.target = memory_mib * MiB
        self.q.cmd("balloon", value=self.target)

    def balloon_done(self):
        return self.q.cmd("query-balloon")["actual"] == self.target

    def close(self):
        self.q.close()


def start(kind, gdir, work):
    if kind == "libvirt":
        vm = libvirt_peer.LibvirtVM(os.environ["BENCH_LIBVIRT_URI"], gdir, work, "vbench-lc")
        return vm, vm
    m = vc.Machine(gdir, cpus=1, mem=MEM, timeout=1200)
    sock = os.path.join(work, kind + ".sock")
    argv = m.argv(kind, vc.vmm_program(kind))
    if kind == "vessel":
        argv += ["--api", sock, "--balloon"]
    else:
        argv += ["-qmp", "unix:%s,server=on,wait=off" % sock,
                 "-device", "virtio-balloon-device"]
    con = vc.Console(argv, os.path.join(work, kind + ".log"), scale=1.0)
    con.wait_banner(timeout=600)
    ctl = VesselCtl(sock) if kind == "vessel" else QemuCtl(sock)
    return con, ctl


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000


def balloon_ms(ctl, memory_mib):
    t0 = time.perf_counter()
    ctl.balloon(memory_mib)
    deadline = time.monotonic() + 120
    while not ctl.balloon_done():
        if time.monotonic() > deadline:
            raise OSError("balloon did not reach %d MiB in 120 s" % memory_mib)
        time.sleep(0.002)
    return (time.perf_counter() - t0) * 1000


def overhead_mib(pid, ram, keys=("Rss:",)):
    """RSS (or the sum of `keys`) beyond the guest-RAM mapping's, in MiB."""
    total = 0
    ram_rss = 0
    size = 0
    mappings = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if fields[0] == "Size:":
                size = int(fields[1]) * 1024
                mappings.append([size, 0, 0])
            elif fields[0] == "Rss:":
                mappings[-1][1] = int(fields[1]) * 1024
            if fields[0] in keys and mappings:
                mappings[-1][2] += int(fields[1]) * 1024
    ram_counted = 0
    for size, rss, counted in mappings:
        total += counted
        # the guest RAM block: vessel-vmm maps it alone between guard pages
        # (lib/vm/machine/machine.c), a mapping of exactly the RAM size, so
        # no neighbouring mapping merged into it is taken for guest RAM
        if size == ram and rss > ram_rss:
            ram_rss, ram_counted = rss, counted
    if not ram_rss:
        # a peer whose RAM block is rounded up (or merged): the largest
        # mapping of about the RAM size
        for size, rss, counted in mappings:
            if ram <= size <= ram + 64 * MiB and rss > ram_rss:
                ram_rss, ram_counted = rss, counted
    return (total - ram_counted) / MiB


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.9 * len(xs)))]


def main():
    iters = int(os.environ.get("BENCH_ITERATIONS", "30"))
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    kinds = ["qemu"]
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    if vmm and os.access(vmm, os.X_OK):
        kinds.insert(0, "vessel")
    else:
        print("bench/lifecycle: vessel-vmm not found (VESSEL_VESSEL_VMM=%r); QEMU only" % vmm)
    uri = os.environ.get("BENCH_LIBVIRT_URI", "")
    if uri and libvirt_peer.available(uri):
        kinds.append("libvirt")
    work = tempfile.mkdtemp(prefix="vessel-bench-lifecycle-")
    os.chmod(work, 0o755)  # libvirt's QEMU may run as libvirt-qemu
    res = {k: {"pause": [], "resume": [], "balloon": [], "overhead": [], "private": [],
               "idle5": []} for k in kinds}
    running = {}
    try:
        for kind in kinds:
            running[kind] = start(kind, gdir, work)
        for kind in kinds:  # settle: let both guests go idle
            running[kind][0].run("sleep 1", timeout=120)
            pid = running[kind][0].pid if kind == "libvirt" else running[kind][0].proc.pid
            res[kind]["overhead"].append(overhead_mib(pid, vc_ram_bytes()))
            res[kind]["private"].append(overhead_mib(
                pid, vc_ram_bytes(), ("Private_Clean:", "Private_Dirty:")))
        for kind in kinds:
            running[kind][0].run("sleep 5", timeout=120)
        for kind in kinds:
            pid = running[kind][0].pid if kind == "libvirt" else running[kind][0].proc.pid
            res[kind]["idle5"].append(overhead_mib(pid, vc_ram_bytes()))
        for i in range(iters):
            for kind in kinds:
                con, ctl = running[kind]
                res[kind]["pause"].append(timed(ctl.pause))
                time.sleep(0.01)
                res[kind]["resume"].append(timed(ctl.resume))
                time.sleep(0.01)
        for i in range(max(3, iters // 10)):
            for kind in kinds:
                con, ctl = running[kind]
                res[kind]["balloon"].append(balloon_ms(ctl, 256 - SHRINK_MIB))
                res[kind]["balloon"].append(balloon_ms(ctl, 256))
        if "libvirt" in kinds:
            lv = running["libvirt"][0]
            path = os.path.join(work, "libvirt.save")
            save_ms, save_mib = lv.save(path)
            restore_ms, answers = lv.restore(path)
            saved = (save_ms, save_mib, restore_ms, answers)
        for kind in kinds:
            con, ctl = running[kind]
            if kind == "libvirt":
                con.close()
                continue
            ctl.close()
            con.send("poweroff -f\n")
            con.wait_exit(120)
    except (vc.TestFailure, OSError, subprocess.TimeoutExpired) as e:
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        print("bench/lifecycle: failed: %s at %s:%d (logs in %s)"
              % ((str(e).splitlines() or [""])[0], os.path.basename(where.filename),
                 where.lineno, work))
        for con, ctl in running.values():
            con.close()
        return 1
    for con, ctl in running.values():
        con.close()

    print("bench/lifecycle: %s guest, 1 hart, %d pause/resume pairs, %d balloon moves "
          "of %d MiB" % (MEM, iters, len(res[kinds[0]]["balloon"]), SHRINK_MIB))
    lv = "libvirt" in res
    print("  %-30s %14s %14s %8s %14s %8s" % ("", "vessel-vmm", "qemu (QMP)", "v/qemu",
                                            "libvirt" if lv else "", "v/libvirt" if lv else ""))
    rows = [("pause (ms, median)", "pause", statistics.median),
            ("pause (ms, p90)", "pause", p90),
            ("resume (ms, median)", "resume", statistics.median),
            ("resume (ms, p90)", "resume", p90),
            ("balloon -/+%d MiB (ms, median)" % SHRINK_MIB, "balloon", statistics.median),
            ("memory overhead (MiB)", "overhead", statistics.median),
            ("memory overhead, private (MiB)", "private", statistics.median),
            ("memory overhead, idle 5 s (MiB)", "idle5", statistics.median)]
    for label, key, agg in rows:
        v = agg(res["vessel"][key]) if "vessel" in res else None
        q = agg(res["qemu"][key])
        ratio = "%8.3f" % (v / q) if v is not None and q else "%8s" % "-"
        lcol = ""
        if lv:
            x = agg(res["libvirt"][key])
            lcol = " %14.3f %8s" % (x, "%.3f" % (v / x) if v is not None and x else "-")
        print("  %-30s %14s %14.3f %s%s" % (label, "-" if v is None else "%.3f" % v, q, ratio,
                                           lcol))
    if lv:
        print("  libvirt (virsh, same guest): save %.1f ms, file %.1f MiB; restore %.1f ms; "
              "restored guest %s" % (saved[0], saved[1], saved[2],
                                     "answers" if saved[3] else "HUNG (no answer in 20 s)"))
        print("  (libvirt latencies include the virsh process, as a libvirt user pays it; "
              "vessel's save/restore: the snapshot rows below)")
    else:
        print("  (libvirt not running: virsh suspend/resume, quoted by the issue for this "
              "host: ~28 ms)")
    return 0


def vc_ram_bytes():
    return int(MEM[:-1]) * MiB


if __name__ == "__main__":
    sys.exit(main())
