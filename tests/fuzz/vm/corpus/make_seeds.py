#!/usr/bin/env python3
# Regenerates the seed inputs of fuzz_virtq.c (see its header for the format).
import os, struct
B = 0x80000000
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'virtq')
def seed(name, dev, qlog, feat, avail, descs, avail_ring, extra=()):
    ram = bytearray(0x3000)
    for i, (a, l, f, n) in enumerate(descs):
        struct.pack_into('<QIHH', ram, 16 * i, a, l, f, n)
    for i, h in enumerate(avail_ring):
        struct.pack_into('<H', ram, 0x1000 + 4 + 2 * i, h)
    for off, data in extra:
        if len(ram) < off + len(data):
            ram.extend(b'\0' * (off + len(data) - len(ram)))
        ram[off:off + len(data)] = data
    with open(os.path.join(here, name), 'wb') as f:
        f.write(bytes([dev, qlog, feat]) + struct.pack('<H', avail) + bytes(ram))
hdr = lambda t, s: struct.pack('<IIQ', t, 0, s)
N, W, I = 1, 2, 4
seed('blk-read', 0, 4, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0x3100, 512, N | W, 2), (B + 0x3400, 1, W, 0)], [0], [(0x3000, hdr(0, 1))])
seed('blk-write', 0, 4, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0x3100, 1024, N, 2), (B + 0x3400, 1, W, 0)], [0], [(0x3000, hdr(1, 3))])
seed('blk-discard', 0, 4, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0x3100, 16, N, 2), (B + 0x3400, 1, W, 0)], [0], [(0x3000, hdr(11, 0)), (0x3100, struct.pack('<QII', 2, 8, 0))])
seed('blk-loop', 0, 4, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0x3100, 512, N | W, 2), (B + 0x3400, 1, N | W, 1)], [0], [(0x3000, hdr(0, 0))])
seed('blk-indirect', 0, 5, 7, 2, [(B + 0x4000, 48, I, 0)], [0, 0], [(0x3000, hdr(0, 2)), (0x4000, struct.pack('<QIHH', B + 0x3000, 16, N, 1) + struct.pack('<QIHH', B + 0x3100, 512, N | W, 2) + struct.pack('<QIHH', B + 0x3400, 1, W, 0))])
seed('blk-nested-indirect', 0, 5, 7, 1, [(B + 0x4000, 16, I, 0)], [0], [(0x4000, struct.pack('<QIHH', B + 0x4000, 16, I, 0))])
seed('blk-out-of-ram', 0, 3, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0xfff0, 0x100000, N | W, 2), (B + 0x3400, 1, W, 0)], [0], [(0x3000, hdr(0, 0))])
seed('blk-getid', 0, 3, 7, 1, [(B + 0x3000, 16, N, 1), (B + 0x3100, 20, N | W, 2), (B + 0x3400, 1, W, 0)], [0], [(0x3000, hdr(8, 0))])
seed('rng', 1, 8, 3, 3, [(B + 0x3000, 64, W, 0), (B + 0x3100, 32, W | N, 2), (B + 0x3200, 32, W, 0)], [0, 1, 0])
seed('rng-huge-avail', 1, 2, 0, 0xfff0, [(B + 0x3000, 64, W, 0)], [0])
seed('blk-indirect-unaligned', 0, 5, 7, 1, [(B + 0x4008, 48, I, 0)], [0], [(0x3000, hdr(0, 2)), (0x4008, struct.pack('<QIHH', B + 0x3000, 16, N, 1) + struct.pack('<QIHH', B + 0x3100, 512, N | W, 2) + struct.pack('<QIHH', B + 0x3400, 1, W, 0))])
pfns = struct.pack('<6I', (B >> 12) + 4, (B >> 12) + 3, (B >> 12) + 5, 1, 0xffffffff, (B >> 12) + 0x10)
seed('balloon-inflate', 0xf0, 4, 3, 1, [(B + 0x3000, 24, N, 1), (B + 0x3100, 10, 0, 0)], [0], [(0x3000, pfns)])
seed('balloon-deflate', 0xf1, 4, 3, 2, [(B + 0x3000, 24, 0, 0), (B + 0x3000, 7, 0, 0)], [0, 1], [(0x3000, pfns)])
seed('balloon-stats', 0xf2, 4, 3, 1, [(B + 0x3000, 35, 0, 0)], [0], [(0x3000, struct.pack('<HQHQHQ', 4, 1 << 20, 5, 2 << 20, 99, 7))])
seed('input-events', 0xf8, 4, 3, 3, [(B + 0x3000, 8, W, 0), (B + 0x3008, 4, W, 0), (B + 0x3010, 8, W | N, 3), (B + 0x3018, 8, W, 0)], [0, 1, 2])
seed('input-status', 0xf9, 4, 3, 1, [(B + 0x3000, 8, 0, 0)], [0], [(0x3000, struct.pack('<HHI', 17, 0, 1))])
