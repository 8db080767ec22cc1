#!/usr/bin/env python3
"""vm-restore-hot: a snapshot lists the RAM pages the guest used last (the
HOT section of format version 2), a restore makes the written ones resident
before the guest runs, and a version 1 file (no HOT section) still restores.

1. Boot the recipe guest (256 MiB, --api), start a counter and a
   memory writer, PUT
   /snapshot/create.  The file is version 2; its HOT section lists pages in
   increasing order inside RAM, some of them written.
2. Restore it with VESSEL_START_TRACE: the counter continues, and the trace
   has its marks in order.  Its load step took at least one page fault per
   written hot page but 4 (MADV_POPULATE_WRITE counts one a page) more than a
   restore of the same file with every HOT entry marked unwritten (CRC
   recomputed), which makes nothing resident.
3. The file rewritten as version 1 without its HOT section (the sections
   after it moved up, RAM where it was) restores, and its counter continues.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402

HOT = 14
# Keeps the hart writing user memory (dd's buffer) whenever the counter
# sleeps: a guest idle at the snapshot has few written pages in its soft TLB
# (22 listed, 1 written, seen once under ASan).
WRITER = ("(while :; do dd if=/dev/zero of=/dev/null bs=256k count=16 "
          "2>/dev/null; done) </dev/null >/dev/null 2>&1 &")
MARKS = ["main", "snapshot-open", "board-new", "snapshot-load", "run",
         "console-byte"]


def hot_entries(s):
    p = s.section(HOT)
    if p is None:
        vc.fail("the snapshot has no HOT section")
    n = struct.unpack_from("<I", p, 0)[0]
    if len(p) != 4 + 4 * n:
        vc.fail("HOT: %d bytes for %d entries" % (len(p), n))
    return list(struct.unpack_from("<%dI" % n, p, 4))


def section_bytes(t, inst, payload):
    """A section as the writer lays it out (header with CRC, padding)."""
    h = struct.pack("<III", t, inst, 1)
    ln = struct.pack("<Q", len(payload))
    crc = sl.crc32c(h + ln + payload)
    pad = (8 - len(payload) % 8) % 8
    return h + struct.pack("<I", crc) + ln + payload + b"\0" * pad


def rewrite(s, src, dst, version, sections):
    """src with these (type, instance, payload) sections and format version:
    the sections' area is rewritten in place (it may only shrink: RAM stays
    at its page-aligned offset), the rest of the file copied."""
    body = b"".join(section_bytes(t, i, p) for t, i, p in sections)
    end = max(o + len(p) for _, _, o, p in s.sections)
    if 64 + len(body) > end + 8:
        vc.fail("rewrite: the sections grew")
    h = bytearray(s.head)
    struct.pack_into("<I", h, 8, version)
    struct.pack_into("<I", h, 20, len(sections))
    struct.pack_into("<I", h, 60, sl.crc32c(bytes(h[:60])))
    head = bytes(h) + body
    sl.copy_with(src, dst, patch=(0, head + b"\0" * (end - len(head))))


def restore(snap, win, work, name):
    """Restore snap with a start trace; the trace's marks as
    {name: (ms, cpu ms, faults)}."""
    trace = os.path.join(work, name + ".trace")
    os.environ["VESSEL_START_TRACE"] = trace
    try:
        with vc.Console(sl.restore_argv(snap),
                        os.path.join(work, name + ".log")) as con:
            v = sl.check_counter(con, win, name)
            sl.wait_counter(con, v + 3)
    finally:
        del os.environ["VESSEL_START_TRACE"]
    with open(trace) as f:
        lines = f.read().split("\n")
    names = [ln.split()[0] for ln in lines if ln]
    if names != MARKS + ["end"]:
        vc.fail("%s: start trace marks %r, expected %r" % (name, names, MARKS))
    marks = {}
    for ln in lines[:len(MARKS)]:
        w, ms, cpu, faults = ln.split()
        marks[w] = (float(ms), float(cpu), int(faults))
    ms = [marks[w][0] for w in MARKS]
    if ms != sorted(ms):
        vc.fail("%s: start trace times out of order: %r" % (name, lines))
    return marks


def load_faults(marks):
    return marks["snapshot-load"][2] - marks["board-new"][2]


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    sock = os.path.join(work, "api.sock")
    snap = os.path.join(work, "vm.snap")
    m = vc.Machine(gdir, cpus=1, mem="256M")
    with vc.Console(m.argv("vessel", sl.vmm()) + ["--api", sock],
                    os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.send(sl.COUNTER + "\n")
        con.send(WRITER + "\n")
        sl.wait_counter(con, 5)
        # What the soft TLB holds at the safe point varies (a context switch
        # empties it): up to 10 snapshots, until one lists enough written
        # pages for the fault count below to mean something.
        for attempt in range(10):
            win = sl.snapshot_window(con, lambda: sl.api_ok(
                sock, "PUT", "/snapshot/create", {"path": snap}))
            s = sl.Snapshot(snap)
            if s.version != 2:
                vc.fail("snapshot format version %d, expected 2" % s.version)
            hot = hot_entries(s)
            pages = [e >> 1 for e in hot]
            written = sum(e & 1 for e in hot)
            if pages != sorted(set(pages)) or pages[-1] >= s.ram_size // 4096:
                vc.fail("HOT: pages not increasing or beyond RAM: %r" % pages)
            if written >= 8 and len(pages) >= 16:
                break
            print("snapshot %d: HOT lists %d pages, %d written: again"
                  % (attempt, len(pages), written))
        else:
            vc.fail("HOT: %d pages, %d written in the last of 10 snapshots: "
                    "too few for a running Linux" % (len(pages), written))

    # The same file with no written HOT page: nothing is made resident.
    cold = os.path.join(work, "cold.snap")
    off = s.section_offset(HOT)
    payload = struct.pack("<I%dI" % len(hot), len(hot), *[e & ~1 for e in hot])
    with open(snap, "rb") as f:
        f.seek(off - 24)
        sh = f.read(24)
    crc = sl.crc32c(sh[:12] + sh[16:24] + payload)
    sl.copy_with(snap, cold, patch=(off - 24, sh[:12] + struct.pack("<I", crc)
                                    + sh[16:24] + payload))

    with_hot = restore(snap, win, work, "hot")
    without = restore(cold, win, work, "cold")
    extra = load_faults(with_hot) - load_faults(without)
    print("HOT: %d pages, %d written; the load took %d page faults more with "
          "them" % (len(pages), written, extra))
    # the rest of the load varies by a fault or two from run to run
    if extra < written - 4:
        vc.fail("the load took %d page faults more with %d written HOT pages "
                "than without (they were not made resident)" % (extra, written))

    # Version 1, without the HOT section: still read.
    v1 = os.path.join(work, "v1.snap")
    rewrite(s, snap, v1, 1, [(t, i, p) for t, i, _, p in s.sections if t != HOT])
    if sl.Snapshot(v1).section(HOT) is not None or sl.Snapshot(v1).version != 1:
        vc.fail("rewrite: still version 2 or with a HOT section")
    restore(v1, win, work, "v1")


if __name__ == "__main__":
    vc.main(test)
