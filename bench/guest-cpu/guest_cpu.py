#!/usr/bin/env python3
"""bench/guest-cpu: CPU work inside a Linux guest, vessel-vmm vs QEMU TCG.

bench/cpu measures bare-metal programs; this measures the same kind of work
where guests live: busybox user space in a Linux guest with paging on, so
the soft TLB, page walks, traps, syscalls and translation of freshly exec'd
code all count.  For each VMM (same OpenSBI, kernel, initramfs, 1 hart,
256 MiB), one boot, then each row BENCH_ITERATIONS times (median):

  md5sum       md5sum of a 24 MiB file in tmpfs
  gzip         gzip -1 of 8 MiB (copies of the busybox binary: real code)
  shell-loop   a busybox sh loop of 30,000 iterations (i=$((i+1)))
  fork-exec    100 fork+exec of /bin/true
  page-faults  10 processes each touching a fresh 16 MiB buffer
               (dd bs=16M count=1: 4096 page faults each)
  syscalls     dd bs=1 of 100,000 bytes /dev/zero -> /dev/null
               (200,000 read/write system calls)

Wall times are measured by the guest (/proc/uptime around the command, 10 ms
resolution; guest time is host wall-clock time in both VMMs).  CPU times are
the VMM process's user+system seconds (all its threads, /proc/PID/stat read
by the host before and after the command): on a loaded host they show the
work each VMM did, where wall time also counts the time it waited for a
core.  Prints vessel, QEMU and the vessel/QEMU ratio per row, wall and CPU
(< 1: vessel faster), and the host's load average before and after.
Env: BENCH_ITERATIONS (3), BENCH_KERNEL (the kernel Image; default the
recipe kernel; `defconfig` = guest/build-defconfig.sh's), VESSEL_VESSEL_VMM,
VESSEL_GUEST_DIR.
"""
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration",
                                "vm", "guest"))
import vmconsole as vc  # noqa: E402

SETUP = ("head -c 24m /dev/urandom > /tmp/h24 && "
         "for i in 1 2 3 4 5 6 7 8; do cat /bin/busybox; done | "
         "head -c 8m > /tmp/z8 && test $(wc -c < /tmp/z8) = 8388608")
ROWS = [
    ("md5sum", "md5sum /tmp/h24 >/dev/null"),
    ("gzip", "gzip -1 -c /tmp/z8 >/dev/null"),
    ("shell-loop", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"),
    ("fork-exec", "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done"),
    ("page-faults", "i=0; while [ $i -lt 10 ]; do "
     "dd if=/dev/zero of=/dev/null bs=16M count=1 2>/dev/null; i=$((i+1)); done"),
    ("syscalls", "dd if=/dev/zero of=/dev/null bs=1 count=100000 2>/dev/null"),
]


def kernel_image():
    k = os.environ.get("BENCH_KERNEL", "")
    if k == "defconfig":
        import defconfig
        return defconfig.image()
    return k or None


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User+system CPU seconds of process pid (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    # the fields after the command name (which may hold spaces): utime and
    # stime are fields 14 and 15 of proc(5), 12 and 13 after ") "
    f = stat[stat.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / TICK


def timed(con, cmd):
    """(wall seconds as the guest saw them, VMM CPU seconds) of cmd."""
    c0 = cpu_seconds(con.proc.pid)
    _, out = con.run("read a x < /proc/uptime; ( %s ); read b x < /proc/uptime; "
                     "echo \"elapsed $a $b\"" % cmd, timeout=900)
    c1 = cpu_seconds(con.proc.pid)
    f = out.split()
    return float(f[-1]) - float(f[-2]), c1 - c0


def run_vmm(kind, gdir, image, iters, work):
    m = vc.Machine(gdir, cpus=1, mem="256M", timeout=3600)
    if image:
        m.kernel = image
    res = {name: [] for name, _ in ROWS}
    cpu = {name: [] for name, _ in ROWS}
    with vc.start(m, os.path.join(work, kind + ".log"), kind=kind) as con:
        con.scale = 1.0
        con.wait_banner(timeout=600)
        con.run(SETUP, timeout=600)
        for _ in range(iters):
            for name, cmd in ROWS:
                wall, used = timed(con, cmd)
                res[name].append(wall)
                cpu[name].append(used)
        if con.poweroff(timeout=120) != 0:
            vc.fail("%s: exit status %s after poweroff" % (kind, con.status))
    return ({k: statistics.median(v) for k, v in res.items()},
            {k: statistics.median(v) for k, v in cpu.items()})


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    iters = int(os.environ.get("BENCH_ITERATIONS", "3"))
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    image = kernel_image()
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    if not vmm or not os.access(vmm, os.X_OK):
        print("bench/guest-cpu: vessel-vmm not found (VESSEL_VESSEL_VMM=%r)" % vmm)
        return 1
    work = tempfile.mkdtemp(prefix="vessel-bench-guest-cpu-")
    med = {}
    cpu = {}
    load0 = loadavg()
    for kind in ("vessel", "qemu"):
        try:
            med[kind], cpu[kind] = run_vmm(kind, gdir, image, iters, work)
        except vc.TestFailure as e:
            print("bench/guest-cpu: %s failed: %s (logs in %s)"
                  % (kind, str(e).splitlines()[0], work))
            return 1
    print("bench/guest-cpu: kernel %s, 1 hart, 256 MiB, median of %d, "
          "seconds (ratio vessel/qemu, < 1: vessel faster); load average "
          "%s before, %s after:"
          % (image or os.path.join(gdir, "Image"), iters, load0, loadavg()))
    print("  %-12s %9s %9s %7s   %9s %9s %7s" %
          ("row", "vessel", "qemu", "ratio", "cpu-vsl", "cpu-qemu", "ratio"))
    for name, _ in ROWS:
        v, q = med["vessel"][name], med["qemu"][name]
        cv, cq = cpu["vessel"][name], cpu["qemu"][name]
        print("  %-12s %9.3f %9.3f %6.2fx   %9.2f %9.2f %6.2fx" %
              (name, v, q, v / q, cv, cq, cv / cq if cq > 0 else 0.0))
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
