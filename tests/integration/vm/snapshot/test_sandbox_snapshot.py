#!/usr/bin/env python3
"""vm-sandbox-snapshot: snapshots, savevm and live migration of a guest
whose vessel-vmm runs under --sandbox (seccomp, uid 65534, chrooted into
--snapshot-dir, empty network namespace).

1. Boot the recipe guest (qcow2 disk) with --sandbox --snapshot-dir SNAPS
   --api: write /mnt/before, start the console counter.
2. Paths outside the snapshot directory get a 400 and the VMM runs on:
   an absolute path, one with '..', a tcp: migration URI.
3. PUT /snapshot/create {"path": "vm.snap"}: the file appears in SNAPS;
   write /mnt/after; PUT /snapshot/load of it: the counter goes back to the
   snapshot point and /mnt/after is gone.
4. PUT /snapshot/create {"savevm": "sb1"}: `qemu-img snapshot -l` lists it.
5. Live migration over a unix socket in SNAPS to a second sandboxed
   `vessel-vmm --incoming unix:SNAPS/mig.sock --sandbox`: the source exits
   0, the destination's counter continues, the disk holds /mnt/before; it
   powers off cleanly.
6. The sandboxed VMMs were never killed by SIGSYS (exit statuses above) and
   `qemu-img check` finds the disk clean.
Needs root (the sandbox drops from root to 65534); SKIP (77) otherwise.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402
import test_migrate as tm  # noqa: E402


def refused(sock, method, path, body, what):
    st, out = sl.api(sock, method, path, body)
    if st != 400 or "--snapshot-dir" not in str(out) and "network" not in str(out):
        vc.fail("%s: expected 400 naming the sandbox's limits, got %d %r"
                % (what, st, out))


def confined(pid):
    """The VMM really runs confined: seccomp filter, no_new_privs, 65534."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    if (st["Seccomp"].strip() != "2" or st["NoNewPrivs"].strip() != "1"
            or st["Uid"].split()[0] != "65534"):
        vc.fail("VMM %d not confined: Seccomp %s NoNewPrivs %s Uid %s"
                % (pid, st["Seccomp"].strip(), st["NoNewPrivs"].strip(),
                   st["Uid"].strip()))


def test(work):
    if os.geteuid() != 0:
        vc.skip("needs root (--sandbox drops from root to uid 65534)")
    gdir = vc.guest_dir()
    sl.vmm()
    snaps = os.path.join(work, "snaps")
    os.mkdir(snaps)
    os.chown(snaps, 65534, 65534)  # the confined VMM writes there as nobody
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    sock = os.path.join(work, "api.sock")
    box = ["--sandbox", "--snapshot-dir", snaps]
    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock] + box

    cons = []
    try:
        src = vc.Console(argv, os.path.join(work, "src.log"))
        cons.append(src)
        src.wait_banner()
        confined(src.proc.pid)
        src.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before "
                "&& sync")
        src.send(sl.COUNTER + "\n")
        sl.wait_counter(src, 5)

        # 2. outside the snapshot directory: 400, the VMM runs on
        refused(sock, "PUT", "/snapshot/create",
                {"path": os.path.join(work, "abs.snap")}, "absolute path")
        refused(sock, "PUT", "/snapshot/load", {"path": "../disk.qcow2"},
                "path with ..")
        refused(sock, "PUT", "/migrate", {"uri": "tcp:127.0.0.1:1"},
                "tcp: migration")
        if os.path.exists(os.path.join(work, "abs.snap")):
            vc.fail("a snapshot was written outside --snapshot-dir")

        # 3. snapshot, keep running, load
        out = {}
        win = sl.snapshot_window(src, lambda: out.update(sl.api_ok(
            sock, "PUT", "/snapshot/create", {"path": "vm.snap"})))
        if not os.path.isfile(os.path.join(snaps, "vm.snap")):
            vc.fail("vm.snap is not in --snapshot-dir: %r" % os.listdir(snaps))
        src.run("echo after > /mnt/after && sync")
        sl.wait_counter(src, win[1] + 10)
        sl.drain(src)
        before = sl.last_counter(src)
        sl.api_ok(sock, "PUT", "/snapshot/load", {"path": "vm.snap"})
        v = sl.check_counter(src, win, "PUT /snapshot/load", before)
        sl.wait_counter(src, v + 3)
        src.send("\n")
        if src.run("test -e /mnt/after", check=False)[0] == 0:
            vc.fail("/mnt/after survived the snapshot load")
        src.run("test -e /mnt/before")

        # 4. savevm into the qcow2 (through the descriptor opened before)
        out = sl.api_ok(sock, "PUT", "/snapshot/create", {"savevm": "sb1"})
        if out.get("disk_tag") != "sb1":
            vc.fail("savevm answered %r" % out)

        # 5. live migration over a unix socket in the snapshot directory
        mig = os.path.join(snaps, "mig.sock")
        dst = vc.Console([sl.vmm(), "--incoming", "unix:" + mig, "--serial",
                          "stdio", "--timeout",
                          str(int(600 * vc.timeout_scale()))] + box,
                         os.path.join(work, "dst.log"))
        cons.append(dst)
        tm.wait_path(mig, "the unix migration socket")
        # the source connects as 65534: the operator lets it (as the
        # manager would)
        os.chown(mig, 65534, 65534)
        tm.migrate(src, sock, dst, "unix:mig.sock", "unix", work)
        dst.send("\n")
        confined(dst.proc.pid)
        dst.run("test -e /mnt/before && echo moved > /mnt/moved && sync "
                "&& umount /mnt")
        dst.send("kill %1\n")
        if dst.poweroff() != 0:
            vc.fail("migrated sandboxed VMM: exit status %d after poweroff"
                    % dst.status)
    finally:
        for c in cons:
            c.close()
    r = subprocess.run(["qemu-img", "snapshot", "-l", disk],
                       capture_output=True, text=True)
    if "sb1" not in r.stdout:
        vc.fail("qemu-img snapshot -l does not list sb1:\n%s" % r.stdout)
    r = subprocess.run(["qemu-img", "check", disk], capture_output=True,
                       text=True)
    if r.returncode != 0 or "No errors were found" not in r.stdout:
        vc.fail("qemu-img check: %s%s" % (r.stdout, r.stderr))


if __name__ == "__main__":
    vc.main(test)
