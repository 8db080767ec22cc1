#!/usr/bin/env python3
"""wfi-idle.py ELF: runs the idle program under vessel-vmm with 1 and 2
harts and checks that WFI idles the host: the program sleeps 1.5 s of guest
time, so wall time must be >= 1.4 s while the CPU time vessel-vmm uses
stays below 25% of it.  Exit 77 when the ELF or vessel-vmm is missing."""
import os
import resource
import subprocess
import sys
import time

elf = sys.argv[1]
root = os.environ.get("VESSEL_BUILD_ROOT", ".")
vmm = os.environ.get("VESSEL_VESSEL_VMM",
                     os.path.join(root, "cmd/vessel-vmm/vessel-vmm"))
if not os.path.isfile(elf) or os.path.getsize(elf) == 0:
    print("SKIP: no ELF")
    sys.exit(77)
if not os.access(vmm, os.X_OK):
    print(f"SKIP: {vmm} not built")
    sys.exit(77)

status = 0
for cpus in (1, 2):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([vmm, "--bios", elf, "--cpus", str(cpus),
                        "--timeout", "30"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"cpus={cpus}: exit {r.returncode}, wall {wall:.2f} s, "
          f"cpu {cpu:.2f} s")
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        print(f"FAIL: vessel-vmm exit {r.returncode}: {r.stderr.strip()}")
        status = 1
    elif wall < 1.4:
        print("FAIL: returned before 1.5 s of guest time had passed")
        status = 1
    elif cpu > 0.25 * wall:
        print("FAIL: WFI kept the host busy")
        status = 1
sys.exit(status)
