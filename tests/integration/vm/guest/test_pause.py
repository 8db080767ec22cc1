#!/usr/bin/env python3
"""vm-api-pause: pause and resume through the control API.

A guest program prints a counter every 100 ms.  While the VM is paused
(3 s) no tick may appear and a line typed meanwhile must not be echoed
(devices deliver nothing); after resuming the count continues one by one
from where it stopped and the typed line runs.  No time jump: the guest's uptime
(CLOCK_BOOTTIME = CLOCK_MONOTONIC here, from the timer CSR) advances by
about the running time only -- at least 2.4 s of the 3 s pause are missing
from it -- and GET /vm's guest_time_s trails uptime_s by paused_s.  Each
PUT /vm/state answers 200 with the new state; the latencies are printed
(bench/lifecycle measures them; no timing is asserted here).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402

PAUSE_S = 3.0


def last_tick(buf):
    ticks = re.findall(r"tick (\d+)", buf)
    return int(ticks[-1]) if ticks else 0


def guest_uptime(con):
    _, out = con.run("cut -d' ' -f1 /proc/uptime")
    return float(out.strip())


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=2, mem="128M")
    sock = os.path.join(work, "api.sock")
    argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock, timeout=30)
        api.wait_ready(30)
        u0, t0 = guest_uptime(con), time.monotonic()
        con.send("sh -c 'i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo tick $i; "
                 "sleep 0.1; done'\n")
        con.expect(r"tick 5\r*\n", 60, "the first ticks")
        s, body, dt = api.timed("PUT", "/vm/state", {"state": "paused"})
        if s != 200 or body != {"state": "paused"}:
            vc.fail("pause answered %d %r" % (s, body))
        print("pause: %.3f ms" % (dt * 1000))
        tp = time.monotonic()
        # output already in the UART pipe may still drain: settle, then watch
        while con._read(0.2):
            if time.monotonic() - tp > 0.5:
                break
        stopped_at = last_tick(con.buf)
        seen = len(con.buf)
        # typed while paused: must be neither echoed nor run until resumed
        con.send("echo typed-$((6*7))\n")
        while time.monotonic() - tp < PAUSE_S:
            con._read(0.2)
        if len(con.buf) != seen:
            vc.fail("the guest made progress while paused: %r" % con.buf[seen:][:300])
        s, body = api.request("GET", "/vm")
        if s != 200 or body["state"] != "paused":
            vc.fail("GET /vm while paused: %d %r" % (s, body))
        s, body, dt = api.timed("PUT", "/vm/state", {"state": "running"})
        if s != 200 or body != {"state": "running"}:
            vc.fail("resume answered %d %r" % (s, body))
        print("resume: %.3f ms" % (dt * 1000))
        paused_host = time.monotonic() - tp
        con.expect(r"tick 50\r*\n", 60, "the last tick")
        ticks = [int(t) for t in re.findall(r"tick (\d+)", con.buf)]
        if ticks != list(range(1, 51)):
            vc.fail("the counter did not continue one by one across the pause: %r" % ticks)
        con.expect(r"typed-42", 30, "the line typed while paused")
        u1, t1 = guest_uptime(con), time.monotonic()
        guest_dt, host_dt = u1 - u0, t1 - t0
        print("host %.2f s, guest %.2f s, paused %.2f s" % (host_dt, guest_dt, paused_host))
        if guest_dt > host_dt - 0.8 * PAUSE_S:
            vc.fail("guest uptime advanced %.2f s over %.2f s of host time with %.2f s "
                    "paused: the pause leaked into the guest clock" %
                    (guest_dt, host_dt, paused_host))
        if guest_dt < 0.5 * (host_dt - paused_host) - 1:
            vc.fail("guest uptime advanced only %.2f s over %.2f s of running time" %
                    (guest_dt, host_dt - paused_host))
        s, body = api.request("GET", "/vm")
        gap = body["uptime_s"] - body["paused_s"] - body["guest_time_s"]
        if body["paused_s"] < 0.9 * PAUSE_S or abs(gap) > 0.05:
            vc.fail("GET /vm: paused_s %.3f, uptime_s - paused_s - guest_time_s = %.3f" %
                    (body["paused_s"], gap))
        # the guest's timers still fire: a sleep takes its time
        con.run("sleep 1")
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
