#!/usr/bin/env python3
"""vessel-img management commands, checked by the QEMU peers: internal
snapshots (qemu-img snapshot -l sees them, their contents read back),
check exit codes and repair, map, resize, compressed convert, commit and
rebase."""
import json
import os
import random
import struct

from common import (Test, apply, assert_same, io_args, need_peers, qemu_check,
                    random_writes, raw_bytes_qemu, raw_bytes_vessel, run, vimg)

need_peers()
t = Test()
SIZE = 8 << 20


def mk(d, name="v.qcow2", opts=None, size=SIZE):
    img = os.path.join(d, name)
    vimg("create", "-q", *(["-o", opts] if opts else []), img, str(size))
    return img


def snapshots(opts):
    def fn(d):
        img = mk(d, opts=opts)
        rng = random.Random(7)
        model = bytearray(SIZE)
        states = {}
        for name in ("s1", "s2", "s3"):
            ops = random_writes(rng, SIZE, 25)
            vimg("io", *io_args(ops), img)
            apply(model, ops)
            vimg("snapshot", "-c", name, img)
            states[name] = bytes(model)
            qemu_check(img)
        ops = random_writes(rng, SIZE, 25)
        vimg("io", *io_args(ops), img)
        apply(model, ops)
        qemu_check(img)
        listing = run("qemu-img", "snapshot", "-l", img).stdout
        for name in states:
            assert name in listing, listing
        assert_same(raw_bytes_qemu(img, d), bytes(model), "active state")
        # qemu reads each snapshot's contents
        for name, data in states.items():
            out = os.path.join(d, f"{name}.raw")
            run("qemu-img", "convert", "-l", f"snapshot.name={name}", "-O", "raw", img, out)
            with open(out, "rb") as f:
                assert_same(f.read(), data, f"snapshot {name} via qemu")
        vimg("snapshot", "-a", "s2", img)
        qemu_check(img)
        assert_same(raw_bytes_qemu(img, d), states["s2"], "after apply s2")
        vimg("snapshot", "-d", "s1", img)
        vimg("snapshot", "-d", "s3", img)
        qemu_check(img)
        listing = run("qemu-img", "snapshot", "-l", img).stdout
        assert "s1" not in listing and "s3" not in listing and "s2" in listing, listing
        model = bytearray(states["s2"])
        ops = random_writes(rng, SIZE, 25)
        vimg("io", *io_args(ops), img)
        apply(model, ops)
        qemu_check(img)
        assert_same(raw_bytes_qemu(img, d), bytes(model), "writes after apply/delete")
        # a snapshot qemu made, applied and deleted by vessel
        run("qemu-img", "snapshot", "-c", "q1", img)
        vimg("io", "-c", "write -P 0x99 0 1M", img)
        vimg("snapshot", "-a", "q1", img)
        assert_same(raw_bytes_qemu(img, d), bytes(model), "apply qemu's snapshot")
        vimg("snapshot", "-d", "q1", img)
        vimg("snapshot", "-d", "s2", img)
        qemu_check(img)
        p = run("qemu-img", "check", img)
        assert "No errors" in p.stdout, p.stdout
    return fn


def refcount_block_offset(img):
    with open(img, "rb") as f:
        hdr = f.read(104)
        cluster_bits = struct.unpack(">I", hdr[20:24])[0]
        rt_off = struct.unpack(">Q", hdr[48:56])[0]
        f.seek(rt_off)
        rb = struct.unpack(">Q", f.read(8))[0]
    return rb, 1 << cluster_bits


def set_refcount16(img, cluster, value):
    rb, _ = refcount_block_offset(img)
    with open(img, "r+b") as f:
        f.seek(rb + 2 * cluster)
        f.write(struct.pack(">H", value))


def check_codes(d):
    img = mk(d)
    vimg("io", "-c", "write -P 1 0 256k", img)
    assert vimg("check", img).returncode == 0
    _, cs = refcount_block_offset(img)
    nclusters = os.path.getsize(img) // cs
    # a leak: a refcount for a cluster inside the file that nothing uses
    os.truncate(img, (nclusters + 4) * cs)
    set_refcount16(img, nclusters + 2, 1)
    assert vimg("check", img, check=False).returncode == 3
    assert run("qemu-img", "check", img, check=False).returncode == 3
    p = vimg("check", "-r", "leaks", img, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    qemu_check(img)
    # a corruption: a used data cluster with refcount 0
    data_cluster = nclusters - 1
    set_refcount16(img, data_cluster, 0)
    assert vimg("check", img, check=False).returncode == 2
    assert run("qemu-img", "check", img, check=False).returncode == 2
    assert vimg("check", "-r", "leaks", img, check=False).returncode == 2
    p = vimg("check", "-r", "all", img, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    qemu_check(img)
    vimg("io", "-r", "-c", "read -P 1 0 256k", img)
    js = json.loads(vimg("check", "--json", img).stdout)
    assert js["corruptions"] == 0 and js["leaks"] == 0, js


def data_ranges(entries):
    out = []
    for e in entries:
        if e["data"] and e.get("depth", 0) == 0:
            if out and out[-1][1] == e["start"]:
                out[-1][1] = e["start"] + e["length"]
            else:
                out.append([e["start"], e["start"] + e["length"]])
    return out


def preallocation(d):
    for mode in ("metadata", "falloc"):
        img = os.path.join(d, f"{mode}.qcow2")
        vimg("create", "-q", "--preallocation", mode, img, "4M")
        qemu_check(img)
        m = json.loads(run("qemu-img", "map", "--output=json", img).stdout)
        assert all(e["data"] for e in m), m
        assert raw_bytes_qemu(img, d) == bytes(4 << 20)
        vimg("io", "-c", "write -P 3 1000 70000", img)
        run("qemu-io", "-c", "read -P 3 1000 70000", "-c", "read -P 0 71000 100000", img)
        qemu_check(img)
        if mode == "falloc":
            assert os.stat(img).st_blocks * 512 >= 4 << 20


def map_json(d):
    img = mk(d)
    vimg("io", "-c", "write -P 1 0 100k", "-c", "write -P 2 1M 64k", "-c",
         "write -z 4M 128k", "-c", "write -P 3 7M 1", img)
    mine = json.loads(vimg("map", "--json", img).stdout)
    theirs = json.loads(run("qemu-img", "map", "--output=json", img).stdout)
    assert data_ranges(mine) == data_ranges(theirs), (mine, theirs)
    assert sum(e["length"] for e in mine) == SIZE
    for e in mine:
        if e["data"]:
            assert "offset" in e


def resize(d):
    img = mk(d, size=1 << 20)
    vimg("io", "-c", "write -P 5 0 512k", img)
    vimg("resize", img, "+63M")
    assert json.loads(run("qemu-img", "info", "--output=json", img).stdout)[
        "virtual-size"] == 64 << 20
    vimg("io", "-c", "write -P 6 62M 1M", img)
    qemu_check(img)
    run("qemu-io", "-c", "read -P 6 62M 1M", "-c", "read -P 5 0 512k", img)
    assert vimg("resize", img, "32M", check=False).returncode != 0  # needs --shrink
    assert vimg("resize", "--shrink", img, "32M", check=False).returncode != 0  # data
    vimg("resize", "--shrink", img, "63M")
    qemu_check(img)
    assert json.loads(run("qemu-img", "info", "--output=json", img).stdout)[
        "virtual-size"] == 63 << 20
    # a raw image
    raw = os.path.join(d, "r.raw")
    vimg("create", "-q", "-f", "raw", raw, "1M")
    vimg("resize", "-f", "raw", raw, "2M")
    assert os.path.getsize(raw) == 2 << 20


def convert_compressed(ctype):
    def fn(d):
        src = mk(d, "src.qcow2")
        rng = random.Random(3)
        model = bytearray(SIZE)
        ops = random_writes(rng, SIZE, 40)
        vimg("io", *io_args(ops), src)
        apply(model, ops)
        with open(os.path.join(d, "noise"), "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(300000)))
        # incompressible data in the middle
        noise = open(os.path.join(d, "noise"), "rb").read()
        out = os.path.join(d, "c.qcow2")
        vimg("convert", "--compress", ctype, src, out)
        qemu_check(out)
        assert_same(raw_bytes_qemu(out, d), bytes(model), "compressed image via qemu")
        assert_same(raw_bytes_vessel(out, d), bytes(model), "compressed image via vessel")
        info = json.loads(run("qemu-img", "info", "--output=json", out).stdout)
        assert info["format-specific"]["data"]["compression-type"] == ctype, info
        assert info["actual-size"] < os.path.getsize(src), info
        # overwrite part of a compressed cluster: copy-on-write out of it
        vimg("io", "-c", "write -P 0xee 1000 10", out)
        model[1000:1010] = b"\xee" * 10
        qemu_check(out)
        assert_same(raw_bytes_qemu(out, d), bytes(model), "after rewriting a compressed cluster")
        del noise
    return fn


def convert_raw(d):
    src = mk(d, "src.qcow2")
    vimg("io", "-c", "write -P 9 3M 1M", src)
    raw = os.path.join(d, "o.raw")
    vimg("convert", "-O", "raw", src, raw)
    back = os.path.join(d, "back.qcow2")
    vimg("convert", "-f", "raw", "-O", "qcow2", raw, back)
    qemu_check(back)
    assert_same(raw_bytes_qemu(back, d), raw_bytes_qemu(src, d), "raw round trip")


def commit(d):
    base = mk(d, "base.qcow2")
    vimg("io", "-c", "write -P 1 0 4M", base)
    top = os.path.join(d, "top.qcow2")
    vimg("create", "-q", "-b", "base.qcow2", "-F", "qcow2", top)
    vimg("io", "-c", "write -P 2 1M 1M", "-c", "write -P 3 6M 10000", top)
    want = raw_bytes_qemu(top, d)
    vimg("commit", top)
    qemu_check(base)
    qemu_check(top)
    assert_same(raw_bytes_qemu(base, d), want, "base after commit")
    assert_same(raw_bytes_qemu(top, d), want, "top after commit")
    m = json.loads(run("qemu-img", "map", "--output=json", top).stdout)
    assert all(e["depth"] >= 1 or not e["data"] for e in m), m


def commit_chain(d):
    root = mk(d, "root.qcow2")
    vimg("io", "-c", "write -P 1 0 8M", root)
    mid = os.path.join(d, "mid.qcow2")
    top = os.path.join(d, "top.qcow2")
    vimg("create", "-q", "-b", "root.qcow2", "-F", "qcow2", mid)
    vimg("create", "-q", "-b", "mid.qcow2", "-F", "qcow2", top)
    # partial clusters: committing them into mid must keep root's bytes around
    vimg("io", "-c", "write -P 2 1000 3000", "-c", "write -P 3 70000 100", top)
    want = raw_bytes_qemu(top, d)
    vimg("commit", top)
    qemu_check(mid)
    assert_same(raw_bytes_qemu(mid, d), want, "mid after commit over root")
    p = vimg("io", "-c", "write -P 4 0 1", "-r", top, check=False)
    assert p.returncode == 1 and "read-only" in p.stderr, p.stderr


def rebase(d):
    b1 = mk(d, "b1.qcow2")
    b2 = mk(d, "b2.qcow2")
    vimg("io", "-c", "write -P 1 0 2M", b1)
    vimg("io", "-c", "write -P 2 1M 2M", b2)
    top = os.path.join(d, "top.qcow2")
    vimg("create", "-q", "-b", "b1.qcow2", "-F", "qcow2", top)
    vimg("io", "-c", "write -P 3 1536k 100k", top)
    want = raw_bytes_qemu(top, d)
    vimg("rebase", "-b", "b2.qcow2", "-F", "qcow2", top)
    qemu_check(top)
    info = json.loads(run("qemu-img", "info", "--output=json", top).stdout)
    assert info["backing-filename"] == "b2.qcow2", info
    assert_same(raw_bytes_qemu(top, d), want, "contents kept by safe rebase")
    vimg("rebase", "-u", "-b", "b1.qcow2", "-F", "qcow2", top)
    info = json.loads(run("qemu-img", "info", "--output=json", top).stdout)
    assert info["backing-filename"] == "b1.qcow2", info
    qemu_check(top)


def backing_writes(opts):
    return lambda d: backing_writes_in(d, opts)


def backing_writes_in(d, opts):
    base = mk(d, "base.qcow2")
    vimg("io", "-c", "write -P 0x41 0 8M", base)
    top = os.path.join(d, "top.qcow2")
    vimg("create", "-q", *(["-o", opts] if opts else []), "-b", "base.qcow2", "-F", "qcow2",
         top)
    rng = random.Random(5)
    model = bytearray(b"\x41" * SIZE)
    ops = random_writes(rng, SIZE, 40)
    vimg("io", *io_args(ops), top)
    apply(model, ops)
    vimg("io", "-c", "write -z 100k 200k", "-c", "discard 2M 1M", top)
    model[100 << 10:300 << 10] = bytes(200 << 10)
    model[2 << 20:3 << 20] = bytes(1 << 20)
    qemu_check(top)
    assert_same(raw_bytes_qemu(top, d), bytes(model), "overlay via qemu")


def extensions(off_start, data):
    """(type, payload) list of header extensions."""
    out = []
    off = off_start
    while off + 8 <= len(data):
        typ, ln = struct.unpack(">II", data[off:off + 8])
        if typ == 0:
            break
        out.append((typ, bytes(data[off + 8:off + 8 + ln])))
        off += 8 + ((ln + 7) & ~7)
    return out, off


def header_extensions(d):
    img = mk(d)
    data = bytearray(open(img, "rb").read())
    exts, end = extensions(112, data)
    table = dict(exts).get(0x6803f857)
    assert table and b"extended L2 entries" in table, exts
    # an extension nobody knows must survive vessel rewriting the header
    unknown = struct.pack(">II", 0x11223344, 5) + b"abcde\0\0\0"
    data[end:end + len(unknown) + 8] = unknown + bytes(8)
    open(img, "wb").write(data)
    vimg("rebase", "-u", "-b", "", img)
    vimg("io", "-c", "write -P 4 0 100k", img)
    exts, _ = extensions(112, open(img, "rb").read())
    assert (0x11223344, b"abcde") in exts, exts
    qemu_check(img)
    # unknown incompatible bits are refused, named from the table
    data = bytearray(open(img, "rb").read())
    data[72:80] = struct.pack(">Q", 1 << 4 | 1 << 40)
    bad = os.path.join(d, "bad.qcow2")
    open(bad, "wb").write(data)
    p = vimg("info", bad, check=False)
    assert p.returncode == 1 and "0x10000000000" in p.stderr, p.stderr


def dirty_repair(d):
    img = mk(d)
    vimg("io", "-c", "write -P 1 0 256k", img)
    _, cs = refcount_block_offset(img)
    set_refcount16(img, os.path.getsize(img) // cs - 1, 0)  # refcount lost
    data = bytearray(open(img, "rb").read())
    data[72:80] = struct.pack(">Q", 1)  # dirty: lazy refcounts not saved
    open(img, "wb").write(data)
    vimg("io", "-c", "write -P 2 1M 64k", img)  # a read-write open repairs
    assert struct.unpack(">Q", open(img, "rb").read()[72:80])[0] == 0
    qemu_check(img)
    run("qemu-io", "-c", "read -P 1 0 256k", "-c", "read -P 2 1M 64k", img)


def bench_depth(d):
    img = mk(d)
    vimg("io", "-c", "write -P 5 0 1M", img)
    p = vimg("bench", "-d", "4", "-c", "3000", "-s", "4k", img)
    assert "4 in parallel" in p.stdout and "Run completed in" in p.stdout, p.stdout
    p = vimg("bench", "--random", "-d", "3", "-c", "500", "-s", "64k", img)
    assert "Run completed in" in p.stdout, p.stdout
    # writes never run on several handles
    p = vimg("bench", "-w", "-d", "2", "-c", "10", img, check=False)
    assert p.returncode != 0 and "reads only" in p.stderr, p.stderr
    p = vimg("bench", "-d", "0", img, check=False)
    assert p.returncode != 0 and "queue depth" in p.stderr, p.stderr
    qemu_check(img)
    run("qemu-io", "-c", "read -P 5 0 1M", img)
    # a corrupt entry met by one worker stops the run with its error
    data = bytearray(open(img, "rb").read())
    l1 = struct.unpack(">Q", data[40:48])[0]
    l2 = struct.unpack(">Q", data[l1:l1 + 8])[0] & 0x00FFFFFFFFFFFE00
    e = struct.unpack(">Q", data[l2 + 8:l2 + 16])[0]
    assert e & 0x00FFFFFFFFFFFE00, hex(e)  # cluster 1 is allocated
    data[l2 + 8:l2 + 16] = struct.pack(">Q", e + 512)  # cluster 1: unaligned
    open(img, "wb").write(data)
    p = vimg("bench", "-d", "4", "-c", "1000", "-s", "4k", img, check=False)
    assert p.returncode != 0 and "unaligned" in p.stderr, (p.returncode, p.stderr)
    assert "Run completed" not in p.stdout, p.stdout


t.case("bench with several reads in flight", bench_depth)
t.case("header extensions and feature names", header_extensions)
t.case("dirty image repaired on open", dirty_repair)
t.case("snapshots create/apply/delete", snapshots(None))
t.case("snapshots with extended L2", snapshots("extended_l2=on"))
t.case("snapshots cluster 4k refcount_bits=4", snapshots("cluster_size=4k,refcount_bits=4"))
t.case("check exit codes and repair", check_codes)
t.case("map --json", map_json)
t.case("resize grow/shrink", resize)
t.case("convert --compress zlib", convert_compressed("zlib"))
t.case("convert --compress zstd", convert_compressed("zstd"))
t.case("convert raw round trip", convert_raw)
t.case("commit", commit)
t.case("rebase safe and unsafe", rebase)
t.case("commit into a base that has a backing file", commit_chain)
t.case("writes over a backing file", backing_writes(None))
t.case("extended L2 writes over a backing file", backing_writes("extended_l2=on"))
t.case("compat=0.10 writes over a backing file", backing_writes("compat=0.10"))
t.case("preallocation", preallocation)
t.done()
