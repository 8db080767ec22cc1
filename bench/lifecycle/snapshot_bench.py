#!/usr/bin/env python3
"""bench/lifecycle snapshot rows: snapshots, restore and live migration,
vessel-vmm vs QEMU 7.2 TCG, same guest images, same run.

Both VMMs boot the same OpenSBI, kernel and initramfs with 256 MiB and one
hart; the guest prints a counter on its console as fast as it can, so
"running" means "printing again": the first byte of the counter's output
(the snapshot was taken mid-stream, so the guest's UART driver sends the
rest of a line at once), read on the console's pty without polling delays;
the count must then go on (a "CNT n" line within the timeout) or the
restore counts as hung.  Neither VMM prints anything of its own there.
vessel-vmm is driven through its control API, QEMU through QMP.  Rows:

  save        time of the snapshot request until the file is complete (ms)
              (vessel PUT /snapshot/create; QEMU `migrate exec:cat>FILE`,
              what `virsh save` does) and the file's size on disk (MiB)
  restore     process start until the restored guest prints (ms)
              (vessel --restore FILE; QEMU -incoming "exec:cat FILE");
              also until its first whole counter line (the guest's code
              is cold then: decoding, first page touches), and vessel's
              in-process PUT /snapshot/load time
  spawn floor vessel only: vessel-vmm started with an unknown option, until
              its first byte (the error message) on the same pty: the
              process start (fork, exec of the same static binary, the C
              library's start-up) that every process row pays before any
              restore work, measured the same way
  restore (API, started process)
              vessel only, Firecracker's LoadSnapshot figure: vessel-vmm
              started with --api alone (empty; its start is not timed),
              then from sending PUT /snapshot/load until the restored
              guest's first console byte (same detection as the process row)
  10 VMs      PSS sum (MiB) of 10 VMs restored from one snapshot, each
              printing
  migrate     total time and downtime (ms), idle guest and a guest
              rewriting 32 MiB of memory in a loop (vessel PUT /migrate to
              --incoming unix:; QEMU migrate to -incoming tcp:127.0.0.1,
              query-migrate total-time/downtime)

Ratios are vessel/qemu (below 1: vessel is faster/smaller).
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "vm", "guest"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "vm", "snapshot"))
import vmconsole as vc  # noqa: E402
import snaplib as sl  # noqa: E402
from lifecycle_bench import Qmp  # noqa: E402

MEM = "256M"
FAST = ("(i=0; while :; do echo CNT $i; i=$((i+1)); done) "
        "</dev/null >/dev/console 2>&1 &")
WRITER = ("(while :; do dd if=/dev/zero of=/dev/null bs=32M count=64 "
          "2>/dev/null; done) </dev/null >/dev/null 2>&1 &")


def machine(gdir):
    return vc.Machine(gdir, cpus=1, mem=MEM, timeout=1200)


def boot(kind, gdir, work, name, extra=()):
    sock = os.path.join(work, name + ".sock")
    argv = machine(gdir).argv(kind, vc.vmm_program(kind))
    if kind == "vessel":
        argv += ["--api", sock]
    else:
        argv += ["-qmp", "unix:%s,server=on,wait=off" % sock]
    con = vc.Console(argv + list(extra), os.path.join(work, name + ".log"),
                     scale=1.0)
    con.wait_banner(timeout=600)
    return con, sock


def first_output(argv, log, timeout=60, line=False):
    """Start argv; ms until the guest's counter output resumes: its first
    byte (line: its first whole "CNT n" line), None when it never goes on
    (hung)."""
    t0 = time.perf_counter()
    con = vc.Console(argv, log, scale=1.0)
    try:
        # the very first byte on the console, and one the counter prints
        # (anything else, a VMM's message, would make it time out: hung)
        con.expect(r"\A[CNT 0-9\r\n]", timeout)
        t_byte = (time.perf_counter() - t0) * 1000
        con.expect(r"CNT \d+\r", timeout)
        t_line = (time.perf_counter() - t0) * 1000
        return (t_line if line else t_byte), con
    except vc.TestFailure:
        con.close()
        return None, None


def spawn_floor(log):
    """ms from starting vessel-vmm with an unknown option until its first
    byte (the usage error on the pty): the process-start part of
    first_output's figure; None if it never printed."""
    t0 = time.perf_counter()
    con = vc.Console([vc.vmm_program("vessel"), "--spawn-floor"], log, scale=1.0)
    try:
        con.expect(r"\A.", 60)
        return (time.perf_counter() - t0) * 1000
    except vc.TestFailure:
        return None
    finally:
        con.close()


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_pss(con):
    """PSS of the VMM process (the console's child, maybe via ip netns)."""
    return pss_kib(con.proc.pid)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, unit):
    return "   hung" if v is None else "%7.1f %s" % (v, unit)


def ratio(a, b):
    return "   n/a" if a is None or b is None or b == 0 else "%6.2fx" % (a / b)


def row(name, v, q, unit):
    print("%-28s vessel %s   qemu %s   ratio %s" % (name, fmt(v, unit), fmt(q, unit),
                                                   ratio(v, q)))


def qemu_wait_migration(q, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        st = q.cmd("query-migrate")
        if st.get("status") in ("completed", "failed", "cancelled"):
            return st
        if time.monotonic() > deadline:
            raise OSError("QEMU migration did not finish: %r" % st)
        time.sleep(0.01)


def vessel_save(gdir, work, iters):
    con, sock = boot("vessel", gdir, work, "vsave")
    con.send(FAST + "\n")
    con.expect(r"CNT 100", 60)
    times, sizes = [], []
    snap = os.path.join(work, "v.snap")
    for i in range(iters):
        t0 = time.perf_counter()
        out = sl.api_ok(sock, "PUT", "/snapshot/create", {"path": snap})
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(out["file_bytes"] / 2**20)
    load = []
    for i in range(iters):
        out = sl.api_ok(sock, "PUT", "/snapshot/load", {"path": snap})
        load.append(out["elapsed_ms"])
    con.close()
    return med(times), med(sizes), med(load), snap


def qemu_save(gdir, work, iters):
    con, sock = boot("qemu", gdir, work, "qsave")
    con.send(FAST + "\n")
    con.expect(r"CNT 100", 120)
    q = Qmp(sock)
    times, sizes = [], []
    snap = os.path.join(work, "q.snap")
    for i in range(iters):
        if os.path.exists(snap):
            os.unlink(snap)
        t0 = time.perf_counter()
        q.cmd("migrate", uri="exec:cat > %s" % snap)
        st = qemu_wait_migration(q)
        times.append((time.perf_counter() - t0) * 1000)
        if st["status"] != "completed":
            raise OSError("QEMU save: %r" % st)
        sizes.append(os.stat(snap).st_blocks * 512 / 2**20)
        q.cmd("cont")
    q.close()
    con.close()
    return med(times), med(sizes), snap


def restore_argv(kind, gdir, snap):
    if kind == "vessel":
        return [vc.vmm_program("vessel"), "--restore", snap, "--serial", "stdio",
                "--timeout", "600"]
    return machine(gdir).argv("qemu", vc.vmm_program("qemu")) + [
        "-incoming", "exec:cat %s" % snap]


def restores(kind, gdir, work, snap, iters, line=False):
    out = []
    for i in range(iters):
        ms, con = first_output(restore_argv(kind, gdir, snap),
                               os.path.join(work, "%s-restore%d.log" % (kind, i)), line=line)
        out.append(ms)
        if con:
            con.close()
    return out


def api_restore(gdir, work, snap, i, timeout=60):
    """ms from sending PUT /snapshot/load to an empty vessel-vmm (started and
    serving before the clock starts, the request on the connection that
    checked it is empty) until the restored guest's first console byte;
    None when it never prints again (hung)."""
    sock = os.path.join(work, "empty%d.sock" % i)
    con = vc.Console([vc.vmm_program("vessel"), "--api", sock, "--serial", "stdio",
                      "--timeout", "600"],
                     os.path.join(work, "vessel-api-restore%d.log" % i), scale=1.0)
    try:
        sl.api(sock, "GET", "/vm")  # waits for the socket
        # one connection, as a manager keeps: ready and empty, then the load
        c = sl._UnixHTTP(sock, timeout)
        c.request("GET", "/vm")
        r = c.getresponse()
        out = json.loads(r.read())
        if r.status != 200 or out.get("state") != "empty":
            raise OSError("vessel-vmm --api alone: GET /vm %d %r" % (r.status, out))
        body = json.dumps({"path": snap})
        t0 = time.perf_counter()
        c.request("PUT", "/snapshot/load", body=body,
                  headers={"Content-Type": "application/json"})
        try:
            con.expect(r"\A[CNT 0-9\r\n]", timeout)
            ms = (time.perf_counter() - t0) * 1000
            con.expect(r"CNT \d+\r", timeout)
        except vc.TestFailure:
            ms = None
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            raise OSError("PUT /snapshot/load into an empty vessel-vmm: HTTP %d" % r.status)
        return ms
    finally:
        con.close()


def ten_vms(kind, gdir, work, snap):
    cons = []
    try:
        for i in range(10):
            ms, con = first_output(restore_argv(kind, gdir, snap),
                                   os.path.join(work, "%s-ten%d.log" % (kind, i)), 120)
            if not con:
                return None
            cons.append(con)
        time.sleep(1)
        return sum(children_pss(c) for c in cons) / 1024
    finally:
        for c in cons:
            c.close()


def vessel_migrate(gdir, work, writer):
    src, sock = boot("vessel", gdir, work, "vmsrc")
    with src:  # both VMMs are killed whatever happens
        src.send(FAST.replace("done)", "sleep 0.05; done)") + "\n")
        if writer:
            src.send(WRITER + "\n")
        src.expect(r"CNT 20", 60)
        mig = os.path.join(work, "vmig.sock")
        with vc.Console([vc.vmm_program("vessel"), "--incoming", "unix:" + mig,
                         "--serial", "stdio", "--timeout", "600"],
                        os.path.join(work, "vmdst.log"), scale=1.0):
            deadline = time.monotonic() + 60
            while not os.path.exists(mig):
                if time.monotonic() > deadline:
                    return None, None
                time.sleep(0.01)
            sl.api(sock, "PUT", "/migrate", {"uri": "unix:" + mig})
            src.wait_exit(600)
    m = re.search(r"completed: total ([\d.]+) ms, downtime ([\d.]+) ms", src.buf)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def qemu_migrate(gdir, work, writer):
    src, sock = boot("qemu", gdir, work, "qmsrc")
    with src:  # both QEMUs are killed whatever happens
        src.send(FAST.replace("done)", "sleep 0.05; done)") + "\n")
        if writer:
            src.send(WRITER + "\n")
        src.expect(r"CNT 20", 120)
        port = 46000 + os.getpid() % 1000
        dsock = os.path.join(work, "qmdst.sock")
        dargv = machine(gdir).argv("qemu", vc.vmm_program("qemu")) + [
            "-qmp", "unix:%s,server=on,wait=off" % dsock,
            "-incoming", "tcp:127.0.0.1:%d" % port]
        with vc.Console(dargv, os.path.join(work, "qmdst.log"), scale=1.0):
            dq = Qmp(dsock)
            q = Qmp(sock)
            try:
                q.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
                st = qemu_wait_migration(q)
            finally:
                q.close()
                dq.close()
    if st.get("status") != "completed":
        return None, None
    return float(st.get("total-time", 0)), float(st.get("downtime", 0))


def main():
    iters = int(os.environ.get("BENCH_SNAPSHOT_ITERATIONS", "3"))
    gdir = vc.guest_dir()
    work = tempfile.mkdtemp(prefix="vessel-bench-snapshot-")
    try:
        print("bench/lifecycle snapshots: %s guest, %d iterations (medians)" % (MEM, iters))
        vt, vs, vload, vsnap = vessel_save(gdir, work, iters)
        qt, qs, qsnap = qemu_save(gdir, work, iters)
        row("snapshot save time", vt, qt, "ms")
        row("snapshot size on disk", vs, qs, "MiB")
        print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        vr, vf = [], []
        for i in range(iters):  # the floor interleaved with the restores
            vr += restores("vessel", gdir, work, vsnap, 1)
            vf.append(spawn_floor(os.path.join(work, "floor%d.log" % i)))
        qr = restores("qemu", gdir, work, qsnap, iters)
        row("restore to running (process)", med(vr), med(qr), "ms")
        print("%-28s vessel %s   (vessel-vmm with an unknown option until its first byte, "
              "interleaved with the row above: the process start in it)"
              % ("spawn floor (process)", fmt(med(vf), "ms")))
        va = [api_restore(gdir, work, vsnap, i) for i in range(iters)]
        vl = restores("vessel", gdir, work, vsnap, iters, line=True)
        ql = restores("qemu", gdir, work, qsnap, iters, line=True)
        row("restore to first whole line", med(vl), med(ql), "ms")
        print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("%-28s vessel %s   (PUT /snapshot/load, in-process, target <= 5 ms)"
              % ("restore to running (load)", fmt(vload, "ms")))
        print("%-28s vessel %s   (PUT /snapshot/load into an empty --api process, "
              "as Firecracker's LoadSnapshot, target <= 5 ms)"
              % ("restore to running (API, started process)", fmt(med(va), "ms")))
        if None in qr:
            print("  qemu: %d of %d restores never printed again (hung)"
                  % (qr.count(None), len(qr)))
        row("10 VMs from one snapshot PSS", ten_vms("vessel", gdir, work, vsnap),
            ten_vms("qemu", gdir, work, qsnap), "MiB")
        for writer in (False, True):
            what = "busy" if writer else "idle"
            vt, vd = vessel_migrate(gdir, work, writer)
            qt, qd = qemu_migrate(gdir, work, writer)
            row("migrate %s total" % what, vt, qt, "ms")
            row("migrate %s downtime" % what, vd, qd, "ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
