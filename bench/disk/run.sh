#!/bin/bash
# bench/disk/run.sh - vessel-img bench against qemu-img bench, side by side
# in one run, on the same kind of image (qcow2 v3, 64 KiB clusters, no
# backing file) with the same request sizes and counts.  Both use the host
# page cache (qemu-img bench's default cache mode is writeback; vessel
# never uses O_DIRECT), both time only the requests (not open/close).
# Every row is the best of $REPS runs; ratio = qemu time / vessel time, so
# > 1.00 means vessel is faster.  A last block compares vessel's qcow2
# overwrites and reads with the same requests on a raw file.
#
# usage: bench/disk/run.sh [BUILD_DIR]   (default: build)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
VIMG=$BUILD/cmd/vessel-img/vessel-img
REPS=${REPS:-3}
SIZE=${SIZE:-1G}
if [ ! -x "$VIMG" ] || ! command -v qemu-img >/dev/null; then
	echo "bench/disk: needs $VIMG and qemu-img (apt-get install qemu-utils)" >&2
	exit 1
fi
DIR=$(mktemp -d /var/tmp/vessel-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

# time_of TOOL ARGS... -> seconds reported by "Run completed in X seconds."
time_of() {
	"$@" 2>&1 | sed -n 's/.*Run completed in \([0-9.]*\) seconds.*/\1/p'
}

# best TOOL PREP-FUNCTION ARGS... : min over REPS runs, PREP before each run
best() {
	local tool=$1 prep=$2 b=""
	shift 2
	for _ in $(seq "$REPS"); do
		$prep
		local t
		t=$(time_of "$tool" bench "$@")
		[ -z "$t" ] && { echo "bench failed: $tool bench $*" >&2; echo 0; return; }
		if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
	done
	echo "$b"
}

fresh_q() { rm -f "$DIR/q.qcow2"; qemu-img create -q -f qcow2 "$DIR/q.qcow2" "$SIZE"; }
fresh_v() { rm -f "$DIR/v.qcow2"; qemu-img create -q -f qcow2 "$DIR/v.qcow2" "$SIZE"; }
full_q() { [ -s "$DIR/qfull.qcow2" ] || { qemu-img create -q -f qcow2 "$DIR/qfull.qcow2" "$SIZE"; qemu-img bench -q -w -c 4096 -s 64k -f qcow2 "$DIR/qfull.qcow2" >/dev/null; }; }
full_v() { [ -s "$DIR/vfull.qcow2" ] || { qemu-img create -q -f qcow2 "$DIR/vfull.qcow2" "$SIZE"; qemu-img bench -q -w -c 4096 -s 64k -f qcow2 "$DIR/vfull.qcow2" >/dev/null; }; }
full_raw() { [ -s "$DIR/full.raw" ] || { qemu-img create -q -f raw "$DIR/full.raw" "$SIZE"; qemu-img bench -q -w -c 4096 -s 64k -f raw "$DIR/full.raw" >/dev/null; }; }
none() { :; }

row() { # name qemu_time vessel_time
	local r
	r=$(awk "BEGIN{ if ($3 > 0) printf \"%.2f\", $2 / $3; else print \"n/a\" }")
	printf "%-40s %10s s %10s s %8s\n" "$1" "$2" "$3" "$r"
}

printf "%-40s %12s %12s %8s\n" "row (best of $REPS)" "qemu-img" "vessel-img" "ratio"
# 1. allocating sequential writes: 256 MiB in 64 KiB requests on a new image
q=$(best qemu-img fresh_q -q -w -c 4096 -s 64k -f qcow2 "$DIR/q.qcow2")
v=$(best "$VIMG" fresh_v -q -w -c 4096 -s 64k -f qcow2 "$DIR/v.qcow2")
row "allocating seq write 64k x4096" "$q" "$v"
# 1b. allocating sequential writes in 4 KiB requests (16 per cluster)
q=$(best qemu-img fresh_q -q -w -c 65536 -s 4k -f qcow2 "$DIR/q.qcow2")
v=$(best "$VIMG" fresh_v -q -w -c 65536 -s 4k -f qcow2 "$DIR/v.qcow2")
row "allocating seq write 4k x65536" "$q" "$v"
# 2. overwrites of allocated clusters
full_q; full_v; full_raw
q=$(best qemu-img none -q -w -c 65536 -s 4k -f qcow2 "$DIR/qfull.qcow2")
v=$(best "$VIMG" none -q -w -c 65536 -s 4k -f qcow2 "$DIR/vfull.qcow2")
vo=$v
row "overwrite 4k x65536" "$q" "$v"
# 3. sequential reads of allocated data
q=$(best qemu-img none -q -c 4096 -s 64k -f qcow2 "$DIR/qfull.qcow2")
v=$(best "$VIMG" none -q -c 4096 -s 64k -f qcow2 "$DIR/vfull.qcow2")
vr=$v
row "seq read 64k x4096" "$q" "$v"
q=$(best qemu-img none -q -c 65536 -s 4k -f qcow2 "$DIR/qfull.qcow2")
v=$(best "$VIMG" none -q -c 65536 -s 4k -f qcow2 "$DIR/vfull.qcow2")
vr4=$v
row "seq read 4k x65536" "$q" "$v"
# 4. 4 KiB scattered allocating writes: stride 260 KiB, so every request
#    lands in a new cluster away from the previous one (qemu-img bench has
#    no random mode; the stride is the same for both)
q=$(best qemu-img fresh_q -q -w -c 4000 -s 4k -S 260k -f qcow2 "$DIR/q.qcow2")
v=$(best "$VIMG" fresh_v -q -w -c 4000 -s 4k -S 260k -f qcow2 "$DIR/v.qcow2")
row "scattered alloc write 4k stride 260k" "$q" "$v"

echo
printf "%-40s %12s %12s %8s\n" "vessel qcow2 vs raw file" "raw" "qcow2" "ratio"
r=$(best "$VIMG" none -q -w -c 65536 -s 4k -f raw "$DIR/full.raw")
row "overwrite 4k x65536" "$r" "$vo"
r=$(best "$VIMG" none -q -c 4096 -s 64k -f raw "$DIR/full.raw")
row "seq read 64k x4096" "$r" "$vr"
r=$(best "$VIMG" none -q -c 65536 -s 4k -f raw "$DIR/full.raw")
row "seq read 4k x65536" "$r" "$vr4"
