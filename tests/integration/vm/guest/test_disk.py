#!/usr/bin/env python3
"""vm-boot-disk: data written to a qcow2 virtio-blk disk survives a reboot.

First boot: mount a private copy of the guest's ext4 qcow2 disk, check the
marker file the image was built with, write a host-chosen token and 2 MiB
of random data (plus its md5), `sync`, unmount, `poweroff -f` (status 0).
On the host: `qemu-img check` must find the image clean, and debugfs on a
raw conversion must show the token (the guest's writes reached the file).
Second boot: the token and the md5 of the random data read back; the disk
is then attached read-only (readonly=on): the guest sees it read-only,
writes to the device and to its file system fail, and the image file on
the host is bit-for-bit unchanged.
"""
import os
import secrets
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402


def host(argv, what):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        vc.fail("%s failed (%d): %s%s" % (what, r.returncode, r.stdout,
                                          r.stderr))
    return r.stdout


def test(work):
    gdir = vc.guest_dir()
    disk = os.path.join(work, "disk.qcow2")
    shutil.copyfile(os.path.join(gdir, "disk.qcow2"), disk)
    token = "vessel-token-" + secrets.token_hex(8)

    m = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", False)])
    with vc.start(m, os.path.join(work, "boot1.log")) as con:
        con.wait_banner()
        _, out = con.run("cat /sys/block/vda/size")
        if int(out.strip()) * 512 != 64 << 20:
            vc.fail("/sys/block/vda/size is %s sectors, expected 64 MiB"
                    % out.strip())
        con.run("mount -t ext4 /dev/vda /mnt")
        _, out = con.run("cat /mnt/vessel-disk")
        if "vessel guest disk" not in out:
            vc.fail("marker file of the image not found: %r" % out)
        con.run("echo %s > /mnt/token" % token)
        con.run("mkdir -p /mnt/data && dd if=/dev/urandom of=/mnt/data/blob "
                "bs=4096 count=512 2>/dev/null")
        _, md5 = con.run("md5sum /mnt/data/blob | cut -d' ' -f1")
        con.run("echo %s > /mnt/data/blob.md5" % md5.strip())
        con.run("sync && umount /mnt")
        status = con.poweroff()
        if status != 0:
            vc.fail("first boot: VMM exit status %d after poweroff" % status)

    out = host(["qemu-img", "check", disk], "qemu-img check")
    if "No errors were found" not in out:
        vc.fail("qemu-img check: %s" % out)
    raw = os.path.join(work, "disk.raw")
    host(["qemu-img", "convert", "-O", "raw", disk, raw], "qemu-img convert")
    host(["e2fsck", "-fn", raw], "e2fsck of the guest-written file system")
    out = host(["debugfs", "-R", "cat /token", raw], "debugfs")
    if out.strip() != token:
        vc.fail("host reads token %r from the image, guest wrote %r"
                % (out.strip(), token))
    os.unlink(raw)

    with vc.start(m, os.path.join(work, "boot2.log")) as con:
        con.wait_banner()
        con.run("mount -t ext4 /dev/vda /mnt")
        _, out = con.run("cat /mnt/token")
        if out.strip() != token:
            vc.fail("second boot reads token %r, expected %r"
                    % (out.strip(), token))
        _, out = con.run("md5sum /mnt/data/blob | cut -d' ' -f1; "
                         "cat /mnt/data/blob.md5")
        sums = out.split()
        if len(sums) != 2 or sums[0] != sums[1]:
            vc.fail("random data changed across boots: %r" % sums)
        con.run("umount /mnt")
        if con.poweroff() != 0:
            vc.fail("second boot: VMM exit status %d" % con.status)

    ro = vc.Machine(gdir, cpus=1, mem="256M", disks=[(disk, "qcow2", True)])
    before = host(["sha256sum", disk], "sha256sum")
    with vc.start(ro, os.path.join(work, "boot3.log")) as con:
        con.wait_banner()
        _, out = con.run("cat /sys/block/vda/ro")
        if out.strip() != "1":
            vc.fail("read-only disk shows /sys/block/vda/ro = %r" % out)
        st, _ = con.run("dd if=/dev/zero of=/dev/vda bs=4096 count=1 "
                        "conv=fsync 2>/dev/null", check=False)
        if st == 0:
            vc.fail("a write to the read-only block device succeeded")
        con.run("mount -t ext4 -o ro,noload /dev/vda /mnt")
        _, out = con.run("cat /mnt/token")
        if out.strip() != token:
            vc.fail("read-only boot reads token %r" % out.strip())
        st, _ = con.run("echo x > /mnt/new 2>/dev/null", check=False)
        if st == 0:
            vc.fail("a file was created on the read-only disk")
        con.run("umount /mnt")
        if con.poweroff() != 0:
            vc.fail("read-only boot: VMM exit status %d" % con.status)
    if host(["sha256sum", disk], "sha256sum") != before:
        vc.fail("the read-only disk image changed on the host")


if __name__ == "__main__":
    vc.main(test)
