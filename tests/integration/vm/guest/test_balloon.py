#!/usr/bin/env python3
"""vm-api-balloon: live memory resize with virtio-balloon.

A 256 MiB guest first touches ~150 MiB (a file in tmpfs, then removed) so
the host backs that memory.  PATCH /balloon {"memory_mib": 96} must make
the guest's driver inflate to 160 MiB: GET /balloon reaches the target,
the vessel-vmm process's RSS drops by at least 100 MiB (pages freed with
MADV_DONTNEED), the guest's `free` total stays and its free memory drops by
at least 100 MiB, and GET /balloon/statistics reports fresh numbers (free,
available, total, caches, page faults, swap) that agree with it.  /metrics exports the balloon.  With the balloon inflated,
writing a 120 MiB tmpfs file must succeed: the guest deflates by itself
under memory pressure (VIRTIO_BALLOON_F_DEFLATE_ON_OOM).  Deflating back to
256 MiB gives the memory back to the guest.  A target above --mem is refused (400).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402

MiB = 1 << 20


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    vc.fail("no VmRSS for pid %d" % pid)


def guest_free(con):
    """(total, free) in bytes from the guest's /proc/meminfo."""
    _, out = con.run("grep -E '^(MemTotal|MemFree):' /proc/meminfo")
    vals = dict((l.split(":")[0], int(l.split()[1]) * 1024) for l in out.strip().splitlines())
    return vals["MemTotal"], vals["MemFree"]


def wait_balloon(api, timeout):
    deadline = time.monotonic() + timeout * vc.timeout_scale()
    while True:
        s, b = api.request("GET", "/balloon")
        if s != 200:
            vc.fail("GET /balloon answered %d %r" % (s, b))
        if b["actual_balloon_bytes"] == b["target_balloon_bytes"]:
            return b
        if time.monotonic() > deadline:
            vc.fail("balloon stuck at %d of %d bytes" %
                    (b["actual_balloon_bytes"], b["target_balloon_bytes"]))
        time.sleep(0.1)


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=1, mem="256M")
    sock = os.path.join(work, "api.sock")
    argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", sock, "--balloon"]
    with vc.Console(argv, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock, timeout=30)
        api.wait_ready(30)
        pid = con.proc.pid
        con.run("dd if=/dev/zero of=/tmp/fill bs=1M count=150 2>/dev/null; rm /tmp/fill")
        total0, free0 = guest_free(con)
        rss0 = rss(pid)

        s, b = api.request("PATCH", "/balloon", {"memory_mib": 512})
        if s != 400 or "error" not in b:
            vc.fail("a target above --mem answered %d %r" % (s, b))

        s, b, dt = api.timed("PATCH", "/balloon", {"memory_mib": 96})
        if s != 200 or b["memory_mib"] != 96 or b["target_balloon_bytes"] != 160 * MiB:
            vc.fail("PATCH /balloon answered %d %r" % (s, b))
        print("PATCH /balloon: %.3f ms" % (dt * 1000))
        t0 = time.monotonic()
        b = wait_balloon(api, 60)
        print("inflated 160 MiB in %.3f s" % (time.monotonic() - t0))
        rss1 = rss(pid)
        total1, free1 = guest_free(con)
        print("host RSS %d -> %d MiB; guest free %d -> %d MiB" %
              (rss0 // MiB, rss1 // MiB, free0 // MiB, free1 // MiB))
        if rss1 > rss0 - 100 * MiB:
            vc.fail("host RSS went from %d to %d MiB: the balloon did not return memory" %
                    (rss0 // MiB, rss1 // MiB))
        if free1 > free0 - 100 * MiB:
            vc.fail("guest free memory went from %d to %d MiB" % (free0 // MiB, free1 // MiB))
        if b["guest_memory_bytes"] != 96 * MiB or b["inflated_pages_total"] < 160 * 256:
            vc.fail("GET /balloon after inflating: %r" % b)

        s, st = api.request("GET", "/balloon/statistics")
        if s != 200 or not st.get("fresh") or "free_memory_bytes" not in st:
            vc.fail("GET /balloon/statistics answered %d %r" % (s, st))
        for key in ("free_memory_bytes", "total_memory_bytes", "available_memory_bytes",
                    "disk_caches_bytes", "major_faults", "minor_faults", "swap_in_bytes",
                    "swap_out_bytes"):
            if key not in st:
                vc.fail("statistics lack %s: %r" % (key, st))
        if st["minor_faults"] == 0:
            vc.fail("statistics report no page faults: %r" % st)
        if abs(st["free_memory_bytes"] - free1) > 16 * MiB or st["total_memory_bytes"] != total1:
            vc.fail("statistics %r disagree with the guest's meminfo (free %d, total %d)" %
                    (st, free1, total1))
        s, metrics = api.request("GET", "/metrics")
        if "vessel_vmm_balloon_actual_bytes %d" % (160 * MiB) not in metrics or \
                'vessel_vmm_guest_memory_stat_bytes{stat="free_memory_bytes"}' not in metrics or \
                'vessel_vmm_guest_page_faults_total{kind="minor"}' not in metrics:
            vc.fail("/metrics lacks the balloon: %s" % metrics[-1500:])

        # deflate-on-oom: the guest needs more than it has and takes it back
        st, out = con.run("dd if=/dev/zero of=/tmp/fill bs=1M count=120 2>&1; rm -f /tmp/fill",
                          check=False, timeout=300)
        if st != 0 or "120+0 records out" not in out:
            vc.fail("a 120 MiB tmpfs file in a 96 MiB guest failed (deflate-on-oom): %s" % out)
        s, b = api.request("GET", "/balloon")
        if b["deflated_pages_total"] == 0 or b["actual_balloon_bytes"] >= 160 * MiB:
            vc.fail("the guest did not deflate under memory pressure: %r" % b)
        print("deflate-on-oom: balloon down to %d MiB" % (b["actual_balloon_bytes"] // MiB))

        s, b = api.request("PATCH", "/balloon", {"memory_mib": 256})
        if s != 200:
            vc.fail("deflate answered %d %r" % (s, b))
        b = wait_balloon(api, 60)
        total2, free2 = guest_free(con)
        if free2 < free1 + 100 * MiB or b["deflated_pages_total"] < 160 * 256:
            vc.fail("after deflating: guest free %d MiB (was %d), %r" %
                    (free2 // MiB, free1 // MiB, b))
        # the memory is usable again
        con.run("dd if=/dev/zero of=/tmp/fill bs=1M count=150 2>/dev/null; rm /tmp/fill")
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
