#!/usr/bin/env python3
"""guest/mkcpio.py TREE OUT.cpio.gz - write TREE as a gzip'd newc initramfs.

The archive is reproducible and needs no root: every entry is owned by 0:0
with mtime 0, entries are sorted, and the device nodes the kernel needs
before devtmpfs is mounted (/dev/console, /dev/null) are synthesised.
Format: the "new ASCII" cpio format the kernel unpacks
(Documentation/driver-api/early-userspace/buffer-format.rst).
"""
import gzip
import os
import stat
import sys


def header(ino, mode, nlink, size, rdev_major, rdev_minor, name):
    name_b = name.encode() + b"\0"
    fields = [
        ino, mode, 0, 0, nlink, 0, size,  # ino mode uid gid nlink mtime size
        0, 0, rdev_major, rdev_minor,  # dev major/minor, rdev major/minor
        len(name_b), 0,  # namesize, check
    ]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    data = hdr + name_b
    return data + b"\0" * (-len(data) % 4)


def pad(data):
    return data + b"\0" * (-len(data) % 4)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkcpio.py TREE OUT.cpio.gz")
    tree, out = sys.argv[1], sys.argv[2]
    entries = []  # (name, st_mode, payload, rdev)
    for root, dirs, files in os.walk(tree):
        dirs.sort()
        rel = os.path.relpath(root, tree)
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            arc = os.path.normpath(os.path.join(rel, name))
            st = os.lstat(path)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                entries.append((arc, stat.S_IFLNK | 0o777,
                                os.readlink(path).encode(), (0, 0)))
            elif stat.S_ISDIR(st.st_mode):
                entries.append((arc, stat.S_IFDIR | perm, b"", (0, 0)))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    entries.append((arc, stat.S_IFREG | perm, f.read(), (0, 0)))
            else:
                sys.exit("mkcpio.py: unsupported file type: " + path)
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)))
    entries.append(("dev/null", stat.S_IFCHR | 0o666, b"", (1, 3)))
    entries.sort(key=lambda e: e[0])
    out_data = bytearray()
    out_data += header(1, stat.S_IFDIR | 0o755, 2, 0, 0, 0, ".")
    for ino, (name, mode, payload, rdev) in enumerate(entries, start=2):
        nlink = 2 if stat.S_ISDIR(mode) else 1
        out_data += header(ino, mode, nlink, len(payload), rdev[0], rdev[1],
                           name)
        out_data += pad(payload)
    out_data += header(0, 0, 1, 0, 0, 0, "TRAILER!!!")
    tmp = out + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                           compresslevel=9, filename="") as gz:
            gz.write(out_data)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
