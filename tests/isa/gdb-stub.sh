#!/bin/sh
# gdb-stub.sh ELF: debugs the bare-metal gdb_target program (2 harts) with
# gdb-multiarch in batch mode through `vessel-vmm --gdb unix:SOCK
# --gdb-wait`: threads per hart, a breakpoint on a function hit twice,
# argument / variable / register / CSR / FP register reads, stepi, a
# hardware watchpoint (old and new value), a memory write the program
# checks, a hardware breakpoint (Z1), read and access watchpoints (Z3, Z4),
# and continuing to the program's exit (W packet).  77 = skipped
# (no ELF, no vessel-vmm, no gdb-multiarch).
elf=$1
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
gdb=${GDB:-gdb-multiarch}
if [ ! -s "$elf" ] || [ ! -x "$vmm" ]; then
	echo "SKIP: no ELF or vessel-vmm"
	exit 77
fi
if ! command -v "$gdb" >/dev/null 2>&1; then
	echo "SKIP: $gdb not installed"
	exit 77
fi
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/gdb.sock
"$vmm" --bios "$elf" --cpus 2 --timeout 120 --gdb "unix:$sock" --gdb-wait \
	</dev/null >"$tmp/vmm.out" 2>"$tmp/vmm.err" &
pid=$!
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "FAIL: no gdb socket"; cat "$tmp/vmm.err"; exit 1
	fi
	sleep 0.1
done
timeout 120 "$gdb" -nx -batch -ex 'set pagination off' -ex 'set confirm off' \
	-ex "file $elf" -ex "target remote $sock" \
	-ex 'info threads' \
	-ex 'break gdb_add' -ex 'continue' -ex 'print x' \
	-ex 'continue' -ex 'print x' -ex 'print gdb_counter' \
	-ex 'info registers pc' -ex 'print/x $mhartid' -ex 'print/x $misa' \
	-ex 'print $fa0' -ex 'print $priv' \
	-ex 'stepi' -ex 'print/d (long)$pc - (long)&gdb_add' \
	-ex 'delete' -ex 'watch gdb_counter' -ex 'continue' \
	-ex 'delete' -ex 'hbreak gdb_add' -ex 'continue' -ex 'print x' \
	-ex 'delete' -ex 'rwatch gdb_counter' -ex 'continue' \
	-ex 'delete' -ex 'awatch gdb_counter' -ex 'continue' \
	-ex 'set var gdb_poke = 1' -ex 'delete' -ex 'continue' \
	>"$tmp/gdb.out" 2>&1
grc=$?
wait "$pid"
rc=$?
pid=
cat "$tmp/gdb.out"
echo "--- vessel-vmm (exit $rc):"
cat "$tmp/vmm.out" "$tmp/vmm.err"
fail=0
expect() {
	if ! tr -d '\r' <"$tmp/gdb.out" | grep -Fq -- "$1"; then
		echo "FAIL: gdb output lacks: $1"
		fail=1
	fi
}
expect 'Thread 2 (hart 1, M-mode)'
expect 'hit Breakpoint 1, gdb_add (x=x@entry=0)'
expect 'hit Breakpoint 1, gdb_add (x=x@entry=1)'
expect '$2 = 1'
expect '$3 = 0'
expect '<gdb_add>'
expect '$4 = 0x0'
expect '$5 = 0x800000000014112d'
expect '$6 = {float = 0, double = 0}'
expect '$7 = 3'
expect '$8 = 4'
expect 'Hardware watchpoint 2: gdb_counter'
expect 'Old value = 0'
expect 'New value = 1'
expect 'hit Breakpoint 3, gdb_add (x=x@entry=2)'
expect '$9 = 2'
expect 'Hardware read watchpoint 4: gdb_counter'
expect 'Value = 1'
expect 'Hardware access (read/write) watchpoint 5: gdb_counter'
expect 'New value = 3'
expect 'exited normally'
grep -q 'poked by the debugger 0000000000000001' "$tmp/vmm.out" || {
	echo "FAIL: the debugger's write did not reach the guest"
	fail=1
}
[ "$grc" -eq 0 ] || { echo "FAIL: gdb exit status $grc"; fail=1; }
[ "$rc" -eq 0 ] || { echo "FAIL: vessel-vmm exit status $rc"; fail=1; }
exit $fail
