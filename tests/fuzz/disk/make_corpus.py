#!/usr/bin/env python3
"""Generate the hostile qcow2 corpus in corpus/: a tiny valid image with
512-byte clusters and one variant per kind of damage (truncated headers,
tables outside the file, overlapping metadata, absurd sizes, unsupported
features, broken extensions, bad L2 and compressed entries, broken
snapshot tables).  Files named fuzz-* are inputs a libFuzzer run of
fuzz_qcow2.c produced, kept as regression inputs.  Run it again after changing it; the outputs are checked
in so that meson test replays them without Python."""
import os
import struct

CS = 512
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def be64(v):
    return struct.pack(">Q", v)


def be32(v):
    return struct.pack(">I", v)


def base():
    """Clusters: 0 header, 1 reftable, 2 refblock, 3 L1, 4 L2, 5 data,
    6 snapshot table, 7 snapshot L1; virtual size 64 KiB."""
    img = bytearray(8 * CS)
    hdr = bytearray(112)
    hdr[0:4] = b"QFI\xfb"
    hdr[4:8] = be32(3)
    hdr[20:24] = be32(9)
    hdr[24:32] = be64(64 * 1024)
    hdr[36:40] = be32(2)
    hdr[40:48] = be64(3 * CS)
    hdr[48:56] = be64(1 * CS)
    hdr[56:60] = be32(1)
    hdr[60:64] = be32(1)
    hdr[64:72] = be64(6 * CS)
    hdr[96:100] = be32(4)
    hdr[100:104] = be32(112)
    img[0:112] = hdr
    img[112:120] = be32(0) + be32(0)  # end of extensions
    img[CS:CS + 8] = be64(2 * CS)
    for c in range(8):
        img[2 * CS + 2 * c:2 * CS + 2 * c + 2] = struct.pack(">H", 1)
    img[2 * CS + 2 * 4:2 * CS + 2 * 4 + 2] = struct.pack(">H", 2)  # L2 shared
    img[2 * CS + 2 * 5:2 * CS + 2 * 5 + 2] = struct.pack(">H", 2)  # data shared
    img[3 * CS:3 * CS + 8] = be64(4 * CS)
    img[4 * CS:4 * CS + 8] = be64(5 * CS)
    img[5 * CS:5 * CS + 5] = b"hello"
    # snapshot entry: L1 at cluster 7, 2 entries, id "1", name "s", 16 extra
    snap = be64(7 * CS) + be32(2) + struct.pack(">HH", 1, 1) + be32(0) + be32(0) + be64(0)
    snap += be32(0) + be32(16) + be64(0) + be64(64 * 1024) + b"1s"
    snap += bytes((-len(snap)) % 8)
    img[6 * CS:6 * CS + len(snap)] = snap
    img[7 * CS:7 * CS + 8] = be64(4 * CS)
    return img


def put(img, off, data):
    img = bytearray(img)
    img[off:off + len(data)] = data
    return img


def variants():
    b = base()
    yield "valid", b
    yield "truncated-40", b[:40]
    yield "truncated-90", b[:90]
    yield "truncated-l1", b[:3 * CS + 4]
    yield "empty", b""
    yield "bad-magic", put(b, 0, b"QFI\x00")
    yield "version-1", put(b, 4, be32(1))
    yield "cluster-bits-30", put(b, 20, be32(30))
    yield "cluster-bits-0", put(b, 20, be32(0))
    yield "size-absurd", put(b, 24, be64(1 << 63))
    yield "size-l1-too-small", put(b, 24, be64(1 << 40))
    yield "l1-outside", put(b, 40, be64(1 << 40))
    yield "l1-unaligned", put(b, 40, be64(3 * CS + 8))
    yield "l1-huge", put(put(b, 36, be32(1 << 28)), 24, be64(1 << 40))
    yield "l1-overlaps-header", put(b, 40, be64(0))
    yield "l1-overlaps-reftable", put(b, 40, be64(CS))
    yield "reftable-outside", put(b, 48, be64(1 << 40))
    yield "reftable-zero", put(b, 48, be64(0))
    yield "reftable-huge", put(b, 56, be32(1 << 30))
    yield "refblock-outside", put(b, CS, be64(1 << 40))
    yield "refblock-unaligned", put(b, CS, be64(2 * CS + 3))
    yield "refblock-is-header", put(b, CS, be64(0) + be64(0) + be64(0) + be64(0))
    yield "l2-outside", put(b, 3 * CS, be64((1 << 40) | (1 << 63)))
    yield "l2-unaligned", put(b, 3 * CS, be64(4 * CS + 24))
    yield "l2-is-header", put(b, 3 * CS + 8, be64(1 << 63))
    yield "l2-self-loop", put(b, 3 * CS, be64(3 * CS))
    yield "data-outside", put(b, 4 * CS, be64((1 << 50) | (1 << 63)))
    yield "data-unaligned", put(b, 4 * CS, be64(5 * CS + 100))
    yield "data-is-header", put(b, 4 * CS, be64(1 << 63))
    yield "compressed-huge", put(b, 4 * CS, be64((1 << 62) | ((1 << 54) - 1) << 0))
    yield "compressed-garbage", put(b, 4 * CS, be64((1 << 62) | (5 * CS)))
    yield "compressed-outside", put(b, 4 * CS, be64((1 << 62) | (0x3f << 46) | (1 << 45)))
    yield "encrypted", put(b, 32, be32(1))
    yield "data-file-bit", put(b, 72, be64(1 << 2))
    yield "unknown-incompat", put(b, 72, be64(1 << 33))
    yield "dirty-bit", put(b, 72, be64(1))
    yield "corrupt-bit", put(b, 72, be64(2))
    yield "compression-type-9", put(put(b, 72, be64(1 << 3)), 104, b"\x09")
    yield "extl2-small-cluster", put(b, 72, be64(1 << 4))
    yield "refcount-order-7", put(b, 96, be32(7))
    yield "header-length-huge", put(b, 100, be32(1 << 20))
    yield "header-length-odd", put(b, 100, be32(113))
    yield "ext-overrun", put(b, 112, be32(0x12345678) + be32(10000))
    yield "ext-backing-format", put(b, 112, be32(0xe2792aca) + be32(5) + b"qcow2\0\0\0")
    yield "ext-crypto", put(b, 112, be32(0x0537be77) + be32(16) + bytes(16))
    yield "backing-name-outside", put(put(b, 8, be64(500)), 16, be32(100))
    yield "backing-name-huge", put(put(b, 8, be64(200)), 16, be32(5000))
    yield "snapshots-outside", put(b, 64, be64(1 << 40))
    yield "snapshots-many", put(b, 60, be32(60000))
    yield "snapshots-too-many", put(b, 60, be32(1 << 20))
    yield "snapshot-l1-outside", put(b, 6 * CS, be64(1 << 40))
    yield "snapshot-l1-huge", put(b, 6 * CS + 8, be32(1 << 30))
    yield "snapshot-extra-huge", put(b, 6 * CS + 36, be32(1 << 20))
    yield "snapshot-extra-short", put(b, 6 * CS + 36, be32(4))
    yield "snapshot-names-overrun", put(b, 6 * CS + 12, struct.pack(">HH", 65535, 65535))
    yield "refcount-zero-for-data", put(b, 2 * CS + 10, struct.pack(">H", 0))
    yield "many-l1-same-l2", put(put(b, 3 * CS, be64(4 * CS) * 2), 4 * CS, be64(5 * CS) * 64)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in variants():
        with open(os.path.join(OUT, name + ".qcow2"), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    main()
