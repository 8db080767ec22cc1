/* trigger_vessel.c (vessel only): the Sdtrig behaviour QEMU 7.2 lacks or
 * differs on: tcontrol.mte/mpte gating M-mode triggers (no re-firing in the
 * handler), tinfo (types 2, 6, 15, version 1), 4 triggers, WARL fields
 * (unsupported types become 15, action/match/size keep legal values only,
 * tdata3 reads 0), xtval = pc or access address, the hit bits, match NAPOT /
 * >= / <, the size field, select=1 (instruction bits, stored and loaded
 * data; load data fires after the load), timing=1 (after the instruction:
 * mepc = next pc, its effect done), AMOs and LR/SC, and a load trigger
 * inside a hot (translated) loop stopping at the exact iteration, and an
 * execute trigger on an instruction a hot block's last branch skips over. */
#include "isa.h"

#define T_LOAD	   (1UL << 0)
#define T_STORE	   (1UL << 1)
#define T_EXEC	   (1UL << 2)
#define T_U	   (1UL << 3)
#define T_S	   (1UL << 4)
#define T_M	   (1UL << 6)
#define T_MATCH(m) ((u64)(m) << 7)
#define TYPE2	   (2UL << 60)
#define TYPE6	   (6UL << 60)
#define T2_TIMING  (1UL << 18)
#define T2_SELECT  (1UL << 19)
#define T2_HIT	   (1UL << 20)
#define T6_SIZE(s) ((u64)(s) << 16)
#define T6_TIMING  (1UL << 20)
#define T6_SELECT  (1UL << 21)
#define T6_HIT	   (1UL << 22)
#define MTE	   (1UL << 3)
#define MPTE	   (1UL << 7)

static void set_trigger(u64 index, u64 tdata1, u64 tdata2)
{
	asm volatile(
	    "csrw 0x7a0, %0\n csrw 0x7a1, zero\n csrw 0x7a2, %2\n csrw 0x7a1, %1" ::"r"(index),
	    "r"(tdata1), "r"(tdata2)
	    : "memory");
}

static void clear_triggers(void)
{
	for (u64 i = 0; i < 4; i++)
		set_trigger(i, TYPE2, 0);
}

static volatile u64 arr[1024] __attribute__((aligned(64)));

/* U-mode: one byte load from a0 and nothing else touching memory (for the
 * unbounded >= and < ranges); a trap resumes at the ret. */
asm(".text\n .globl u_lb\n u_lb: la t6, 1f\n lb a0, 0(a0)\n 1: ret\n");
long u_lb(long addr);
/* U-mode: one doubleword load; u_ld_next is the instruction after it. */
asm(".text\n .globl u_ld, u_ld_next\n u_ld: la t6, u_ld_next\n ld a0, 0(a0)\n"
    "u_ld_next: ret\n");
long u_ld(long addr);
extern char u_ld_next[];

asm(".text\n .globl tv_code, tv_mid, tv_after\n"
    "tv_code:\n addi a0, a0, 1\n"
    "tv_mid:\n addi a0, a0, 77\n"
    "tv_after:\n addi a0, a0, 1000\n ret\n");
extern char tv_code[], tv_mid[], tv_after[];

/* Calls tv_code with a0 = 0; returns a0, or ~0 when it trapped. */
static u64 run_code(void)
{
	register u64 a0 asm("a0") = 0;
	asm volatile("la t6, 1f\n jalr ra, 0(%1)\n j 2f\n 1: li a0, -1\n 2:"
		     : "+r"(a0)
		     : "r"(tv_code)
		     : "t6", "ra", "memory");
	return a0;
}

/* Runs one load (ld) from p; returns the loaded value (or ~0 after a trap). */
static u64 do_ld(volatile u64 *p)
{
	u64 v = ~0UL;
	asm volatile("la t6, 1f\n ld %0, 0(%1)\n 1:" : "+r"(v) : "r"(p) : "t6", "memory");
	return v;
}

static u64 do_lw(volatile u64 *p)
{
	u64 v = ~0UL;
	asm volatile("la t6, 1f\n lw %0, 0(%1)\n 1:" : "+r"(v) : "r"(p) : "t6", "memory");
	return v;
}

static void do_sd(volatile u64 *p, u64 v)
{
	asm volatile("la t6, 1f\n sd %1, 0(%0)\n 1:" ::"r"(p), "r"(v) : "t6", "memory");
}

static void csr_basics(void)
{
	isa_check("tinfo: types 2, 6, 15, version 1", csr_read(0x7a4), (1UL << 24) | 0x8044);
	csr_write(0x7a0, 3);
	isa_check("tselect 3 (4 triggers)", csr_read(0x7a0), 3);
	csr_write(0x7a0, 4);
	isa_check("tselect 4 ignored", csr_read(0x7a0), 3);
	csr_write(0x7a3, ~0UL);
	isa_check("tdata3 reads 0", csr_read(0x7a3), 0);
	csr_write(0x7a1, (3UL << 60) | T_EXEC | T_M);
	isa_check("type 3 (icount) becomes 15 (disabled)", csr_read(0x7a1), 15UL << 60);
	csr_write(0x7a1, TYPE2 | (1UL << 12) | T_MATCH(5) | T_EXEC | T_M);
	isa_check("type 2: action 1 and match 5 read 0, maskmax 63", csr_read(0x7a1),
		  TYPE2 | (63UL << 53) | T_EXEC | T_M);
	csr_write(0x7a1, TYPE6 | T_MATCH(3) | T6_SIZE(6) | T6_TIMING | T_LOAD | T_U | (1UL << 59));
	isa_check("type 6: match 3, timing kept; size 6 and dmode read 0", csr_read(0x7a1),
		  TYPE6 | T_MATCH(3) | T6_TIMING | T_LOAD | T_U);
	csr_write(0x7a5, ~0UL);
	isa_check("tcontrol: mte and mpte only", csr_read(0x7a5), MTE | MPTE);
	csr_write(0x7a5, 0);
	clear_triggers();
}

static void m_mode(void)
{
	set_trigger(0, TYPE2 | T_EXEC | T_M, (u64)tv_mid);
	isa_check("M trigger with tcontrol.mte = 0: no fire", run_code(), 1078);
	csr_write(0x7a5, MTE);
	isa_expect_trap();
	isa_check("M trigger with mte = 1: fires", run_code(), ~0UL);
	isa_check("  cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
	isa_check("  mepc = the instruction", isa_last_trap.epc, (u64)tv_mid);
	isa_check("  mtval = its pc", isa_last_trap.tval, (u64)tv_mid);
	isa_check("  tcontrol after mret: mte = mpte = 1", csr_read(0x7a5), MTE | MPTE);
	csr_write(0x7a0, 0);
	isa_check("  hit bit (type 2)", csr_read(0x7a1) & T2_HIT, T2_HIT);
	/* timing = 1: after the instruction */
	set_trigger(0, TYPE6 | T6_TIMING | T_EXEC | T_M, (u64)tv_mid);
	isa_expect_trap();
	run_code();
	isa_check("timing 1 exec: mepc = next pc", isa_last_trap.epc, (u64)tv_after);
	isa_check("timing 1 exec: mtval = its pc", isa_last_trap.tval, (u64)tv_mid);
	isa_check("  hit bit (type 6)", csr_read(0x7a1) & T6_HIT, T6_HIT);
	/* select = 1: match on the instruction bits (addi a0, a0, 77) */
	u32 insn = *(volatile u32 *)tv_mid;
	set_trigger(1, TYPE6 | T6_SELECT | T_EXEC | T_M, insn & 3 ? insn : (u16)insn);
	set_trigger(0, TYPE2, 0);
	isa_expect_trap();
	run_code();
	isa_check("select 1 exec (opcode): mepc", isa_last_trap.epc, (u64)tv_mid);
	clear_triggers();
	isa_check("all off", run_code(), 1078);
}

static void loads_stores(void)
{
	volatile u64 *a = &arr[64];
	/* address and tval */
	set_trigger(2, TYPE2 | T_LOAD | T_M, (u64)a);
	a[0] = 5;
	isa_expect_trap();
	isa_check("load trigger: no value", do_ld(a), ~0UL);
	isa_check("  mtval = address", isa_last_trap.tval, (u64)a);
	set_trigger(2, TYPE2 | T_STORE | T_M, (u64)(a + 1));
	isa_expect_trap();
	do_sd(a + 1, 9);
	isa_check("store trigger: not written", a[1], 0);
	isa_check("  mtval = address", isa_last_trap.tval, (u64)(a + 1));
	/* an access covering the address from below fires (every byte counts) */
	set_trigger(2, TYPE2 | T_STORE | T_M, (u64)a + 4);
	isa_expect_trap();
	do_sd(a, 1);
	isa_check("sd covering the address: mtval = access address", isa_last_trap.tval, (u64)a);
	/* timing = 1 store: written, then the trap */
	set_trigger(2, TYPE2 | T2_TIMING | T_STORE | T_M, (u64)(a + 2));
	isa_expect_trap();
	do_sd(a + 2, 11);
	isa_check("timing 1 store: written", a[2], 11);
	isa_check("timing 1 store: trapped", isa_last_trap.cause, CAUSE_BREAKPOINT);
	/* NAPOT: 16 bytes at a + 4 (arr[68..69]) */
	set_trigger(2, TYPE6 | T_MATCH(1) | T_LOAD | T_M, (u64)(a + 4) | 7);
	isa_expect_trap();
	do_ld(a + 5);
	isa_check("napot: inside", isa_last_trap.tval, (u64)(a + 5));
	isa_check("napot: below", do_ld(a + 3), 0);
	isa_check("napot: above", do_ld(a + 6), 0);
	isa_trap_armed = 0;
	/* >= and < (U-mode triggers: only u_lb's load runs in U) */
	set_trigger(2, TYPE6 | T_MATCH(2) | T_LOAD | T_U, (u64)(a + 8));
	isa_check(">=: below", isa_run_in_mode(MODE_U, u_lb, (long)(a + 7)), 0);
	isa_expect_trap();
	isa_run_in_mode(MODE_U, u_lb, (long)(a + 9));
	isa_check(">=: above", isa_last_trap.tval, (u64)(a + 9));
	set_trigger(2, TYPE6 | T_MATCH(3) | T_LOAD | T_U, (u64)(a + 8));
	isa_check("<: at", isa_run_in_mode(MODE_U, u_lb, (long)(a + 8)), 0);
	isa_expect_trap();
	isa_run_in_mode(MODE_U, u_lb, (long)(a + 7));
	isa_check("<: below", isa_last_trap.tval, (u64)(a + 7));
	isa_check("<: MPP = U", (isa_last_trap.status >> 11) & 3, MODE_U);
	/* size: a 64-bit-only trigger ignores lw */
	set_trigger(2, TYPE6 | T6_SIZE(5) | T_LOAD | T_M, (u64)(a + 10));
	isa_check("size 64: lw passes", do_lw(a + 10), 0);
	isa_expect_trap();
	do_ld(a + 10);
	isa_check("size 64: ld fires", isa_last_trap.tval, (u64)(a + 10));
	/* select = 1: store data */
	set_trigger(2, TYPE2 | T2_SELECT | T_STORE | T_M, 0x1234);
	do_sd(a + 11, 0x1235);
	isa_check("store data 0x1235: no fire", a[11], 0x1235);
	isa_expect_trap();
	do_sd(a + 11, 0x1234);
	isa_check("store data 0x1234: fires before", a[11], 0x1235);
	isa_check("  mtval = address", isa_last_trap.tval, (u64)(a + 11));
	/* select = 1: load data fires after the load (U-mode: any load could match) */
	a[12] = 0x4321;
	a[13] = 0x4322;
	set_trigger(2, TYPE6 | T6_SELECT | T_LOAD | T_U, 0x4321);
	isa_check("load data 0x4322: no fire", isa_run_in_mode(MODE_U, u_ld, (long)(a + 13)),
		  0x4322);
	isa_expect_trap();
	u64 v = (u64)isa_run_in_mode(MODE_U, u_ld, (long)(a + 12));
	isa_check("load data 0x4321: loaded", v, 0x4321);
	isa_check("  cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
	isa_check("  mepc = next pc", isa_last_trap.epc, (u64)u_ld_next);
	isa_check("  mtval = address", isa_last_trap.tval, (u64)(a + 12));
	/* AMO: load and store; LR: load; SC: store */
	set_trigger(2, TYPE2 | T_STORE | T_M, (u64)(a + 14));
	isa_expect_trap();
	asm volatile("la t6, 1f\n amoadd.d zero, %1, (%0)\n 1:" ::"r"(a + 14), "r"(1UL)
		     : "t6", "memory");
	isa_check("amoadd: store trigger fires, no add",
		  isa_last_trap.cause == CAUSE_BREAKPOINT && a[14] == 0, 1);
	set_trigger(2, TYPE2 | T_LOAD | T_M, (u64)(a + 14));
	isa_expect_trap();
	asm volatile("la t6, 1f\n lr.d %0, (%1)\n 1:" : "=&r"(v) : "r"(a + 14) : "t6", "memory");
	isa_check("lr: load trigger", isa_last_trap.tval, (u64)(a + 14));
	clear_triggers();
}

/* A hot loop summing arr[]: a load trigger on arr[500] stops it there. */
static u64 sum_loop(u64 *index_out)
{
	register u64 i asm("a1") = 0;
	u64 s = 0;
	asm volatile("la t6, 2f\n"
		     "1: slli t0, %0, 3\n add t0, t0, %2\n ld t1, 0(t0)\n add %1, %1, t1\n"
		     " addi %0, %0, 1\n blt %0, %3, 1b\n"
		     "2:"
		     : "+r"(i), "+r"(s)
		     : "r"(arr), "r"(1024UL)
		     : "t0", "t1", "t6", "memory");
	*index_out = i;
	return s;
}

static void hot_loop(void)
{
	u64 idx, s = 0;
	for (int k = 0; k < 1024; k++)
		arr[k] = (u64)k;
	for (int k = 0; k < 50; k++)
		s = sum_loop(&idx);
	isa_check("hot loop sum", s, 1023UL * 1024 / 2);
	set_trigger(3, TYPE6 | T_LOAD | T_M, (u64)&arr[500]);
	isa_expect_trap();
	sum_loop(&idx);
	isa_check("hot loop: load trigger stops at index 500", idx, 500);
	isa_check("  mtval", isa_last_trap.tval, (u64)&arr[500]);
	clear_triggers();
	isa_check("hot loop after: sum", sum_loop(&idx), 1023UL * 1024 / 2);
}

/* A block ending in a branch over one instruction (its annex: translated
 * code runs it under the branch's condition, jit.c emit_annex): an execute
 * trigger on that instruction fires there once the block is hot. */
asm(".text\n .globl annex_code, annex_insn\n"
    "annex_code:\n beqz a1, 1f\n"
    "annex_insn:\n addi a0, a0, 5\n"
    "1: ret\n");
extern char annex_code[], annex_insn[];

/* annex_code(a0, a1); ~0 when it trapped */
static u64 run_annex(u64 a0, u64 a1)
{
	register u64 r0 asm("a0") = a0;
	register u64 r1 asm("a1") = a1;
	asm volatile("la t6, 1f\n jalr ra, 0(%2)\n j 2f\n 1: li a0, -1\n 2:"
		     : "+r"(r0)
		     : "r"(r1), "r"(annex_code)
		     : "t6", "ra", "memory");
	return r0;
}

static void annex_trigger(void)
{
	u64 s = 0;
	for (u64 k = 0; k < 200; k++)
		s += run_annex(1, k & 1);
	isa_check("annex loop", s, 200 + 100 * 5);
	set_trigger(0, TYPE2 | T_EXEC | T_M, (u64)annex_insn);
	csr_write(0x7a5, MTE);
	/* the translated block, its annex not run */
	for (int k = 0; k < 200; k++)
		if (run_annex(1, 0) != 1)
			isa_fail("annex not run: fired");
	isa_expect_trap();
	isa_check("annex run: the trigger fires", run_annex(1, 1), ~0UL);
	isa_check("  cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
	isa_check("  mepc = the annex instruction", isa_last_trap.epc, (u64)annex_insn);
	csr_write(0x7a5, 0);
	clear_triggers();
	isa_check("annex after", run_annex(1, 1), 6);
}

void test_main(void)
{
	csr_basics();
	m_mode();
	loads_stores();
	hot_loop();
	annex_trigger();
	csr_write(0x7a5, 0);
}
