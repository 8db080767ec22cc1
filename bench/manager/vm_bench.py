#!/usr/bin/env python3
"""bench/manager VM rows: launch of a small VM to its guest's userspace and
to its poweroff, vessel vs libvirt 9 (virsh, QEMU TCG) vs plain QEMU, same
run, same OpenSBI, kernel and initramfs (guest/build.sh), 256 MiB, 1 hart.

Kinds, alternating in every iteration:
  vessel     `vessel launch vessel-guest NAME --vm` (the manager, through
             vesseld) until the launch returns, then until `vessel exec NAME
             -- true` answers (the guest agent runs in userspace); "n/a (no
             VM driver)" while vesseld cannot launch VMs
  vmm        vessel-vmm started directly with the guest booted with
             vessel.shell=no (banner, then poweroff -f): to the banner, to
             the process's exit
  libvirt    `virsh create` of a transient domain (same kernel, initramfs and
             -bios, serial to a file): until virsh returns, until the banner
             is in the serial file, until libvirt lists the domain no more
  qemu       qemu-system-riscv64 with the same arguments as bench/boot: to
             the banner, to the process's exit

Usage: vm_bench.py ITERATIONS WORKDIR [VIRSH-URI]
Env: VESSEL_GUEST_DIR, VESSEL_VESSEL_VMM, VESSEL_VESSEL (the CLI; its
VESSEL_SOCKET points at the bench's vesseld), BENCH_VM_NA (why the vessel
row is n/a, when the caller already knows).
Prints a table of medians with ratios (vessel/libvirt, vmm/libvirt,
vmm/qemu; below 1: vessel is faster).
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "vm", "guest"))
import vmconsole as vc  # noqa: E402

BANNER = re.compile(rb"vessel-guest: userspace up")


def direct(kind, gdir, work, i):
    """vessel-vmm or qemu spawned directly: (to banner, to exit) seconds."""
    m = vc.Machine(gdir, cpus=1, mem="256M", timeout=600, append="vessel.shell=no")
    log = os.path.join(work, "%s-%d.log" % (kind, i))
    with vc.start(m, log, kind=kind) as con:
        con.scale = 1.0
        con.expect(vc.BANNER, 600, "the guest banner")
        banner = time.monotonic() - con.t0
        st = con.wait_exit(600)
        end = time.monotonic() - con.t0
        if st != 0 or "vessel-guest: powering off" not in con.buf:
            vc.fail("%s: boot to poweroff ended with status %d" % (kind, st))
    return banner, end


def domain_xml(name, gdir, serial):
    return """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='riscv64' machine='virt'>hvm</type>
    <loader type='rom'>%s</loader>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>console=ttyS0 vessel.shell=no</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-riscv64</emulator>
    <serial type='file'><source path='%s'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend><address type='virtio-mmio'/></rng>
    <memballoon model='none'/>
  </devices>
</domain>
""" % (name, vc.OPENSBI_FW, os.path.join(gdir, "Image"),
       os.path.join(gdir, "initramfs.cpio.gz"), serial)


def virsh(uri, *args, check=True):
    r = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True,
                       text=True, timeout=120)
    if check and r.returncode != 0:
        raise OSError("virsh %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def libvirt(uri, gdir, work, i):
    """(virsh create returns, banner, domain gone) seconds."""
    name = "vbench-boot-%d" % i
    serial = os.path.join(work, "%s.serial" % name)
    xml = os.path.join(work, "%s.xml" % name)
    with open(xml, "w") as f:
        f.write(domain_xml(name, gdir, serial))
    t0 = time.monotonic()
    virsh(uri, "create", xml)
    created = time.monotonic() - t0
    banner = None
    deadline = t0 + 600
    while True:
        if banner is None:
            try:
                with open(serial, "rb") as f:
                    if BANNER.search(f.read()):
                        banner = time.monotonic() - t0
            except FileNotFoundError:
                pass
        if banner is not None:
            names = virsh(uri, "list", "--name").stdout.split()
            if name not in names:
                break
        if time.monotonic() > deadline:
            virsh(uri, "destroy", name, check=False)
            raise OSError("libvirt domain %s did not power off in 600 s" % name)
        time.sleep(0.005)
    gone = time.monotonic() - t0
    with open(serial, "rb") as f:
        if b"vessel-guest: powering off" not in f.read():
            raise OSError("libvirt domain %s ended without powering off" % name)
    return created, banner, gone


def vessel_vm(cli, i):
    """(launch returns, exec answers) seconds, through vesseld."""
    name = "vbvm%d" % i
    t0 = time.monotonic()
    r = subprocess.run([cli, "launch", "vessel-guest", name, "--vm"], capture_output=True,
                       text=True, timeout=600)
    launched = time.monotonic() - t0
    if r.returncode != 0:
        raise OSError("vessel launch --vm: %s" % r.stderr.strip())
    deadline = t0 + 600
    while subprocess.run([cli, "exec", name, "--", "true"], capture_output=True,
                         timeout=600).returncode != 0:
        if time.monotonic() > deadline:
            raise OSError("vessel exec in %s did not answer in 600 s" % name)
        time.sleep(0.005)
    up = time.monotonic() - t0
    subprocess.run([cli, "delete", "--force", name], capture_output=True, timeout=600)
    return launched, up


def vessel_vm_na(cli):
    """Why the vessel row cannot run (None: it can)."""
    if os.environ.get("BENCH_VM_NA"):
        return os.environ["BENCH_VM_NA"]
    if not cli or not os.access(cli, os.X_OK):
        return "n/a (no vessel CLI)"
    r = subprocess.run([cli, "launch", "vessel-guest", "vbvmprobe", "--vm"],
                       capture_output=True, text=True, timeout=600)
    subprocess.run([cli, "delete", "--force", "vbvmprobe"], capture_output=True, timeout=600)
    if r.returncode != 0:
        return "n/a (no VM driver)"
    return None


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    iters = int(sys.argv[1])
    work = sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else ""
    gdir = os.environ.get("VESSEL_GUEST_DIR") or vc.guest_dir()
    vmm = os.environ.get("VESSEL_VESSEL_VMM", "")
    cli = os.environ.get("VESSEL_VESSEL", "")
    na = vessel_vm_na(cli)
    res = {k: [] for k in ("v_launch", "v_up", "m_up", "m_off", "l_create", "l_up",
                           "l_off", "q_up", "q_off")}
    errors = []
    for i in range(iters):
        if na is None:
            try:
                a, b = vessel_vm(cli, i)
                res["v_launch"].append(a)
                res["v_up"].append(b)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append("vessel: %s" % e)
        if vmm and os.access(vmm, os.X_OK):
            try:
                a, b = direct("vessel", gdir, work, i)
                res["m_up"].append(a)
                res["m_off"].append(b)
            except (vc.TestFailure, OSError) as e:
                errors.append("vessel-vmm: %s" % e)
        if uri:
            try:
                a, b, c = libvirt(uri, gdir, work, i)
                res["l_create"].append(a)
                res["l_up"].append(b)
                res["l_off"].append(c)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append("libvirt: %s" % e)
        try:
            a, b = direct("qemu", gdir, work, i)
            res["q_up"].append(a)
            res["q_off"].append(b)
        except (vc.TestFailure, OSError) as e:
            errors.append("qemu: %s" % e)

    def ms(key):
        v = med(res[key])
        return "%.1f ms" % (v * 1000) if v is not None else "-"

    def ratio(a, b):
        x, y = med(res[a]), med(res[b])
        return "%.2fx" % (x / y) if x is not None and y else "-"

    print("bench/manager VMs: 256 MiB, 1 hart, same kernel/initramfs/OpenSBI, "
          "medians of %d (libvirt: %s)" % (iters, uri or "not running"))
    print("  %-34s %20s %12s %12s %12s" % ("row", "vessel", "vessel-vmm", "libvirt", "qemu"))
    vrow = na or ms("v_launch")
    print("  %-34s %20s %12s %12s %12s" % ("launch/create command returns", vrow, "-",
                                            ms("l_create"), "-"))
    vrow = na or ms("v_up")
    print("  %-34s %20s %12s %12s %12s" % ("launch to guest userspace", vrow, ms("m_up"),
                                            ms("l_up"), ms("q_up")))
    print("  %-34s %20s %12s %12s %12s" % ("launch to poweroff (shell=no)", "-", ms("m_off"),
                                            ms("l_off"), ms("q_off")))
    print("  ratios: vessel/libvirt to userspace %s; vessel-vmm/libvirt to userspace %s, "
          "to poweroff %s; vessel-vmm/qemu to poweroff %s"
          % ("-" if na else ratio("v_up", "l_up"), ratio("m_up", "l_up"),
             ratio("m_off", "l_off"), ratio("m_off", "q_off")))
    for e in errors[:6]:
        print("  error: %s" % (e.splitlines() or [""])[0])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
