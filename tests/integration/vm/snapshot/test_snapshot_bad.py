#!/usr/bin/env python3
"""vm-snapshot-bad: corrupt, truncated, foreign-version and semantically
invalid snapshot files are refused with a precise message, before any
guest runs; PUT /snapshot/load of such a file answers 400 and the running
guest continues untouched.

From one good snapshot of the recipe guest (printing a counter) the test
makes: a flipped byte in a hart section (CRC32C mismatch), a flipped byte
in the header, truncations (inside the RAM area, inside the sections, to a
few bytes, to nothing), format versions 3 and 0 with a valid header checksum, a
wrong magic, a hart section with privilege level 2 and a recomputed CRC (the
checksum passes, the loader's validation refuses it), and a missing file.
Each `vessel-vmm --restore` must exit with status 1, print the expected
reason and never print guest output.
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snaplib as sl  # noqa: E402
from snaplib import vc  # noqa: E402


def refused(path, reason, work):
    r = subprocess.run(sl.restore_argv(path), capture_output=True, text=True,
                       timeout=120 * vc.timeout_scale(), cwd=work,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    if r.returncode != 1:
        vc.fail("--restore %s: exit status %d, expected 1:\n%s"
                % (os.path.basename(path), r.returncode, out[-2000:]))
    if reason not in out:
        vc.fail("--restore %s: expected %r in the message, got:\n%s"
                % (os.path.basename(path), reason, out[-2000:]))
    if "CNT" in out:
        vc.fail("--restore %s ran the guest:\n%s" % (path, out[-2000:]))


def test(work):
    gdir = vc.guest_dir()
    sl.vmm()
    sock = os.path.join(work, "api.sock")
    good = os.path.join(work, "good.snap")
    m = vc.Machine(gdir, cpus=1, mem="128M")
    argv = m.argv("vessel", sl.vmm()) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "boot.log")) as con:
        con.wait_banner()
        con.send(sl.COUNTER + "\n")
        sl.wait_counter(con, 5)
        sl.api_ok(sock, "PUT", "/snapshot/create", {"path": good})
        s = sl.Snapshot(good)

        cases = []

        def case(name, reason, **kw):
            p = os.path.join(work, name)
            sl.copy_with(good, p, **kw)
            cases.append((p, reason))

        hart = s.section_offset(4, 0)
        case("crc.snap", "CRC32C mismatch", patch=sl.flip_byte(good, hart + 40))
        case("header.snap", "header checksum mismatch",
             patch=sl.flip_byte(good, 30))
        case("trunc-ram.snap", "truncated", truncate=s.file_size - 4096)
        case("trunc-sections.snap", "truncated", truncate=hart + 100)
        case("trunc-header.snap", "truncated", truncate=20)
        case("empty.snap", "truncated", truncate=0)
        case("version.snap", "format version 3, this vessel-vmm reads versions 1 to 2",
             patch=(0, sl.with_version(s.head, 3)))
        case("version0.snap", "format version 0, this vessel-vmm reads versions 1 to 2",
             patch=(0, sl.with_version(s.head, 0)))
        case("magic.snap", "not a vessel snapshot", patch=(0, b"QFI\xfb"))
        # privilege level 2 (reserved), with a valid CRC: the loader refuses
        payload = bytearray(s.section(4, 0))
        priv_off = 4 + 31 * 8 + 32 * 8 + 8
        payload[priv_off] = 2
        with open(good, "rb") as f:
            f.seek(hart - 24)
            sh = f.read(24)
        crc = struct.pack("<I", sl.crc32c(sh[:12] + sh[16:24] + bytes(payload)))
        p = os.path.join(work, "priv.snap")
        sl.copy_with(good, p, patch=(hart, bytes(payload)))
        sl.copy_with(p, p + ".2", patch=(hart - 12, crc))
        os.replace(p + ".2", p)
        cases.append((p, "invalid privilege level 2"))

        for path, reason in cases:
            refused(path, reason, work)
        refused(os.path.join(work, "missing.snap"), "No such file", work)

        # The running guest: PUT /snapshot/load of bad files is a 400 and
        # changes nothing.
        before = sl.counter_value(con)
        for path, reason in cases[:3] + cases[-1:]:
            st, out = sl.api(sock, "PUT", "/snapshot/load", {"path": path})
            if st != 400 or reason not in str(out.get("error", "")):
                vc.fail("PUT /snapshot/load %s: HTTP %d %r, expected 400 with %r"
                        % (os.path.basename(path), st, out, reason))
        after = sl.wait_counter(con, before + 5)
        if after < before:
            vc.fail("counter went back from %d to %d after refused loads"
                    % (before, after))


if __name__ == "__main__":
    vc.main(test)
