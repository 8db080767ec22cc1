#!/usr/bin/env python3
"""Hostile images through the real program: every damaged image in the
corpus is refused or reported with one precise message and a non-zero exit
(1 error, 2 corruption, 3 leaks), never a crash, hang or out-of-bounds
access (the ASan build turns those into failures); backing-file loops are
refused."""
import os
import shutil
import subprocess
import sys
import tempfile

VIMG = os.environ.get("VESSEL_VESSEL_IMG")
if not VIMG:
    sys.exit(77)
corpus = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="vessel-hostile-")
failed = 0


def run(*args):
    return subprocess.run([VIMG, *args], capture_output=True, text=True, timeout=30)


def bad(msg):
    global failed
    failed += 1
    print("not ok -", msg)


# Images that are valid, or whose damage only shows when checked.
OPEN_OK = {"valid", "refcount-zero-for-data", "many-l1-same-l2", "ext-backing-format",
           "dirty-bit", "corrupt-bit", "snapshots-many", "l2-self-loop", "l2-unaligned",
           "l2-outside", "l2-is-header", "data-outside", "data-unaligned", "data-is-header",
           "compressed-huge", "compressed-garbage", "compressed-outside",
           "refblock-is-header"}
# Not qcow2 at all: probed as raw, which is what they are.
RAW = {"bad-magic", "empty"}
# Damage that is no damage to qemu-img either (an L1 entry with flags only).
HARMLESS = {"l2-is-header", "ext-backing-format", "snapshots-many", "dirty-bit", "corrupt-bit"}
for name in sorted(os.listdir(corpus)):
    stem = name.rsplit(".", 1)[0]
    src = os.path.join(tmp, name)
    shutil.copy(os.path.join(corpus, name), src)
    before = open(src, "rb").read()
    results = [run("info", src), run("check", src), run("convert", "-O", "raw", src,
                                                        os.path.join(tmp, "out.raw")),
               run("map", "--json", src)]
    for p in results:
        if p.returncode < 0 or p.returncode > 3:
            bad(f"{name}: {p.args[1]} exit {p.returncode}\n{p.stderr}")
        if p.returncode == 1 and (not p.stderr.startswith("vessel-img: ") or
                                  p.stderr.count("\n") != 1):
            bad(f"{name}: {p.args[1]}: not one precise message: {p.stderr!r}")
    if stem.startswith("fuzz-"):
        pass  # inputs the fuzzer found: only "no crash, no hang" applies
    elif stem == "valid":
        if any(p.returncode for p in results):
            bad(f"valid image rejected: {[p.stderr for p in results]}")
    elif stem in RAW:
        if "raw" not in run("info", src).stdout:
            bad(f"{name}: not probed as raw")
    elif stem not in OPEN_OK and results[0].returncode != 1:
        bad(f"{name}: info accepted a broken header")
    elif stem in OPEN_OK and stem != "valid" and results[1].returncode == 0 and \
            results[2].returncode == 0 and stem not in HARMLESS:
        bad(f"{name}: damage went unnoticed by check and convert")
    if open(src, "rb").read() != before:
        bad(f"{name}: a read-only command modified the image")
    # opening for writing must refuse or work, never crash
    p = run("io", "-c", "read 0 512", src)
    if p.returncode < 0 or p.returncode > 3:
        bad(f"{name}: io exit {p.returncode}")
    if not stem.startswith("fuzz-"):
        print(f"ok - {name}: {results[0].stderr.strip() or 'opens'}")

# backing chains that loop
a, b = os.path.join(tmp, "a.qcow2"), os.path.join(tmp, "b.qcow2")
run("create", "-q", "-f", "qcow2", a, "1M")
run("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b, "1M")
run("rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a)
for img in (a, b):
    p = run("io", "-r", "-c", "read 0 512", img)
    if p.returncode != 1 or "loop" not in p.stderr:
        bad(f"backing loop through {img} not refused: {p.returncode} {p.stderr!r}")
    else:
        print("ok - loop refused:", p.stderr.strip())
run("rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", a)
p = run("io", "-r", "-c", "read 0 512", a)
if p.returncode != 1 or "itself" not in p.stderr:
    bad(f"self-backing not refused: {p.stderr!r}")
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failed else 0)
