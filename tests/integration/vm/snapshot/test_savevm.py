#!/usr/bin/env python3
"""vm-savevm: the whole VM saved inside its qcow2 disk (QEMU's savevm
layout) is one portable file: copy it elsewhere and `vessel-vmm --loadvm
TAG --disk COPY` continues the guest.

1. Boot with a private qcow2 disk and --api; write /mnt/before (synced),
   start the console counter; PUT /snapshot/create {"savevm": "vm1"};
   write /mnt/after (synced); power off.
2. `qemu-img snapshot -l` lists vm1 with a non-zero VM SIZE and
   `qemu-img check` finds the image clean.
3. Copy the image into another directory, delete the original, and
   `vessel-vmm --loadvm vm1 --disk COPY`: the counter continues from the
   savevm point, /mnt/before exists and /mnt/after does not, new writes
   complete; after a clean power-off `qemu-img check` is still clean.
4. --loadvm of a tag that does not exist is refused (status 1, message).
5. A corrupted VM state leaves the disk untouched: in copies of the image,
   one byte of the state's sections (caught by their CRC32C) or of a guest
   RAM page (the page holding a shell variable set before savevm, caught
   by the RAMSUM section) is changed; --loadvm refuses each (status 1,
   "no disk was changed") and the image file is byte-for-byte unchanged
   (the disk was not rolled back).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def qemu_img(*args):
    r = subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        vc.fail("qemu-img %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    os.makedirs(os.path.join(work, "a"))
    os.makedirs(os.path.join(work, "b"))
    disk = os.path.join(work, "a", "vm.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    sock = os.path.join(work, "api.sock")
    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    with vc.Console(m.argv("vessel", sl.vmm()) + ["--api", sock],
                    os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.run("mount -t ext4 /dev/vda /mnt && echo before > /mnt/before "
                "&& sync")
        con.run("RAMMARK=vsramsum$((6*7))mark")  # in guest RAM, never on disk
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 5)
        out = {}
        win = sl.snapshot_window(con, lambda: out.update(sl.api_ok(
            sock, "PUT", "/snapshot/create", {"savevm": "vm1"})))
        if out.get("type") != "savevm" or out.get("disk_tag") != "vm1":
            vc.fail("savevm answered %r" % out)
        con.run("echo after > /mnt/after && sync")
        if con.poweroff() != 0:
            vc.fail("exit status %d after poweroff" % con.status)

    listing = qemu_img("snapshot", "-l", disk)
    row = [l for l in listing.splitlines() if re.search(r"\bvm1\b", l)]
    if not row or re.search(r"\bvm1\s+0 B\b", row[0]):
        vc.fail("qemu-img snapshot -l shows no VM state for vm1:\n%s" % listing)
    if "No errors were found" not in qemu_img("check", disk):
        vc.fail("qemu-img check after savevm is not clean")

    copy = os.path.join(work, "b", "moved.qcow2")
    shutil.copyfile(disk, copy)
    os.unlink(disk)
    argv = [sl.vmm(), "--loadvm", "vm1", "--disk", copy + ",format=qcow2",
            "--serial", "stdio", "--timeout", str(int(600 * vc.timeout_scale()))]
    with vc.Console(argv, os.path.join(work, "loadvm.log")) as con:
        v = sl.check_counter(con, win, "--loadvm")
        sl.wait_counter(con, v + 5)
        con.send("\n")
        if con.run("test -e /mnt/before", check=False)[0] != 0:
            vc.fail("--loadvm: /mnt/before is missing")
        if con.run("test -e /mnt/after", check=False)[0] == 0:
            vc.fail("--loadvm: /mnt/after (written after savevm) exists")
        con.run("echo new > /mnt/new && sync && umount /mnt")
        con.send("kill %1\n")
        if con.poweroff() != 0:
            vc.fail("--loadvm guest: exit status %d after poweroff" % con.status)
    if "No errors were found" not in qemu_img("check", copy):
        vc.fail("qemu-img check after --loadvm is not clean")

    r = subprocess.run([sl.vmm(), "--loadvm", "nope", "--disk", copy],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=120 * vc.timeout_scale())
    if r.returncode != 1 or "no snapshot 'nope'" not in r.stderr:
        vc.fail("--loadvm of a missing tag: status %d, %r" % (r.returncode, r.stderr))

    # 5. corrupted states are refused before the disk rolls back
    with open(copy, "rb") as f:
        image = f.read()
    head = image.find(b"VSLSNAP\n")
    mark = image.find(b"vsramsum42mark")
    if head < 0 or mark < 0:
        vc.fail("cannot find the VM state (%d) or the RAM marker (%d) in the image"
                % (head, mark))
    for what, off in (("a section byte", head + 64 + 30), ("a RAM page byte", mark + 3)):
        bad = os.path.join(work, "b", "bad.qcow2")
        data = bytearray(image)
        data[off] ^= 0x20
        with open(bad, "wb") as f:
            f.write(data)
        digest = hashlib.sha256(data).hexdigest()
        r = subprocess.run([sl.vmm(), "--loadvm", "vm1", "--disk", bad + ",format=qcow2",
                            "--serial", "stdio"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=120 * vc.timeout_scale())
        if r.returncode != 1 or "no disk was changed" not in r.stderr:
            vc.fail("--loadvm with %s changed: status %d, %r"
                    % (what, r.returncode, r.stderr))
        with open(bad, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != digest:
                vc.fail("--loadvm with %s changed: the refused load modified the image"
                        % what)
        os.unlink(bad)


if __name__ == "__main__":
    vc.main(test)
