#!/usr/bin/env python3
"""vm-boot-defconfig-N: the distribution-sized kernel boots to a shell on N harts.

Boots Linux 6.1 built with the stock riscv `defconfig`
(guest/build-defconfig.sh: hundreds of drivers, SBI extension probing, the
SBI PMU driver, 5-level page tables whose mode the kernel probes by writing
satp and reading it back) with the recipe's busybox initramfs, N harts
(--harts=N, 1 or 4) and 256 MiB.  Then checks from inside the guest: the
running kernel is the defconfig one (/proc/config.gz has the defconfig
markers), every hart is online and runs a process pinned to it, the MMU
mode in /proc/cpuinfo is one the kernel settled on by probing
(sv39/sv48/sv57), the SBI PMU driver probed, the kernel log has no oops,
BUG, WARNING, panic or illegal-instruction report (watchdog reports of host
starvation excepted), and every hart computes the same awk sum at once.
Ends with `poweroff -f` and exit status 0.  Run under vessel-vmm and, as
the peer, QEMU (--vmm=qemu).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import defconfig  # noqa: E402
import vmconsole as vc  # noqa: E402

# Options that tell the stock defconfig from the recipe's tinyconfig kernel.
DEFCONFIG_MARKERS = ("CONFIG_PCI_HOST_GENERIC=y", "CONFIG_RISCV_PMU_SBI=y",
                     "CONFIG_PGTABLE_LEVELS=5", "CONFIG_SOC_SIFIVE=y")
# Kernel log lines that must not appear...
BAD_LOG = re.compile(r"Oops|BUG:|WARNING:|Kernel panic|illegal instruction|"
                     r"Unable to handle kernel|unhandled signal",
                     re.IGNORECASE)
# ... except reports of wall-clock starvation (the watchdogs of a guest
# whose host is loaded, e.g. the ASan build on a busy machine), which say
# nothing about the VMM's correctness.
TIMING_LOG = re.compile(r"soft lockup|workqueue lockup|stall", re.IGNORECASE)


def harts_arg():
    for arg in sys.argv[1:]:
        if arg.startswith("--harts="):
            return int(arg[len("--harts="):])
    return 1


def test(work):
    harts = harts_arg()
    gdir = vc.guest_dir()
    image = defconfig.image()
    m = vc.Machine(gdir, cpus=harts, mem="256M", timeout=600)
    m.kernel = image
    with vc.start(m, os.path.join(work, "console.log")) as con:
        # generous: the 4-hart boot of a big kernel in the ASan build
        con.wait_banner(timeout=400)
        _, out = con.run("zcat /proc/config.gz | grep -E '^CONFIG_(PCI_HOST_GENERIC|"
                         "RISCV_PMU_SBI|PGTABLE_LEVELS|SOC_SIFIVE)='")
        for marker in DEFCONFIG_MARKERS:
            if marker not in out.split():
                vc.fail("running kernel lacks %s: not the defconfig kernel?\n%s"
                        % (marker, out))
        _, out = con.run("cat /sys/devices/system/cpu/online")
        want = "0" if harts == 1 else "0-%d" % (harts - 1)
        if out.strip() != want:
            vc.fail("online harts %r, expected %r" % (out.strip(), want))
        for i in range(harts):
            _, out = con.run("taskset -c %d cut -d' ' -f39 /proc/self/stat" % i,
                             timeout=120)
            if out.strip() != str(i):
                vc.fail("process pinned to hart %d ran on %r" % (i, out.strip()))
        _, out = con.run("grep -m1 '^mmu' /proc/cpuinfo")
        if not re.search(r"mmu\s*:\s*sv(39|48|57)", out):
            vc.fail("no probed MMU mode in /proc/cpuinfo: %r" % out)
        _, log = con.run("dmesg", timeout=120)
        if not re.search(r"riscv-pmu-sbi: SBI PMU extension is available", log):
            vc.fail("the SBI PMU driver did not probe; kernel log:\n%s"
                    % log[-3000:])
        bad = [ln for ln in log.splitlines()
               if BAD_LOG.search(ln) and not TIMING_LOG.search(ln)]
        if bad:
            vc.fail("kernel log reports problems:\n%s" % "\n".join(bad[:20]))
        # some real work on every hart at once: each computes the same sum
        _, out = con.run(" ".join(
            "taskset -c %d awk 'BEGIN{for(i=0;i<20000;i++)s+=i%%7; print s}' &"
            % i for i in range(harts)) + " wait", timeout=300)
        sums = out.split()
        if sums != ["59997"] * harts:
            vc.fail("awk sums on %d harts: %r, expected 59997 each" % (harts, sums))
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
