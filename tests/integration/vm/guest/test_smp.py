#!/usr/bin/env python3
"""vm-boot-smp: a 3-hart guest runs work on every hart.

Checks that the kernel brought up all harts (/sys/devices/system/cpu/online
is 0-2), that a process pinned with taskset to hart i really executes there
(field 39 of /proc/self/stat, "processor", read by the pinned process
itself), and that busy loops pinned to each hart at the same time all
accumulate user time: every cpuN line of /proc/stat gains at least a
quarter of what the harts gained on average, and at least a tenth of the
loop duration in ticks (the guest's ticks follow the host's clock, so on an
overloaded host each hart's share of the wall time shrinks: a fixed quarter
of the duration failed there with 98 of 100 ticks while every hart ran).
With VESSEL_EXPECT_HART_THREADS=1 (or 0) it also checks that the VMM runs
(or does not run) a host thread per hart, named vessel-hartN
(/proc/PID/task/*/comm); with =default, what vessel-vmm's default is for
VESSEL_SMP_HARTS harts (3 unless set) on this host: hart threads when the
host CPUs this process may use are at least as many.
vm-boot-default-threads-smp and vm-boot-default-threads-smp-2 start
vessel-vmm without VESSEL_HART_THREADS or a flag, with 3 and 2 harts.
Ends with a clean poweroff.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

HARTS = int(os.environ.get("VESSEL_SMP_HARTS", "3"))
BUSY_S = 4  # long enough that loop start-up on a loaded host is small against it


def cpu_user_ticks(con):
    _, out = con.run("grep '^cpu[0-9]' /proc/stat")
    ticks = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and re.fullmatch(r"cpu\d+", f[0]):
            ticks[int(f[0][3:])] = int(f[1]) + int(f[2]) + int(f[3])
    return ticks


def thread_names(pid):
    names = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.add(f.read().strip())
        except OSError:
            pass  # the thread ended
    return names


def check_hart_threads(con):
    expect = os.environ.get("VESSEL_EXPECT_HART_THREADS")
    if expect is None or con.proc is None or vc.vmm_kind() != "vessel":
        return
    if expect == "default":
        expect = "1" if len(os.sched_getaffinity(0)) >= HARTS else "0"
    names = thread_names(con.proc.pid)
    harts = {"vessel-hart%d" % i for i in range(HARTS)}
    if expect == "1" and not harts <= names:
        vc.fail("expected a host thread per hart (%s), the VMM has threads %r"
                % (", ".join(sorted(harts)), sorted(names)))
    if expect == "0" and harts & names:
        vc.fail("expected all harts on one thread, the VMM has threads %r" % sorted(names))


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=HARTS, mem="256M")
    with vc.start(m, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        check_hart_threads(con)
        _, out = con.run("cat /sys/devices/system/cpu/online")
        if out.strip() != "0-%d" % (HARTS - 1):
            vc.fail("online harts %r, expected 0-%d" % (out.strip(), HARTS - 1))
        for i in range(HARTS):
            _, out = con.run("taskset -c %d cut -d' ' -f39 /proc/self/stat" % i)
            if out.strip() != str(i):
                vc.fail("process pinned to hart %d ran on %r" % (i, out.strip()))
        before = cpu_user_ticks(con)
        loops = " ".join("taskset -c %d timeout %d sh -c 'while :; do :; done' &"
                         % (i, BUSY_S) for i in range(HARTS))
        con.run(loops + " wait", timeout=60 + 4 * BUSY_S)
        after = cpu_user_ticks(con)
        if sorted(after) != list(range(HARTS)):
            vc.fail("/proc/stat lists cpus %r" % sorted(after))
        _, hz = con.run("getconf CLK_TCK 2>/dev/null || echo 100")
        gains = [after[i] - before.get(i, 0) for i in range(HARTS)]
        need = max(int(hz.strip() or 100) * BUSY_S // 10, sum(gains) // HARTS // 4)
        for i in range(HARTS):
            got = gains[i]
            if got < need:
                vc.fail("hart %d gained %d busy ticks during the pinned loops, "
                        "expected >= %d (before %r, after %r)"
                        % (i, got, need, before, after))
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
