#!/usr/bin/env python3
"""Every refcount width on every cluster-size class (issue 14).

The matrix is the 7 refcount widths (1 to 64 bits) x 4 cluster sizes (512 B,
4 KiB, 64 KiB, 2 MiB).  Each width meets every cluster size, and each
cluster size carries its own extra features, so that every width is also
tried with compression, a backing file and extended L2 entries:

    512 B   compressed copy (convert -c, then rewrites over it)
    4 KiB   backing file, then commit
    64 KiB  extended L2 entries, backing file, then commit
    2 MiB   extended L2 entries, compressed copy

Direction "vessel" (argument `vessel`): vessel-img writes (the issue's 1 MiB
write first, a long sequential run that makes small-cluster images grow
their refcount table, random unaligned writes), zero-writes, discards,
internal snapshots (as many as the width can count; one more must fail
with a clear error and leave the image as it was), applies and deletes a
snapshot, commits an overlay, writes a compressed copy.  After each step
`qemu-img check` must find nothing and `qemu-io` must read back every byte
(`read -P` over every run of the reference model).

Direction "qemu": qemu-io writes the same kinds of requests (compressed
writes too) and takes a snapshot; vessel-img must find nothing to report
(`check`), read every run back with `io -r -c 'read -P'`, convert to the
same bytes, and apply the snapshot.

Images are created alternately by vessel-img create and qemu-img create
with `-o cluster_size=M,refcount_bits=N`.
"""
import json
import os
import random
import sys
import tempfile

from common import (Test, assert_same, need_peers, qemu_check, raw_bytes_vessel, run,
                    vimg)

need_peers()
# The matrix checks layouts, not durability (test_crash.py does): on tmpfs
# the thousands of fdatasync calls of small-cluster images cost nothing,
# whatever else loads the disk.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    tempfile.tempdir = "/dev/shm"
t = Test()

WIDTHS = [1, 2, 4, 8, 16, 32, 64]
CLUSTERS = [512, 4096, 65536, 2 << 20]
FEATURES = {512: {"compress"}, 4096: {"backing"}, 65536: {"extl2", "backing"},
            2 << 20: {"extl2", "compress"}}
MiB = 1 << 20
CHUNK = 200  # vessel-img io takes at most 256 commands


SIZE = 8 * MiB


def nops(cs, n):
    """Fewer random requests on 2 MiB clusters: each one copies 2 MiB."""
    return n if cs <= 65536 else max(4, n // 4)


def layout_opts(bits, cs, extl2):
    o = f"cluster_size={cs},refcount_bits={bits}"
    return o + (",extended_l2=on" if extl2 else "")


def create(img, bits, cs, extl2, size, by_vessel, backing=None):
    opts = layout_opts(bits, cs, extl2)
    if by_vessel:
        args = ["create", "-q", "-o", opts]
        if backing:
            args += ["-b", os.path.basename(backing), "-F", "qcow2"]
        vimg(*args, img, str(size))
    else:
        args = ["qemu-img", "create", "-q", "-f", "qcow2", "-o", opts]
        if backing:
            args += ["-b", os.path.basename(backing), "-F", "qcow2"]
        run(*args, img, str(size))
    info = json.loads(run("qemu-img", "info", "--output=json", img).stdout)
    spec = info["format-specific"]["data"]
    if info["cluster-size"] != cs or spec["refcount-bits"] != bits:
        raise AssertionError(f"{img}: wanted {cs} B clusters, {bits}-bit refcounts: {info}")


def runs(model):
    """(offset, length, byte) for every run of equal bytes of model."""
    v = bytes(model)
    n, out, i, blk = len(v), [], 0, 4096
    while i < n:
        b = v[i]
        fill = bytes([b]) * blk
        j = i + 1
        while j < n:  # whole blocks of b at a time, then the rest
            chunk = v[j:j + blk]
            if chunk == fill[:len(chunk)]:
                j += len(chunk)
                continue
            j += len(chunk) - len(chunk.lstrip(fill[:1]))
            break
        out.append((i, j - i, b))
        i = j
    return out


def qemu_reads_model(img, model):
    cmds = [f"read -q -P {b} {off} {n}" for off, n, b in runs(model)]
    for i in range(0, len(cmds), CHUNK):
        args = []
        for c in cmds[i:i + CHUNK]:
            args += ["-c", c]
        p = run("qemu-io", "-f", "qcow2", "-r", *args, img, check=False)
        if p.returncode != 0 or "verification failed" in p.stdout:
            raise AssertionError(f"qemu-io read -P of {img}:\n{p.stdout}{p.stderr}")


def vessel_reads_model(img, model):
    cmds = [f"read -q -P {b} {off} {n}" for off, n, b in runs(model)]
    for i in range(0, len(cmds), CHUNK):
        args = []
        for c in cmds[i:i + CHUNK]:
            args += ["-c", c]
        p = vimg("io", "-r", *args, img, check=False)
        if p.returncode != 0:
            raise AssertionError(f"vessel-img io read -P of {img}:\n{p.stdout}{p.stderr}")


def verify(img, model, d, what, read=True):
    """qemu-img check is clean and (read) qemu reads exactly the model."""
    try:
        qemu_check(img)
        if read:
            qemu_reads_model(img, model)
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}") from None


def gen_ops(rng, size, cs, count, lo=0, aligned_ok=True):
    """Writes (unaligned, multi-cluster), zero-writes and whole-cluster
    discards inside [lo, size): (kind, offset, length, byte)."""
    maxlen = min(3 * cs, MiB)
    ops = []
    for _ in range(count):
        k = rng.random()
        if k < 0.55:
            n = rng.randint(1, 4096) if rng.random() < 0.5 else rng.randint(1, maxlen)
            off = rng.randint(lo, size - n)
            ops.append(("write", off, n, rng.randint(1, 255)))
        elif k < 0.7:
            n = cs * rng.randint(1, 3) if cs * 3 <= size - lo else cs
            off = rng.randrange(lo, size - n + 1)
            off -= off % cs
            if off < lo:
                off += cs
            ops.append(("write", off, n, rng.randint(1, 255)))
        elif k < 0.85:
            n = rng.randint(1, maxlen)
            off = rng.randint(lo, size - n)
            ops.append(("zero", off, n, 0))
        elif aligned_ok:
            # discards of whole clusters read as zeros afterwards; partial
            # ones may keep the data (for both programs): not modelled
            n = cs * rng.randint(1, 2)
            off = rng.randrange(lo, size - n + 1)
            off -= off % cs
            if off < lo:
                off += cs
            if off + n <= size:
                ops.append(("discard", off, n, 0))
    return ops


def apply_ops(model, ops):
    for kind, off, n, b in ops:
        model[off:off + n] = bytes([b]) * n


def vessel_cmd(op):
    kind, off, n, b = op
    if kind == "write":
        return f"write -q -P {b} {off} {n}"
    if kind == "zero":
        return "zero" + f" {off} {n}" if off % 2 else f"write -q -z {off} {n}"
    return f"discard -q {off} {n}"


def qemu_cmd(op):
    kind, off, n, b = op
    if kind == "write":
        return f"write -q -P {b} {off} {n}"
    if kind == "zero":
        return f"write -q -z {off} {n}"
    if kind == "cwrite":
        return f"write -q -c -P {b} {off} {n}"
    return f"discard -q {off} {n}"


def vessel_io(img, ops):
    for i in range(0, len(ops), CHUNK):
        args = []
        for op in ops[i:i + CHUNK]:
            args += ["-c", vessel_cmd(op)]
        vimg("io", *args, img)


def qemu_io(img, ops):
    for i in range(0, len(ops), CHUNK):
        args = []
        for op in ops[i:i + CHUNK]:
            args += ["-c", qemu_cmd(op)]
        p = run("qemu-io", "-f", "qcow2", *args, img, check=False)
        if p.returncode != 0 or "failed" in p.stdout:
            raise AssertionError(f"qemu-io on {img}:\n{p.stdout}{p.stderr}")


def snapshots_possible(bits):
    """Snapshots a cluster written once survives: refcount 1 + one per
    snapshot must stay within 2^bits - 1."""
    return (1 << bits) - 2


def vessel_case(bits, cs, idx):
    feats = FEATURES[cs]
    extl2 = "extl2" in feats
    size = SIZE
    # [cs, lo) is written once, so its refcounts count the snapshots; the
    # first cluster is rewritten after each snapshot, so a snapshot that
    # does not fit has raised its refcount before it meets [cs, lo)
    lo = max(MiB, 2 * cs)

    def fn(d):
        rng = random.Random(1400 + idx)
        img = os.path.join(d, "v.qcow2")
        create(img, bits, cs, extl2, size, by_vessel=idx % 2 == 0)
        model = bytearray(size)
        # the request, then a long run: new refcount blocks all the
        # way, and on small clusters a refcount table that must grow
        ops = [("write", 0, MiB, 0x22), ("write", MiB, 3 * MiB, 0x33)]
        ops += gen_ops(rng, size, cs, nops(cs, 40), lo=lo)
        vessel_io(img, ops)
        apply_ops(model, ops)
        verify(img, model, d, "after writes, zero-writes and discards")

        # internal snapshots: as many as the width can count, then one more
        # that must fail cleanly
        want_ok = min(2, snapshots_possible(bits))
        saved = {}
        for k in range(1, want_ok + 2):
            name = f"s{k}"
            p = vimg("snapshot", "-c", name, img, check=False)
            if k <= want_ok:
                if p.returncode != 0:
                    raise AssertionError(f"snapshot {name}: {p.stderr}")
                saved[name] = bytes(model)
            elif k <= snapshots_possible(bits):
                if p.returncode != 0:
                    raise AssertionError(f"snapshot {name}: {p.stderr}")
                saved[name] = bytes(model)
            else:
                if p.returncode == 0 or "would exceed" not in p.stderr:
                    raise AssertionError(
                        f"snapshot {name} with {bits}-bit refcounts: want a clear error, "
                        f"got {p.returncode}: {p.stderr}")
                verify(img, model, d, f"after the refused snapshot {name}")
            more = [("write", 0, 512, 0x60 + k)] + gen_ops(rng, size, cs, nops(cs, 8), lo=lo)
            vessel_io(img, more)
            apply_ops(model, more)
        verify(img, model, d, "after writes over snapshots")
        listing = run("qemu-img", "snapshot", "-l", img).stdout
        for name, data in saved.items():
            if f" {name} " not in listing:
                raise AssertionError(f"qemu-img snapshot -l misses {name}:\n{listing}")
            out = os.path.join(d, f"{name}.raw")
            run("qemu-img", "convert", "-l", f"snapshot.name={name}", "-O", "raw", img, out)
            with open(out, "rb") as f:
                assert_same(f.read(), data, f"snapshot {name} read by qemu")
            os.unlink(out)
        if saved:
            first = sorted(saved)[0]
            p = vimg("snapshot", "-a", first, img, check=False)
            if p.returncode != 0 and bits == 2:
                # s1's clusters already count 3 (active, s1, s2): applying
                # would need 4, so it must fail cleanly; without s2 it fits
                if "would exceed" not in p.stderr:
                    raise AssertionError(f"snapshot -a {first}: unclear error: {p.stderr}")
                verify(img, model, d, f"after a refused apply of {first}")
                last = sorted(saved)[-1]
                vimg("snapshot", "-d", last, img)
                verify(img, model, d, f"after deleting {last}", read=False)
                p = vimg("snapshot", "-a", first, img, check=False)
            if p.returncode != 0:
                raise AssertionError(f"snapshot -a {first}: {p.stderr}")
            model = bytearray(saved[first])
            verify(img, model, d, f"after applying {first}")
            vimg("snapshot", "-d", first, img)
            verify(img, model, d, f"after deleting {first}", read=False)
            more = gen_ops(rng, size, cs, nops(cs, 10))
            vessel_io(img, more)
            apply_ops(model, more)
            verify(img, model, d, "after writes past a deleted snapshot")

        if "backing" in feats:
            top = os.path.join(d, "top.qcow2")
            create(top, bits, cs, extl2, size, by_vessel=idx % 4 < 2, backing=img)
            # small unaligned writes copy from the backing file (with
            # extended L2: only the touched subclusters)
            tops = gen_ops(rng, size, cs, nops(cs, 30))
            vessel_io(top, tops)
            apply_ops(model, tops)
            verify(top, model, d, "overlay after writes")
            vimg("commit", top)
            verify(img, model, d, "base after commit")
            verify(top, model, d, "overlay after commit", read=False)

        if "compress" in feats:
            comp = os.path.join(d, "c.qcow2")
            vimg("convert", "-c", "-o", layout_opts(bits, cs, extl2), img, comp)
            verify(comp, model, d, "compressed copy")
            over = gen_ops(rng, size, cs, nops(cs, 20))
            vessel_io(comp, over)
            apply_ops(model, over)
            verify(comp, model, d, "compressed copy after rewrites")
        assert_same(raw_bytes_vessel(img if "compress" not in feats else comp, d),
                    bytes(model), "vessel reads its own image")

        if cs <= 4096:
            # metadata preallocation of 64 MiB: every cluster counted at
            # once, so the refcount table grows many times in one go
            pre = os.path.join(d, "p.qcow2")
            vimg("create", "-q", "--preallocation", "metadata", "-o",
                 layout_opts(bits, cs, extl2), pre, str(64 * MiB))
            pm = bytearray(64 * MiB)
            pops = [("write", 60 * MiB, MiB, 0x77), ("write", 5 * MiB + 7, 3 * cs, 0x78)]
            vessel_io(pre, pops)
            apply_ops(pm, pops)
            verify(pre, pm, d, "preallocated image")
    return fn


def qemu_case(bits, cs, idx):
    feats = FEATURES[cs]
    extl2 = "extl2" in feats
    size = SIZE

    def fn(d):
        rng = random.Random(2400 + idx)
        img = os.path.join(d, "q.qcow2")
        model = bytearray(size)
        if "backing" in feats:
            base = os.path.join(d, "base.qcow2")
            create(base, bits, cs, extl2, size, by_vessel=False)
            bops = [("write", 0, 2 * MiB, 0x44)] + gen_ops(rng, size, cs, nops(cs, 20))
            qemu_io(base, bops)
            apply_ops(model, bops)
            create(img, bits, cs, extl2, size, by_vessel=False, backing=base)
        else:
            create(img, bits, cs, extl2, size, by_vessel=False)
        ops = []
        if "compress" in feats:
            # qemu compresses only into clusters never written: first
            offs = sorted({rng.randrange(0, size // cs) * cs for _ in range(12)})
            ops += [("cwrite", off, cs, rng.randint(1, 255)) for off in offs]
        ops += [("write", 2 * MiB, 2 * MiB, 0x55)] + gen_ops(rng, size, cs, nops(cs, 40))
        qemu_io(img, ops)
        apply_ops(model, ops)
        snap = None
        # qemu packs up to 2^bits - 1 compressed clusters in one host
        # cluster: a snapshot of those needs one more (qemu refuses it)
        if snapshots_possible(bits) >= 1 and not ("compress" in feats and bits <= 4):
            run("qemu-img", "snapshot", "-c", "q1", img)
            snap = bytes(model)
            more = gen_ops(rng, size, cs, nops(cs, 15))
            qemu_io(img, more)
            apply_ops(model, more)
        qemu_check(img)
        p = vimg("check", img, check=False)
        if p.returncode != 0:
            raise AssertionError(f"vessel-img check: {p.returncode}\n{p.stdout}{p.stderr}")
        vessel_reads_model(img, model)
        assert_same(raw_bytes_vessel(img, d), bytes(model), "vessel converts qemu's image")
        if snap is not None:
            vimg("snapshot", "-a", "q1", img)
            model = bytearray(snap)
            verify(img, model, d, "qemu's snapshot applied by vessel")
            vessel_reads_model(img, model)
            vimg("snapshot", "-d", "q1", img)
            verify(img, model, d, "qemu's snapshot deleted by vessel", read=False)
    return fn


def main():
    direction = sys.argv[1] if len(sys.argv) > 1 else "vessel"
    only = os.environ.get("MATRIX_ONLY")  # e.g. "64:512" to run one case
    idx = 0
    for bits in WIDTHS:
        for cs in CLUSTERS:
            idx += 1
            if only and only != f"{bits}:{cs}":
                continue
            name = f"{direction}: refcount_bits={bits} cluster_size={cs} " \
                   f"{'+'.join(sorted(FEATURES[cs]))}"
            if direction == "vessel":
                t.case(name, vessel_case(bits, cs, idx))
            else:
                t.case(name, qemu_case(bits, cs, idx))
    t.done()


main()
