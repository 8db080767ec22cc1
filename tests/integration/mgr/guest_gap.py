#!/usr/bin/env python3
"""guest_gap.py OUT GLOB... - the guest's downtime during a live move, as
the world outside it sees it.

The guest prints `tick N` on its serial console every ~10 ms; each host's
VMM writes that console to its instance's console.log.  This watcher polls
every file matching any GLOB (the source's and, once it exists, the
destination's console.log) every millisecond, stamps each new `tick N`
line with the host's monotonic clock when it first appears, and on SIGTERM
(or SIGINT) writes to OUT the longest interval between two consecutive
ticks in the order of N (the last tick printed on the source and the first
printed on the destination are consecutive), in ms, with the ticks around
it:
    gap_ms 12.3
    around 1041 1042
    ticks 2345
The guest's own clock stops while it is paused (its mtime continues from
the saved value), so a timestamp printed by the guest cannot show the gap;
the host's clock at arrival does."""
import glob
import os
import re
import signal
import sys
import time

TICK = re.compile(rb"tick (\d+)")


def main():
    out, globs = sys.argv[1], sys.argv[2:]
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    files = {}  # path -> [fd, pending bytes]
    seen = {}  # tick -> arrival (s)
    where = {}  # tick -> the file it came from
    while not stop:
        for g in globs:
            for p in glob.glob(g):
                if p not in files:
                    try:
                        files[p] = [os.open(p, os.O_RDONLY), b""]
                    except OSError:
                        pass
        now = time.monotonic()
        for p, f in files.items():
            while True:
                try:
                    data = os.read(f[0], 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                f[1] += data
            *lines, f[1] = f[1].split(b"\n")
            for line in lines:
                m = TICK.search(line)
                if m and int(m.group(1)) not in seen:
                    seen[int(m.group(1))] = now
                    where[int(m.group(1))] = p
        time.sleep(0.001)
    ticks = sorted(seen)
    gap, around = 0.0, (0, 0)
    for a, b in zip(ticks, ticks[1:]):
        if seen[b] - seen[a] > gap:
            gap, around = seen[b] - seen[a], (a, b)
    gaps = sorted(((seen[b] - seen[a], a, b) for a, b in zip(ticks, ticks[1:])), reverse=True)
    with open(out, "w") as o:
        o.write("gap_ms %.1f\naround %d %d\nticks %d\n" % (gap * 1e3, around[0], around[1], len(ticks)))
        for g, a, b in gaps[:4]:
            o.write("# %.1f ms between tick %d (%s) and %d (%s)\n" % (g * 1e3, a, where[a], b, where[b]))


if __name__ == "__main__":
    main()
