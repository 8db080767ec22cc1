#!/usr/bin/env python3
"""bench/boot: boot and CPU-bound guest workload, vessel-vmm vs QEMU TCG.

For each VMM, in the same run and alternating between them, with the same
OpenSBI, kernel and initramfs (guest/build.sh) and the same machine shape:
  boot      seconds from spawning the VMM to the guest init's banner
  poweroff  seconds from spawning the VMM to its exit, for a guest booted
            with vessel.shell=no (boot, banner, poweroff -f)
  cpu       seconds, measured by the guest itself (/proc/uptime), of a
            CPU-bound busybox workload: md5sum of 32 MiB and an awk loop
Prints the median of each over the iterations and the vessel/qemu ratio
(below 1 means vessel is faster).
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration",
                                "vm", "guest"))
import vmconsole as vc  # noqa: E402

WORKLOAD = ("read a x < /proc/uptime; "
            "dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum >/dev/null; "
            "awk 'BEGIN{for(i=0;i<200000;i++)s+=i%7; print s}' >/dev/null; "
            "read b x < /proc/uptime; echo \"cpu-seconds $a $b\"")


def one_run(kind, gdir, cpus, work, i):
    res = {}
    m = vc.Machine(gdir, cpus=cpus, mem="256M", timeout=600)
    log = os.path.join(work, "%s-%d.log" % (kind, i))
    with vc.start(m, log, kind=kind) as con:
        con.scale = 1.0
        res["boot"] = con.wait_banner(timeout=600)
        _, out = con.run(WORKLOAD, timeout=600)
        f = out.split()
        res["cpu"] = float(f[-1]) - float(f[-2])
        st = con.poweroff(timeout=120)
        if st != 0:
            vc.fail("%s exit status %d after poweroff" % (kind, st))
    m = vc.Machine(gdir, cpus=cpus, mem="256M", timeout=600,
                   append="vessel.shell=no")
    with vc.start(m, log + ".2", kind=kind) as con:
        con.scale = 1.0
        st = con.wait_exit(600)
        res["poweroff"] = time.monotonic() - con.t0
        if st != 0 or "vessel-guest: powering off" not in con.buf:
            vc.fail("%s: non-interactive boot ended with status %d" % (kind, st))
    return res


def main():
    iters = int(os.environ.get("BENCH_ITERATIONS", "5"))
    cpus = int(os.environ.get("BENCH_CPUS", "1"))
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    kinds = ["qemu"]
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    if vmm and os.access(vmm, os.X_OK):
        kinds.insert(0, "vessel")
    else:
        print("bench/boot: vessel-vmm not found (VESSEL_VESSEL_VMM=%r); "
              "QEMU figures only" % vmm)
    results = {k: {"boot": [], "poweroff": [], "cpu": []} for k in kinds}
    failed = {}
    work = tempfile.mkdtemp(prefix="vessel-bench-boot-")
    for i in range(iters):
        for kind in kinds:
            if kind in failed:
                continue
            try:
                r = one_run(kind, gdir, cpus, work, i)
            except vc.TestFailure as e:
                failed[kind] = str(e).splitlines()[0]
                print("bench/boot: %s failed: %s (logs in %s)"
                      % (kind, failed[kind], work))
                continue
            for k, v in r.items():
                results[kind][k].append(v)
            print("  iter %d %-6s boot %6.2fs  boot+poweroff %6.2fs  cpu %6.2fs"
                  % (i + 1, kind, r["boot"], r["poweroff"], r["cpu"]))
    print("bench/boot: %d iteration(s), %d hart(s), 256 MiB, medians:" %
          (iters, cpus))
    med = {}
    for kind in kinds:
        if results[kind]["boot"]:
            med[kind] = {k: statistics.median(v) for k, v in
                         results[kind].items()}
            print("  %-6s boot-to-shell %6.2fs  boot-to-poweroff %6.2fs  "
                  "cpu workload %6.2fs" % (kind, med[kind]["boot"],
                                            med[kind]["poweroff"],
                                            med[kind]["cpu"]))
    if "vessel" in med and "qemu" in med:
        for k, label in (("boot", "boot-to-shell"),
                         ("poweroff", "boot-to-poweroff"),
                         ("cpu", "cpu workload")):
            print("  ratio vessel/qemu %-16s %5.2f  (<1: vessel faster)"
                  % (label, med["vessel"][k] / med["qemu"][k]))
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
