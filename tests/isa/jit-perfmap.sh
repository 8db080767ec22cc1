#!/bin/sh
# jit-perfmap.sh ELF: VESSEL_JIT_PERFMAP=1 makes vessel-vmm write
# /tmp/perf-PID.map with one valid entry per translated block: "START SIZE
# NAME" (START and SIZE hex, SIZE nonzero, NAME rv:VA pa:PA n:N), as many
# entries as VESSEL_JIT_STATS counts translated blocks, inside one JIT arena,
# 16-byte aligned, naming guest addresses in RAM, none overlapping.  Without the variable no
# map is written.  77 = skipped (no ELF, no vessel-vmm, not x86-64).
. "$(dirname "$0")/jit-common.sh"
err=$(mktemp)
map=
trap 'rm -f "$err" ${map:+"$map"}' EXIT
unset VESSEL_NO_JIT VESSEL_JIT_THRESHOLD VESSEL_JIT_PERFMAP
VESSEL_JIT_PERFMAP=1 VESSEL_JIT_STATS=1 "$vmm" --bios "$elf" --timeout 60 </dev/null 2>"$err" &
pid=$!
map=/tmp/perf-$pid.map
if ! wait $pid; then
	cat "$err"
	echo "FAIL: the program failed with VESSEL_JIT_PERFMAP=1"
	exit 1
fi
cat "$err"
n=$(sed -n 's/.*cpu: jit on: \([0-9]*\) blocks translated.*/\1/p' "$err")
if [ -z "$n" ] || [ "$n" -eq 0 ]; then
	echo "FAIL: no block was translated"
	exit 1
fi
if [ ! -s "$map" ]; then
	echo "FAIL: $map was not written"
	exit 1
fi
bad=$(grep -cvE '^[0-9a-f]+ [0-9a-f]*[1-9a-f][0-9a-f]* rv:[0-9a-f]+ pa:[0-9a-f]+ n:[1-9][0-9]*$' "$map")
if [ "$bad" -ne 0 ]; then
	grep -vE '^[0-9a-f]+ [0-9a-f]*[1-9a-f][0-9a-f]* rv:[0-9a-f]+ pa:[0-9a-f]+ n:[1-9][0-9]*$' "$map" | head -5
	echo "FAIL: $bad malformed lines in $map"
	exit 1
fi
lines=$(wc -l <"$map")
if [ "$lines" -ne "$n" ]; then
	head -5 "$map"
	echo "FAIL: $lines map entries for $n translated blocks"
	exit 1
fi
# blocks start 16-byte aligned and name the program's guest addresses (RAM
# from 0x80000000); no two entries overlap, although the program flushes
# the JIT many times (perf keeps one symbol per address: with the map on,
# addresses are not reused), all inside one arena (1 GiB)
check=$(while read -r start size vpc rest; do # lines checked above
	echo "$((0x$start)) $((0x$size)) $((0x$start % 16)) $((0x${vpc#rv:} >= 0x80000000))"
done <"$map" | sort -n | awk '$3 != 0 || $4 != 1 { bad++ }
	NR > 1 && $1 < end { overlap++ } { end = $1 + $2 }
	NR == 1 { lo = $1 } END { print bad + 0, overlap + 0, end - lo }')
set -- $check
if [ "$1" -ne 0 ] || [ "$2" -ne 0 ] || [ "$3" -gt $((1 << 30)) ]; then
	echo "FAIL: $1 misplaced, $2 overlapping entries in $map (span $3 bytes)"
	exit 1
fi
flushes=$(sed -n 's/.*cpu: jit on: .* \([0-9]*\) flushes.*/\1/p' "$err")
echo "$lines entries for $n translations over $flushes flushes, no overlap"
rm -f "$map"
# off by default
VESSEL_JIT_STATS=1 "$vmm" --bios "$elf" --timeout 60 </dev/null 2>"$err" &
pid=$!
map=/tmp/perf-$pid.map
if ! wait $pid; then
	cat "$err"
	echo "FAIL: the program failed without VESSEL_JIT_PERFMAP"
	exit 1
fi
if [ -e "$map" ]; then
	echo "FAIL: $map written without VESSEL_JIT_PERFMAP"
	exit 1
fi
echo "perf map: $lines valid entries for $n translated blocks"
