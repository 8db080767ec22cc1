#!/bin/sh
# hostile_test.sh - a bare-metal guest (hostile.c) feeds virtio-blk and
# virtio-rng malformed descriptor chains through the real vessel-vmm; the
# VMM must survive (the guest reports every NEEDS_RESET it expected and
# powers off with status 0) and the host disk image must differ from the
# original only in sector 2, the one legitimate write.
set -eu
SRC=${VESSEL_SOURCE_ROOT:?}/tests/integration/vm/hostile
VMM=${VESSEL_VESSEL_VMM:?}
CC=riscv64-linux-gnu-gcc
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: $CC not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$CC" -nostdlib -nostartfiles -ffreestanding -fno-builtin -fno-pic -no-pie -static \
	-march=rv64imac_zicsr -mabi=lp64 -mcmodel=medany -O2 -Wall -Wextra -Werror \
	-Wl,--build-id=none -Wl,--no-warn-rwx-segments -T "$SRC/link.ld" \
	"$SRC/start.S" "$SRC/hostile.c" -o "$tmp/hostile.elf"

head -c 1048576 /dev/urandom >"$tmp/disk.raw"
cp "$tmp/disk.raw" "$tmp/disk.orig"

status=0
"$VMM" --bios "$tmp/hostile.elf" --disk "$tmp/disk.raw,format=raw" --mem 64M \
	--timeout 60 </dev/null >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out"
sed 's/^/stderr: /' "$tmp/err"

fail() { echo "FAIL: $*"; exit 1; }
[ "$status" -eq 0 ] || fail "vessel-vmm exited with $status (0 = guest powered off after passing)"
grep -q '^hostile: all checks passed, VMM alive' "$tmp/out" || fail "guest did not report success"
grep -q '^FAIL' "$tmp/out" && fail "guest reported failed checks"
resets=$(grep -c 'device needs reset' "$tmp/err" || true)
[ "$resets" -eq 9 ] || fail "expected 9 NEEDS_RESET warnings on stderr, saw $resets"

# Only sector 2 may differ, and it must hold the guest's pattern.
changed=$(cmp -l "$tmp/disk.raw" "$tmp/disk.orig" | awk '{ print int(($1 - 1) / 512) }' | sort -u | tr '\n' ' ')
[ "$changed" = "2 " ] || fail "disk sectors changed: '$changed' (expected only sector 2)"
dd if="$tmp/disk.raw" bs=512 skip=2 count=1 2>/dev/null | grep -q 'vessel hostile-guest test' ||
	fail "sector 2 does not hold the guest's data"
echo "PASS: VMM survived every malformed chain; disk changed only where the guest legitimately wrote"
