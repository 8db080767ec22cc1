#!/bin/sh
# bench/cpu/run.sh: CPU-bound bare-metal programs timed under vessel-vmm and
# qemu-system-riscv64 -M virt -bios none (TCG) in the same run.
#
# Each program (src/*.c, built with Debian's riscv64-linux-gnu-gcc and the
# runtime of tests/isa/common) reads instret around its work and prints
# "instret N checksum X".  N comes from vessel (QEMU's instret without
# -icount counts host ticks, not instructions); the checksums of both runs
# must agree.  Times are hyperfine medians (RUNS runs, default 3) minus the
# median of the empty program (start-up), and the figures printed are guest
# MIPS for both and the vessel/QEMU ratio (> 1 = vessel faster).
#
# Environment: VESSEL_VMM (default build/cmd/vessel-vmm/vessel-vmm),
# BENCH_BUILD (default build/bench-cpu), RUNS, BENCH_PROGRAMS (subset).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
vmm=${VESSEL_VMM:-$root/build/cmd/vessel-vmm/vessel-vmm}
out=${BENCH_BUILD:-$root/build/bench-cpu}
runs=${RUNS:-3}
programs=${BENCH_PROGRAMS:-"crc32 crc16 sieve memcpy list qsort fib fsm strops interp nbody nbodyf matmul"}
cc=riscv64-linux-gnu-gcc
qemu=qemu-system-riscv64

for tool in "$cc" "$qemu" hyperfine python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench/cpu: $tool not installed (see deps/isa.txt); skipped"
		exit 0
	fi
done
if [ ! -x "$vmm" ]; then
	echo "bench/cpu: $vmm not built; skipped"
	exit 0
fi
mkdir -p "$out"
for p in empty $programs; do
	"$root/tests/isa/build-one.sh" "$cc" "$out/$p.elf" "$root/tests/isa" \
		-I"$root/bench/cpu/src" "$root/bench/cpu/src/$p.c"
done

vcmd() { echo "$vmm --bios $out/$1.elf --timeout 300"; }
qcmd() { echo "$qemu -M virt -bios none -nographic -monitor none -kernel $out/$1.elf"; }

echo "bench/cpu: vessel-vmm vs $($qemu --version | head -1) (TCG), median of $runs runs"
for p in empty $programs; do
	v=$($(vcmd "$p") </dev/null | grep '^instret')
	q=$($(qcmd "$p") </dev/null | grep '^instret')
	vsum=${v##* } qsum=${q##* }
	if [ "$vsum" != "$qsum" ]; then
		echo "bench/cpu: $p checksum differs: vessel $vsum, QEMU $qsum"
		exit 1
	fi
	n=$(echo "$v" | cut -d' ' -f2)
	hyperfine -N --style none --runs "$runs" --export-json "$out/$p.json" \
		"$(vcmd "$p")" "$(qcmd "$p")" >/dev/null 2>&1 </dev/null
	echo "$p $n" >>"$out/instret.$$"
done

python3 - "$out" "$out/instret.$$" <<'PY'
import json, sys
out, counts = sys.argv[1], dict(l.split() for l in open(sys.argv[2]))
def med(p):
    r = json.load(open(f"{out}/{p}.json"))["results"]
    return r[0]["median"], r[1]["median"]
ev, eq = med("empty")
print(f"start-up (empty program): vessel {ev*1000:.0f} ms, QEMU {eq*1000:.0f} ms")
print(f"{'program':<8} {'instret':>12} {'vessel s':>9} {'QEMU s':>8} "
      f"{'vessel MIPS':>11} {'QEMU MIPS':>9} {'vessel/QEMU':>11}")
worst = None
for p, n in counts.items():
    if p == "empty":
        continue
    n = int(n)
    v, q = med(p)
    v, q = max(v - ev, 1e-6), max(q - eq, 1e-6)
    ratio = q / v
    worst = ratio if worst is None else min(worst, ratio)
    print(f"{p:<8} {n:>12} {v:>9.2f} {q:>8.2f} {n/v/1e6:>11.0f} "
          f"{n/q/1e6:>9.0f} {ratio:>10.2f}x")
print(f"lowest vessel/QEMU ratio: {worst:.2f}x (target: >= 1.0x for every program)")
PY
rm -f "$out/instret.$$"
