#!/usr/bin/env python3
"""Images vessel-img writes are images qemu trusts: after random writes
(unaligned, multi-cluster), discards and zeroes, on every geometry, qemu-img
check exits 0 and qemu-img/qemu-io read exactly the bytes vessel wrote."""
import os
import random

from common import (Test, apply, assert_same, io_args, need_peers, qemu_check,
                    random_writes, raw_bytes_qemu, raw_bytes_vessel, run, vimg)

need_peers()
t = Test()
SIZE = 8 << 20


def variant(opts, cluster, seed, count=60, cache=None):
    def fn(d):
        img = os.path.join(d, "v.qcow2")
        args = ["create", "-q"] + (["-o", opts] if opts else []) + [img, str(SIZE)]
        vimg(*args)
        qemu_check(img)
        rng = random.Random(seed)
        model = bytearray(SIZE)
        ops = random_writes(rng, SIZE, count, cluster)
        extra = ["--cache", cache] if cache else []
        vimg("io", *extra, *io_args(ops), img)
        apply(model, ops)
        qemu_check(img)
        assert_same(raw_bytes_qemu(img, d), bytes(model), "qemu reads vessel's image")
        assert_same(raw_bytes_vessel(img, d), bytes(model), "vessel reads its own image")
        off, length, pat = ops[-1]
        run("qemu-io", "-f", "qcow2", "-c", f"read -P {pat} {off} {length}", img)
        # zeroes and discards, then more writes over them
        z = []
        for _ in range(8):
            off = rng.randint(0, SIZE - 3 * cluster)
            length = rng.randint(1, 3 * cluster)
            z.append((off, length))
        cmds = []
        for off, length in z[:4]:
            cmds += ["-c", f"write -q -z {off} {length}"]
            model[off:off + length] = bytes(length)
        vimg("io", *cmds, img)
        qemu_check(img)
        assert_same(raw_bytes_qemu(img, d), bytes(model), "after write -z")
        ops2 = random_writes(rng, SIZE, count // 2, cluster)
        vimg("io", *io_args(ops2), img)
        apply(model, ops2)
        qemu_check(img)
        assert_same(raw_bytes_qemu(img, d), bytes(model), "after rewrites")
    return fn


t.case("default 64k", variant("", 65536, 1))
t.case("cluster 512", variant("cluster_size=512", 512, 2, 40))
t.case("cluster 4k refcount_bits=1", variant("cluster_size=4k,refcount_bits=1", 4096, 3))
t.case("cluster 2M", variant("cluster_size=2M", 2 << 20, 4, 20))
t.case("refcount_bits=64", variant("refcount_bits=64", 65536, 5))
t.case("refcount_bits=8 cluster 1k", variant("refcount_bits=8,cluster_size=1k", 1024, 6))
t.case("refcount_bits=2", variant("refcount_bits=2", 65536, 12, 30))
t.case("refcount_bits=32 cluster 8k", variant("refcount_bits=32,cluster_size=8k", 8192, 13))
t.case("compat=0.10", variant("compat=0.10", 65536, 7))
t.case("extended_l2", variant("extended_l2=on", 65536, 8))
t.case("extended_l2 cluster 32k", variant("extended_l2=on,cluster_size=32k", 32768, 9))
t.case("zstd header", variant("compression_type=zstd", 65536, 10))
# a tiny L2 cache: dirty tables are evicted (and written back) constantly
t.case("cluster 4k, 2-table L2 cache", variant("cluster_size=4k", 4096, 11, 200, "8k"))
t.done()
