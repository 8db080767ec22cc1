#!/bin/bash
# bench/disk/run.sh - vessel-img bench against qemu-img bench, side by side
# in one run, on the same kind of image (qcow2 v3, 64 KiB clusters, no
# backing file) with the same request sizes and counts.  Both use the host
# page cache (qemu-img bench's default cache mode is writeback; vessel
# never uses O_DIRECT), both time only the requests (not open/close).
# Every row is the best of $REPS alternating runs; ratio = peer time /
# vessel time, so > 1.00 means vessel is faster.  A last block compares vessel's qcow2
# overwrites and reads with the same requests on a raw file.
#
# usage: bench/disk/run.sh [BUILD_DIR]   (default: build)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
VIMG=$BUILD/cmd/vessel-img/vessel-img
REPS=${REPS:-5}
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

# pair PREP_Q PREP_V "QEMU ARGS" "VESSEL ARGS": runs qemu-img bench and
# vessel-img bench alternately REPS times (so load changes on this shared
# machine hit both alike) and sets QT/VT to the best time of each.
pair() {
	local prep_q=$1 prep_v=$2 qargs=$3 vargs=$4 t
	QT="" VT=""
	for _ in $(seq "$REPS"); do
		$prep_q
		# shellcheck disable=SC2086
		t=$(time_of qemu-img bench $qargs)
		[ -z "$t" ] && { echo "bench failed: qemu-img bench $qargs" >&2; t=0; }
		if [ -z "$QT" ] || awk "BEGIN{exit !($t < $QT)}"; then QT=$t; fi
		$prep_v
		# shellcheck disable=SC2086
		t=$(time_of "$VIMG" bench $vargs)
		[ -z "$t" ] && { echo "bench failed: vessel-img bench $vargs" >&2; t=0; }
		if [ -z "$VT" ] || awk "BEGIN{exit !($t < $VT)}"; then VT=$t; fi
	done
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
Q="$DIR/q.qcow2" V="$DIR/v.qcow2" QF="$DIR/qfull.qcow2" VF="$DIR/vfull.qcow2"
# 1. allocating sequential writes on a new image (qemu-img bench at its
#    default depth 64, vessel-img at depth 1: writes are synchronous), 64 KiB and 4 KiB requests
pair fresh_q fresh_v "-q -w -c 4096 -s 64k -f qcow2 $Q" "-q -w -c 4096 -s 64k -f qcow2 $V"
row "allocating seq write 64k x4096" "$QT" "$VT"
pair fresh_q fresh_v "-q -w -c 65536 -s 4k -f qcow2 $Q" "-q -w -c 65536 -s 4k -f qcow2 $V"
row "allocating seq write 4k x65536" "$QT" "$VT"
pair fresh_q fresh_v "-q -w -c 256 -s 1M -f qcow2 $Q" "-q -w -c 256 -s 1M -f qcow2 $V"
row "allocating seq write 1M x256" "$QT" "$VT"
# 2. overwrites of allocated clusters
full_q; full_v; full_raw
pair none none "-q -w -c 65536 -s 4k -f qcow2 $QF" "-q -w -c 65536 -s 4k -f qcow2 $VF"
row "overwrite 4k x65536" "$QT" "$VT"
# 3. sequential reads of allocated data at equal queue depths: qemu-img
#    bench keeps -d requests in flight on its thread pool (default 64);
#    vessel-img bench -d N runs N threads, each with its own read-only
#    handle on the image (reads only).  The first row keeps the old,
#    unequal comparison (qemu at its default 64, vessel at depth 1).
pair none none "-q -c 4096 -s 64k -f qcow2 $QF" "-q -c 4096 -s 64k -f qcow2 $VF"
row "seq read 64k x4096 (qemu d64, vessel d1)" "$QT" "$VT"
pair none none "-q -d 64 -c 4096 -s 64k -f qcow2 $QF" "-q -d 64 -c 4096 -s 64k -f qcow2 $VF"
row "seq read 64k x4096 (both depth 64)" "$QT" "$VT"
pair none none "-q -d 1 -c 4096 -s 64k -f qcow2 $QF" "-q -d 1 -c 4096 -s 64k -f qcow2 $VF"
row "seq read 64k x4096 (both depth 1)" "$QT" "$VT"
pair none none "-q -d 64 -c 65536 -s 4k -f qcow2 $QF" "-q -d 64 -c 65536 -s 4k -f qcow2 $VF"
row "seq read 4k x65536 (both depth 64)" "$QT" "$VT"
pair none none "-q -d 1 -c 65536 -s 4k -f qcow2 $QF" "-q -d 1 -c 65536 -s 4k -f qcow2 $VF"
row "seq read 4k x65536 (both depth 1)" "$QT" "$VT"
# 4. 4 KiB scattered allocating writes: stride 260 KiB, so every request
#    lands in a new cluster away from the previous one (qemu-img bench has
#    no random mode; the stride is the same for both)
pair fresh_q fresh_v "-q -w -c 4000 -s 4k -S 260k -f qcow2 $Q" \
	"-q -w -c 4000 -s 4k -S 260k -f qcow2 $V"
row "scattered alloc write 4k stride 260k" "$QT" "$VT"

# 5. vessel's qcow2 against vessel on a raw file (format overhead), depth 1
echo
printf "%-40s %12s %12s %8s\n" "vessel: raw file vs qcow2 (best of $REPS)" "raw" "qcow2" "ratio"
R="$DIR/full.raw"
vpair() { # like pair, both sides vessel-img: raw then qcow2
	local t
	QT="" VT=""
	for _ in $(seq "$REPS"); do
		# shellcheck disable=SC2086
		t=$(time_of "$VIMG" bench $1)
		if [ -z "$QT" ] || awk "BEGIN{exit !($t < $QT)}"; then QT=$t; fi
		# shellcheck disable=SC2086
		t=$(time_of "$VIMG" bench $2)
		if [ -z "$VT" ] || awk "BEGIN{exit !($t < $VT)}"; then VT=$t; fi
	done
}
vpair "-q -w -c 65536 -s 4k -f raw $R" "-q -w -c 65536 -s 4k -f qcow2 $VF"
row "overwrite 4k x65536" "$QT" "$VT"
vpair "-q -c 4096 -s 64k -f raw $R" "-q -c 4096 -s 64k -f qcow2 $VF"
row "seq read 64k x4096" "$QT" "$VT"
vpair "-q -c 65536 -s 4k -f raw $R" "-q -c 65536 -s 4k -f qcow2 $VF"
row "seq read 4k x65536" "$QT" "$VT"

# 6. small clusters with narrow and wide refcounts (issue 14): a new
#    refcount block every 64 (512 B clusters, 64-bit refcounts) to 16384
#    clusters (4 KiB, 16-bit), and on 512 B clusters a refcount table that
#    grows while the image fills.  Allocating sequential 4 KiB writes on a
#    new image (qemu-img bench at its default depth 64, vessel at depth 1),
#    then depth-1 reads of what was written; both images made by qemu-img
#    create with the same options.
echo
printf "%-40s %12s %12s %8s\n" "small clusters (best of $REPS)" "qemu-img" "vessel-img" "ratio"
SMALL_COUNT=${SMALL_COUNT:-4096}
for cl in 512 4k; do
	for rb in 16 64; do
		OPTS="cluster_size=$cl,refcount_bits=$rb"
		fresh_qo() { rm -f "$Q"; qemu-img create -q -f qcow2 -o "$OPTS" "$Q" 64M; }
		fresh_vo() { rm -f "$V"; qemu-img create -q -f qcow2 -o "$OPTS" "$V" 64M; }
		pair fresh_qo fresh_vo "-q -w -c $SMALL_COUNT -s 4k -f qcow2 $Q" \
			"-q -w -c $SMALL_COUNT -s 4k -f qcow2 $V"
		row "alloc write 4k x$SMALL_COUNT c=$cl rb=$rb" "$QT" "$VT"
		# the images the last write run left: both hold the same data
		pair none none "-q -d 1 -c $SMALL_COUNT -s 4k -f qcow2 $Q" \
			"-q -d 1 -c $SMALL_COUNT -s 4k -f qcow2 $V"
		row "seq read 4k x$SMALL_COUNT d1 c=$cl rb=$rb" "$QT" "$VT"
	done
done
