"""Shared helpers of the disk integration tests: run vessel-img and the QEMU
peers (qemu-img, qemu-io), compare images with a reference model."""
import os
import random
import shutil
import subprocess
import sys
import tempfile

VIMG = os.environ.get("VESSEL_VESSEL_IMG")
SKIP = 77


def need_peers():
    if not VIMG or not os.path.exists(VIMG):
        print("VESSEL_VESSEL_IMG not set; run through meson test")
        sys.exit(SKIP)
    for tool in ("qemu-img", "qemu-io"):
        if not shutil.which(tool):
            print(f"{tool} not installed (apt-get install qemu-utils)")
            sys.exit(SKIP)


def run(*args, check=True, input=None):
    p = subprocess.run(list(args), capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def vimg(*args, check=True):
    return run(VIMG, *args, check=check)


def qemu_check(path, fmt="qcow2"):
    p = run("qemu-img", "check", "-f", fmt, path, check=False)
    if p.returncode != 0:
        raise AssertionError(f"qemu-img check {path} -> {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def raw_bytes_qemu(path, tmp, fmt="qcow2"):
    out = os.path.join(tmp, "q.raw")
    run("qemu-img", "convert", "-f", fmt, "-O", "raw", path, out)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def raw_bytes_vessel(path, tmp):
    out = os.path.join(tmp, "v.raw")
    vimg("convert", "-O", "raw", path, out)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def random_writes(rng, size, count, cluster=65536, maxlen=None):
    """A list of (offset, length, pattern) writes, mixing small unaligned and
    multi-cluster writes."""
    maxlen = maxlen or 3 * cluster
    ops = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:
            length = rng.randint(1, 4096)
        elif kind < 0.8:
            length = rng.randint(1, maxlen)
        else:
            length = cluster
        off = rng.randint(0, size - length)
        if kind >= 0.8:
            off -= off % cluster
        ops.append((off, length, rng.randint(1, 255)))
    return ops


def apply(model, ops):
    for off, length, pat in ops:
        model[off:off + length] = bytes([pat]) * length


def io_args(ops):
    args = []
    for off, length, pat in ops:
        args += ["-c", f"write -q -P {pat} {off} {length}"]
    return args


def first_diff(a, b):
    if len(a) != len(b):
        return f"length {len(a)} != {len(b)}"
    for i in range(len(a)):
        if a[i] != b[i]:
            return f"offset {i}: {a[i]:#x} != {b[i]:#x}"
    return None


def assert_same(a, b, what):
    if a != b:
        raise AssertionError(f"{what}: {first_diff(a, b)}")


class Test:
    """Collects named cases; prints TAP-like lines and exits non-zero on failure."""

    def __init__(self):
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="vessel-disk-")

    def case(self, name, fn):
        d = tempfile.mkdtemp(dir=self.tmp)
        try:
            fn(d)
            print(f"ok - {name}", flush=True)
        except Exception as e:  # noqa: BLE001
            self.failed += 1
            print(f"not ok - {name}\n{e}", flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def done(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        sys.exit(1 if self.failed else 0)
