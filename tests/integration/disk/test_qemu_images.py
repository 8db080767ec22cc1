#!/usr/bin/env python3
"""Every image variant qemu-img creates is read byte-exact by vessel: the
raw bytes vessel-img convert produces equal qemu-img convert -O raw (zero
clusters, compressed zlib/zstd clusters, extended L2, compat=0.10,
preallocation, internal snapshots, backing chains, short backing files)."""
import os
import random

from common import (Test, assert_same, need_peers, raw_bytes_qemu, raw_bytes_vessel,
                    run, vimg)

need_peers()
t = Test()
SIZE = 4 << 20


def qio(img, *cmds, fmt="qcow2"):
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    run(*args, img)


def random_qio(img, seed, n=30, fmt="qcow2", size=SIZE):
    rng = random.Random(seed)
    cmds = []
    for _ in range(n):
        length = rng.choice([rng.randint(1, 5000), rng.randint(1, 200000), 65536])
        off = rng.randint(0, size - length)
        cmds.append(f"write -P {rng.randint(1, 255)} {off} {length}")
    cmds.append("write -z 1M 200k")
    cmds.append("discard 2M 128k")
    qio(img, *cmds, fmt=fmt)


def compare(img, d):
    assert_same(raw_bytes_vessel(img, d), raw_bytes_qemu(img, d), "vessel vs qemu raw bytes")


def simple(opts, seed):
    def fn(d):
        img = os.path.join(d, "q.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", *(["-o", opts] if opts else []),
            img, str(SIZE))
        random_qio(img, seed)
        compare(img, d)
        vimg("check", img)
    return fn


def compressed(ctype):
    def fn(d):
        src = os.path.join(d, "s.qcow2")
        img = os.path.join(d, "c.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", src, str(SIZE))
        # compressible and incompressible data, so compressed clusters vary
        # in size and some cross host-cluster boundaries
        rnd = os.path.join(d, "rnd")
        with open(rnd, "wb") as f:
            rng = random.Random(42)
            f.write(bytes(rng.getrandbits(8) for _ in range(3 << 20)))
            f.write(b"vessel " * (1 << 17))
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", rnd, src)
        random_qio(src, 11, 10)
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o",
            f"compression_type={ctype}", src, img)
        compare(img, d)
        vimg("check", img)
        p = vimg("map", "--json", img)
        assert '"offset"' in p.stdout or '"data": true' in p.stdout, p.stdout
    return fn


def prealloc(mode):
    def fn(d):
        img = os.path.join(d, "p.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={mode}", img,
            str(SIZE))
        compare(img, d)
        random_qio(img, 21, 10)
        compare(img, d)
    return fn


def snapshots(d):
    img = os.path.join(d, "s.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", img, str(SIZE))
    random_qio(img, 31, 10)
    run("qemu-img", "snapshot", "-c", "one", img)
    random_qio(img, 32, 10)
    run("qemu-img", "snapshot", "-c", "two", img)
    random_qio(img, 33, 10)
    compare(img, d)
    out = vimg("snapshot", "-l", img).stdout
    assert "one" in out and "two" in out, out
    vimg("check", img)


def backing_chain(d):
    base = os.path.join(d, "base.raw")
    mid = os.path.join(d, "mid.qcow2")
    top = os.path.join(d, "top.qcow2")
    run("qemu-img", "create", "-q", "-f", "raw", base, str(SIZE))
    random_qio(base, 41, 10, fmt="raw")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid)
    random_qio(mid, 42, 10)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top,
        str(SIZE + (1 << 20)))
    random_qio(top, 43, 10, size=SIZE + (1 << 20))
    compare(top, d)
    info = vimg("info", "--json", top).stdout
    assert "mid.qcow2" in info and '"backing-filename-format": "qcow2"' in info, info


def short_backing(d):
    base = os.path.join(d, "short.qcow2")
    top = os.path.join(d, "top.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "1M")
    qio(base, "write -P 0x77 0 1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top, str(SIZE))
    qio(top, "write -P 0x12 512k 1M")  # crosses the end of the backing file
    compare(top, d)
    vimg("io", "-r", "-c", "read -P 0x77 0 512k", "-c", "read -P 0x12 512k 1M",
         "-c", "read -P 0 1536k 1M", top)


def extl2_backing(d):
    base = os.path.join(d, "b.qcow2")
    top = os.path.join(d, "t.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", base, str(SIZE))
    qio(base, "write -P 0x33 0 4M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-b", base, "-F",
        "qcow2", top, str(SIZE))
    qio(top, "write -P 0x44 1000 3000", "write -P 0x45 70000 10", "write -z 200k 8k")
    compare(top, d)


t.case("default", simple("", 1))
t.case("compat=0.10", simple("compat=0.10", 2))
t.case("extended_l2", simple("extended_l2=on", 3))
t.case("cluster 512", simple("cluster_size=512", 4))
t.case("cluster 2M", simple("cluster_size=2M", 5))
t.case("refcount_bits=1", simple("refcount_bits=1", 6))
t.case("refcount_bits=64", simple("refcount_bits=64", 7))
t.case("zstd", simple("compression_type=zstd", 8))
t.case("convert -c zlib", compressed("zlib"))
t.case("convert -c zstd", compressed("zstd"))
t.case("preallocation=metadata", prealloc("metadata"))
t.case("preallocation=falloc", prealloc("falloc"))
t.case("internal snapshots", snapshots)
t.case("backing chain qcow2->qcow2->raw", backing_chain)
t.case("short backing file", short_backing)
t.case("extended_l2 over backing", extl2_backing)
t.done()
