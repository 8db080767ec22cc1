#!/usr/bin/env python3
"""bench/smp: multi-hart guests, vessel-vmm vs QEMU TCG (-smp N, MTTCG).

The same OpenSBI, kernel and initramfs under both VMMs, in the same run.
Rows (median of BENCH_ITERATIONS, seconds, measured by the guest with
/proc/uptime):

  job 1h       one CPU-bound job (a busybox sh loop of 30,000 iterations)
               on a 1-hart guest
  job 2h       the same job on a 2-hart guest (target: no slower than 1h)
  2 jobs 1h    two such jobs in parallel on a 1-hart guest
  2 jobs 2h    two such jobs in parallel on a 2-hart guest (target:
               >= 1.8x the throughput of "2 jobs 1h")
  boot Nh      seconds from spawning the VMM to the guest init's banner,
               N = 1, 2, 4 harts

Prints vessel (its default: a host thread per hart with 2 or more harts),
QEMU, the vessel/QEMU ratio (< 1: vessel faster), and for each VMM the
2-hart speed-up of the parallel jobs (2 jobs 1h / 2 jobs 2h) and the host's
load average.
The 2-hart rows also run under `vessel-vmm --no-hart-threads` (every hart
on one host thread, taking turns), printed beside the default.
Env: BENCH_ITERATIONS (7), BENCH_KERNEL (Image path or `defconfig`; default
the recipe kernel), VESSEL_VESSEL_VMM, VESSEL_GUEST_DIR.
"""
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration",
                                "vm", "guest"))
import vmconsole as vc  # noqa: E402

JOB = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"


def kernel_image():
    k = os.environ.get("BENCH_KERNEL", "")
    if k == "defconfig":
        import defconfig
        return defconfig.image()
    return k or None


def timed(con, cmd):
    _, out = con.run("read a x < /proc/uptime; %s; read b x < /proc/uptime; "
                     "echo \"elapsed $a $b\"" % cmd, timeout=900)
    f = out.split()
    return float(f[-1]) - float(f[-2])


def machine(gdir, image, harts):
    # QEMU with one TCG thread per hart (MTTCG), the peer the rows compare
    # against: the tests' default, one thread for all harts, is not it
    m = vc.Machine(gdir, cpus=harts, mem="256M", timeout=3600, qemu_mttcg=True)
    if image:
        m.kernel = image
    return m


def session(kind, gdir, image, harts, iters, work, res):
    """Boot a `harts`-hart guest: boot time, then the job rows."""
    if kind == "vessel-1thread":
        os.environ["VESSEL_VMM_EXTRA_ARGS"] = "--no-hart-threads"
        try:
            return session("vessel", gdir, image, harts, iters, work, res)
        finally:
            del os.environ["VESSEL_VMM_EXTRA_ARGS"]
    log = os.path.join(work, "%s-%dh.log" % (kind, harts))
    with vc.start(machine(gdir, image, harts), log, kind=kind) as con:
        con.scale = 1.0
        res["boot %dh" % harts].append(con.wait_banner(timeout=900))
        if harts <= 2:
            one = "sh -c '%s'" % JOB
            for _ in range(iters):
                res["job %dh" % harts].append(timed(con, one))
                res["2 jobs %dh" % harts].append(
                    timed(con, "%s & %s & wait" % (one, one)))
        if con.poweroff(timeout=120) != 0:
            vc.fail("%s: exit status %s after poweroff" % (kind, con.status))
    # more boot samples without the job rows
    for _ in range(iters - 1):
        with vc.start(machine(gdir, image, harts), log + ".boot", kind=kind) as con:
            con.scale = 1.0
            res["boot %dh" % harts].append(con.wait_banner(timeout=900))
            con.poweroff(timeout=120)


ROWS = ["job 1h", "job 2h", "2 jobs 1h", "2 jobs 2h", "boot 1h", "boot 2h",
        "boot 4h"]


def main():
    iters = int(os.environ.get("BENCH_ITERATIONS", "7"))
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    image = kernel_image()
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    if not vmm or not os.access(vmm, os.X_OK):
        print("bench/smp: vessel-vmm not found (VESSEL_VESSEL_VMM=%r)" % vmm)
        return 1
    load0 = os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="vessel-bench-smp-")
    med = {}
    for kind in ("vessel", "vessel-1thread", "qemu"):
        res = {r: [] for r in ROWS}
        try:
            for harts in ((2,) if kind == "vessel-1thread" else (1, 2, 4)):
                session(kind, gdir, image, harts, iters, work, res)
        except vc.TestFailure as e:
            print("bench/smp: %s failed: %s (logs in %s)"
                  % (kind, str(e).splitlines()[0], work))
            return 1
        med[kind] = {k: statistics.median(v) for k, v in res.items() if v}
    print("bench/smp: kernel %s, 256 MiB, median of %d, seconds "
          "(ratio vessel/qemu, < 1: vessel faster):"
          % (image or os.path.join(gdir, "Image"), iters))
    print("  %-10s %9s %9s %7s" % ("row", "vessel", "qemu", "ratio"))
    for r in ROWS:
        v, q = med["vessel"][r], med["qemu"][r]
        print("  %-10s %9.3f %9.3f %6.2fx" % (r, v, q, v / q))
    print("  --no-hart-threads (2 harts on one host thread) beside the default, same run:")
    print("  %-10s %9s %9s %9s %10s" % ("row", "vessel", "1thread", "qemu", "1thr/qemu"))
    for r in ("job 2h", "2 jobs 2h", "boot 2h"):
        v, t, q = med["vessel"][r], med["vessel-1thread"][r], med["qemu"][r]
        print("  %-10s %9.3f %9.3f %9.3f %9.2fx" % (r, v, t, q, t / q))
    for kind in ("vessel", "qemu"):
        print("  %-7s 2-hart speed-up of 2 parallel jobs: %.2fx (target >= 1.8), "
              "1 job 2h/1h: %.2f (target <= 1)"
              % (kind, med[kind]["2 jobs 1h"] / med[kind]["2 jobs 2h"],
                 med[kind]["job 2h"] / med[kind]["job 1h"]))
    # the 1-hart rows are the baseline of the one-thread 2-hart rows too
    v1, t2 = med["vessel"], med["vessel-1thread"]
    print("  %-7s 2-hart speed-up of 2 parallel jobs: %.2fx (target >= 1.8), "
          "1 job 2h/1h: %.2f (target <= 1)"
          % ("1thread", v1["2 jobs 1h"] / t2["2 jobs 2h"], t2["job 2h"] / v1["job 1h"]))
    print("  host: %d CPUs, load average %.2f at the start, %.2f at the end"
          % (os.cpu_count() or 0, load0, os.getloadavg()[0]))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
