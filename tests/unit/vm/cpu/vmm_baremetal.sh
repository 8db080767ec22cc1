#!/bin/sh
# vmm_baremetal.sh: drives the real vessel-vmm --bios on tiny bare-metal
# programs built here with riscv64-linux-gnu-gcc and checks the documented
# exit statuses (docs/vessel-vmm.md), UART/HTIF output, SMP start-up, timer
# interrupts out of WFI, timeouts, signals and host-side errors.
# Skips (77) when the cross compiler or vessel-vmm is missing.
vmm=${VESSEL_VESSEL_VMM:-${VESSEL_BUILD_ROOT:-.}/cmd/vessel-vmm/vessel-vmm}
cc=riscv64-linux-gnu-gcc
command -v $cc >/dev/null 2>&1 || { echo "SKIP: $cc not installed"; exit 77; }
[ -x "$vmm" ] || { echo "SKIP: vessel-vmm not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cat >"$tmp/link.ld" <<'LD'
ENTRY(_start)
SECTIONS { . = 0x80000000; .text : { *(.text*) } .data : { *(.data*) *(.sdata*) }
  . = ALIGN(64); .tohost : { *(.tohost) } .bss : { *(.bss*) } }
LD
build() { # name, assembly on stdin
	cat >"$tmp/$1.S"
	$cc -march=rv64gc -mabi=lp64d -nostdlib -static -Wl,--build-id=none \
		-Wl,--no-warn-rwx-segments -T "$tmp/link.ld" -o "$tmp/$1.elf" "$tmp/$1.S" ||
		{ fail "cannot build $1"; return 1; }
}
run() { # expected-status name [args...]
	want=$1 name=$2
	shift 2
	"$vmm" --bios "$tmp/$name.elf" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	got=$?
	[ "$got" -eq "$want" ] || fail "$name: exit $got, expected $want ($(cat "$tmp/$name.err"))"
}

# UART output then finisher pass.
build hello <<'S'
.globl _start
_start: li s0, 0x10000000
  la s1, msg
1: lbu a0, 0(s1)
  beqz a0, 2f
  sb a0, 0(s0)
  addi s1, s1, 1
  j 1b
2: li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
3: j 3b
.data
msg: .string "hello, bare metal\n"
S
run 0 hello
grep -q "hello, bare metal" "$tmp/hello.out" || fail "hello: UART output missing"

# Finisher failure with a code, and reboot.
build ffail <<'S'
.globl _start
_start: li t0, 0x100000
  li t1, (7 << 16) | 0x3333
  sw t1, 0(t0)
1: j 1b
S
run 2 ffail
grep -q "FAIL: test 7" "$tmp/ffail.err" || fail "ffail: code not reported"
build freboot <<'S'
.globl _start
_start: li t0, 0x100000
  li t1, 0x7777
  sw t1, 0(t0)
1: j 1b
S
run 3 freboot

# HTIF: console putchar, then pass / fail of test 5.
build htifpass <<'S'
.globl _start
_start: la t0, tohost
  li t1, (1 << 56) | (1 << 48) | 'K'
  sd t1, 0(t0)
  la t2, fromhost
1: ld t3, 0(t2)
  beqz t3, 1b
  li t1, 1
  sd t1, 0(t0)
2: j 2b
.section .tohost, "aw"
.globl tohost, fromhost
.align 6
tohost: .dword 0
.align 6
fromhost: .dword 0
S
run 0 htifpass
grep -q K "$tmp/htifpass.out" || fail "htifpass: console byte missing"
build htiffail <<'S'
.globl _start
_start: la t0, tohost
  li t1, (5 << 1) | 1
  sd t1, 0(t0)
1: j 1b
.section .tohost, "aw"
.globl tohost
.align 6
tohost: .dword 0
S
run 2 htiffail
grep -q "FAIL: test 5" "$tmp/htiffail.err" || fail "htiffail: test number not reported"

# Four harts: each adds 1 << hartid with an AMO; hart 0 waits for 0xf.
build smp <<'S'
.globl _start
_start: la t0, counter
  li t1, 1
  sll t1, t1, a0
  amoor.w zero, t1, (t0)
  bnez a0, 2f
1: lw t2, 0(t0)
  li t3, 0xf
  bne t2, t3, 1b
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
2: wfi
  j 2b
.data
.align 3
counter: .word 0
S
run 0 smp --cpus 4

# Timer interrupt wakes WFI (machine timer through the CLINT, 20 ms).
build timer <<'S'
.globl _start
_start: la t0, handler
  csrw mtvec, t0
  li t0, 0x200bff8
  ld t1, 0(t0)
  li t2, 200000
  add t1, t1, t2
  li t0, 0x2004000
  sd t1, 0(t0)
  li t0, 0x80
  csrw mie, t0
  csrsi mstatus, 8
1: wfi
  j 1b
.align 2
handler: csrr t0, mcause
  li t1, 0x8000000000000007
  li a0, 0x100000
  li a1, 0x5555
  beq t0, t1, 2f
  li a1, 0x13333
2: sw a1, 0(a0)
3: j 3b
S
run 0 timer --timeout 10

# Timeout, then a signal.
build spin <<'S'
.globl _start
_start: j _start
S
run 124 spin --timeout 0.5
"$vmm" --bios "$tmp/spin.elf" </dev/null >/dev/null 2>&1 &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
got=$?
[ $got -eq 130 ] || fail "spin: SIGINT gave exit $got, expected 130"

# Host-side errors: exit 1 with a message.
"$vmm" --bios "$tmp/missing.elf" >/dev/null 2>"$tmp/e1"
[ $? -eq 1 ] && grep -q "missing.elf" "$tmp/e1" || fail "missing file: $(cat "$tmp/e1")"
printf 'not an elf at all' >"$tmp/junk.elf"
"$vmm" --bios "$tmp/junk.elf" >/dev/null 2>"$tmp/e2"
[ $? -eq 1 ] && grep -q "not an ELF" "$tmp/e2" || fail "junk: $(cat "$tmp/e2")"
"$vmm" --bios "$tmp/hello.elf" --cpus 99 >/dev/null 2>"$tmp/e3"
[ $? -eq 1 ] && grep -q -- "--cpus" "$tmp/e3" || fail "--cpus 99: $(cat "$tmp/e3")"
"$vmm" --bios "$tmp/hello.elf" --mem 1k >/dev/null 2>"$tmp/e4"
[ $? -eq 1 ] || fail "--mem 1k accepted"
"$vmm" --bogus >/dev/null 2>"$tmp/e5"
[ $? -eq 1 ] && grep -q "unknown option" "$tmp/e5" || fail "--bogus: $(cat "$tmp/e5")"
sed 's/0x80000000/0x80200000/' "$tmp/link.ld" >"$tmp/far.ld"
$cc -march=rv64gc -mabi=lp64d -nostdlib -static -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
	-T "$tmp/far.ld" -o "$tmp/far.elf" "$tmp/hello.S" || fail "cannot build far"
"$vmm" --bios "$tmp/far.elf" --mem 1M >/dev/null 2>"$tmp/e6"
[ $? -eq 1 ] && grep -q "not inside guest RAM" "$tmp/e6" || fail "ELF beyond RAM: $(cat "$tmp/e6")"
"$vmm" --bios "$tmp/far.elf" --mem 4M </dev/null >"$tmp/far.out" 2>&1 || fail "far.elf with 4M"

[ $fails -eq 0 ] && echo "all bare-metal checks passed"
exit $((fails != 0))
