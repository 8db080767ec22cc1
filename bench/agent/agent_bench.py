#!/usr/bin/env python3
"""bench/agent: guest agent latency, vessel-vmm vs QEMU TCG.

For each VMM, alternating, BENCH_ITERATIONS boots of the recipe guest with
the agent port on a unix socket; in each, vessel-vmm-agent measures
BENCH_COUNT PING round trips (frame to the guest agent and back) and
BENCH_COUNT `exec true` round trips (spawn of busybox true in the guest,
output and exit status back).  Prints the medians over all round trips and
the vessel/qemu ratio (below 1: vessel is faster).
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration",
                                "vm", "guest"))
import vmconsole as vc  # noqa: E402


def one_boot(kind, gdir, work, i, count, cli):
    sock = os.path.join(work, "%s-%d.sock" % (kind, i))
    m = vc.Machine(gdir, cpus=1, mem="256M", timeout=600, agent=sock)
    with vc.start(m, os.path.join(work, "%s-%d.log" % (kind, i)), kind=kind) as con:
        con.scale = 1.0
        con.wait_banner(timeout=600)
        ping = subprocess.run([cli, sock, "ping", str(count)], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=600)
        if ping.returncode != 0:
            vc.fail("%s: ping failed: %s" % (kind, ping.stderr))
        pings = [float(x) for x in re.findall(r"pong ([0-9.]+) ms", ping.stdout)]
        execs = []
        for _ in range(count):
            r = subprocess.run([cli, sock, "latency", "1"], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, timeout=600)
            mm = re.search(r"median=([0-9.]+) ms", r.stdout)
            if r.returncode != 0 or not mm:
                vc.fail("%s: exec failed: %s" % (kind, r.stderr))
            execs.append(float(mm.group(1)))
        con.poweroff(timeout=120)
    return pings, execs


def main():
    iters = int(os.environ.get("BENCH_ITERATIONS", "3"))
    count = int(os.environ.get("BENCH_COUNT", "30"))
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    cli = os.environ.get("VESSEL_VESSEL_VMM_AGENT", "")
    if not cli or not os.access(cli, os.X_OK):
        vc.skip("vessel-vmm-agent not built")
    kinds = ["vessel"] + (["qemu"] if shutil.which("qemu-system-riscv64") else [])
    work = tempfile.mkdtemp(prefix="vessel-bench-agent-")
    res = {k: ([], []) for k in kinds}
    try:
        for i in range(iters):
            for k in kinds:
                p, e = one_boot(k, gdir, work, i, count, cli)
                res[k][0].extend(p)
                res[k][1].extend(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("bench/agent: %d boots x %d round trips per VMM (medians, ms)" % (iters, count))
    print("%-10s %10s %10s" % ("", "ping", "exec true"))
    med = {k: (statistics.median(res[k][0]), statistics.median(res[k][1])) for k in kinds}
    for k in kinds:
        print("%-10s %10.2f %10.2f" % (k, med[k][0], med[k][1]))
    if "qemu" in med:
        print("%-10s %10.2f %10.2f" % ("ratio", med["vessel"][0] / med["qemu"][0],
                                       med["vessel"][1] / med["qemu"][1]))


if __name__ == "__main__":
    try:
        main()
    except vc.TestFailure as e:
        print("bench/agent: FAIL: %s" % e)
        sys.exit(1)
