/* jit.c: cases aimed at vessel's baseline JIT (lib/vm/cpu/jit.c), which
 * translates a decoded block to host code after 32 executions (fewer with
 * VESSEL_JIT_THRESHOLD); unprivileged spec §2.8 FENCE.I, privileged spec
 * §3.1.15/16 mepc/mtval for precise exceptions:
 *  - self-modifying code after translation: a loop written to RAM runs hot
 *    (a self-loop block, then two blocks chained to each other), is rewritten
 *    and fence.i'd, and must run the new code, several times over;
 *  - a hot loop whose load (then store) faults after 250 iterations: mepc,
 *    mtval and every register as of the faulting instruction;
 *  - a hot loop that stores into its own 64-byte code chunk on every
 *    iteration (its block is invalidated while it runs, each time; with
 *    VESSEL_JIT_THRESHOLD=1 its 70000 translations overflow the 32 MiB code
 *    arena, so the arena is recycled under a running program);
 *  - a hot loop, one self-looping block or two blocks of one page chained
 *    to each other, whose store rewrites the loop's first instruction
 *    halfway (no fence.i: a store to decoded code is seen by the next
 *    instruction fetched, as QEMU does too); the rest of the iterations
 *    run the new instruction (vessel links such blocks directly and must
 *    drop the links of an invalidated block);
 *  - a block translated up to an FP op and interpreted on from there, with
 *    a fault in the interpreted part;
 *  - a timer interrupt taken in an endless loop of two chained blocks;
 *  - a hot loop mixing every translated integer op, checked by signature
 *    (isa-diff compares it with QEMU). */
#include "ops.h"

#define HOLE 0x2000000000UL /* no device, no RAM: access fault */

static u32 enc_i(int imm, unsigned rs1, unsigned f3, unsigned rd, unsigned op)
{
	return ((u32)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static u32 enc_b(int off, unsigned rs2, unsigned rs1, unsigned f3)
{
	u32 o = (u32)off;
	return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
	       ((o >> 1) & 0xf) << 8 | ((o >> 11) & 1) << 7 | 0x63;
}

static u32 enc_r(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x33;
}

static u32 enc_s(int off, unsigned rs2, unsigned rs1, unsigned f3)
{
	u32 o = (u32)off;
	return ((o >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (o & 31) << 7 | 0x23;
}

#define ADDI(rd, rs, imm) enc_i((imm), (rs), 0, (rd), 0x13)
#define RET		  0x00008067u
#define A0		  10
#define A1		  11

static u32 code[32] __attribute__((aligned(128))); /* in one page */

static long run(long n)
{
	register long a0 asm("a0") = 0;
	register long a1 asm("a1") = n;
	asm volatile("jalr ra, 0(%2)" : "+r"(a0), "+r"(a1) : "r"(code) : "ra", "memory");
	return a0;
}

/* a0 = 0; do { a0 += k; a1 -= step; } while (a1 != 0): a self-loop block */
static void write_self_loop(int k, int step)
{
	code[0] = ADDI(A0, 0, 0);
	code[1] = ADDI(A0, A0, k);
	code[2] = ADDI(A1, A1, -step);
	code[3] = enc_b(-8, 0, A1, 1); /* bnez a1, code+4 */
	code[4] = RET;
	asm volatile("fence.i" ::: "memory");
}

/* the same loop split into two blocks that jump to each other */
static void write_chained_loop(int k)
{
	code[0] = ADDI(A0, 0, 0);
	code[1] = ADDI(A0, A0, k);
	code[2] = enc_b(12, 0, 0, 0); /* beq zero, zero, code+20 */
	code[3] = ADDI(A0, A0, 1000); /* never run */
	code[4] = ADDI(A0, A0, 1000);
	code[5] = ADDI(A1, A1, -1);
	code[6] = enc_b(-20, 0, A1, 1); /* bnez a1, code+4 */
	code[7] = RET;
	asm volatile("fence.i" ::: "memory");
}

static void smc_cases(void)
{
	for (int k = 1; k <= 4; k++) {
		write_self_loop(k, 1);
		isa_check("self-loop rewritten", run(1000), 1000 * k);
		isa_check("self-loop again", run(1000), 1000 * k);
	}
	write_self_loop(5, 2); /* the loop's counter step changes too */
	isa_check("self-loop new step", run(1000), 500 * 5);
	for (int k = 1; k <= 3; k++) {
		write_chained_loop(k);
		isa_check("chained loop rewritten", run(1000), 1000 * k);
	}
	/* only the block reached through the chain changes */
	code[5] = ADDI(A1, A1, -2);
	asm volatile("fence.i" ::: "memory");
	isa_check("chained successor rewritten", run(1000), 500 * 3);
}

static u64 vals[300];
static u64 table[300];

static void fault_cases(void)
{
	u64 want = 0;
	for (int i = 0; i < 300; i++) {
		vals[i] = (u64)i * 0x9e3779b97f4a7c15UL;
		table[i] = i == 250 ? HOLE : (u64)&vals[i];
		if (i < 250)
			want += vals[i];
	}
	u64 sum = 0, n = 300, p = (u64)table, t0 = 0, site = 0;
	isa_expect_trap();
	asm volatile("la t6, 2f\n la %4, 3f\n"
		     "1: ld %3, 0(%2)\n"
		     "3: ld t1, 0(%3)\n"
		     "add %0, %0, t1\n"
		     "addi %2, %2, 8\n"
		     "addi %1, %1, -1\n"
		     "bnez %1, 1b\n"
		     "2:\n"
		     : "+r"(sum), "+r"(n), "+r"(p), "+r"(t0), "=&r"(site)
		     :
		     : "t1", "t6", "memory");
	isa_check("hot load fault: cause", isa_last_trap.cause, CAUSE_LOAD_ACCESS);
	isa_check("hot load fault: mtval", isa_last_trap.tval, HOLE);
	isa_check("hot load fault: mepc", isa_last_trap.epc == site, 1);
	isa_check("hot load fault: sum", sum, want);
	isa_check("hot load fault: counter", n, 50);
	isa_check("hot load fault: pointer", p - (u64)table, 250 * 8);
	isa_check("hot load fault: rd of the load before", t0, HOLE);

	u64 i = 0;
	p = (u64)table;
	isa_expect_trap();
	asm volatile("la t6, 2f\n la %3, 3f\n"
		     "1: ld %2, 0(%1)\n"
		     "3: sd %0, 8(%2)\n"
		     "addi %1, %1, 8\n"
		     "addi %0, %0, 1\n"
		     "j 1b\n"
		     "2:\n"
		     : "+r"(i), "+r"(p), "+r"(t0), "=&r"(site)
		     :
		     : "t6", "memory");
	isa_check("hot store fault: cause", isa_last_trap.cause, CAUSE_STORE_ACCESS);
	isa_check("hot store fault: mtval", isa_last_trap.tval, HOLE + 8);
	isa_check("hot store fault: mepc", isa_last_trap.epc == site, 1);
	isa_check("hot store fault: counter", i, 250);
	isa_check("hot store fault: last store", vals[250], 249);
	isa_check("hot store fault: first store", vals[1], 0);
}

/*
 * do { a0 += 1; a1--; t0 = ptrs[a1]; *t0 = a2; } while (a1): every store
 * goes to a dummy word but the one at a1 == n / 2, which rewrites the
 * first instruction as a0 += 100.  With `split`, a jump ends the block
 * before the store: two blocks of one page that chain to each other.
 */
#define SMC_N 1000
static u64 smc_ptrs[SMC_N];
static u32 smc_dummy;

static long patch_in_loop(int split)
{
	for (int i = 0; i < SMC_N; i++)
		smc_ptrs[i] = i == SMC_N / 2 ? (u64)&code[1] : (u64)&smc_dummy;
	unsigned t0 = 5, a2 = 12, a4 = 14;
	int n = 0;
	code[n++] = ADDI(A0, 0, 0);
	code[n++] = ADDI(A0, A0, 1);	       /* 1: loop, the patched one */
	code[n++] = ADDI(A1, A1, -1);	       /* 2 */
	code[n++] = enc_i(3, A1, 1, t0, 0x13); /* 3: slli t0, a1, 3 */
	code[n++] = enc_r(0, a4, t0, 0, t0);   /* 4: add t0, t0, a4 */
	code[n++] = enc_i(0, t0, 3, t0, 0x03); /* 5: ld t0, 0(t0) */
	if (split) {
		code[n++] = enc_b(8, 0, 0, 0);	/* 6: beq zero, zero, 8 */
		code[n++] = ADDI(A0, A0, 1000); /* 7: never run */
	}
	code[n++] = enc_s(0, a2, t0, 2);      /* sw a2, 0(t0) */
	code[n] = enc_b(4 - 4 * n, 0, A1, 1); /* bnez a1, loop */
	n++;
	code[n++] = RET;
	asm volatile("fence.i" ::: "memory");
	register long ra0 asm("a0") = 0;
	register long ra1 asm("a1") = SMC_N;
	register long ra2 asm("a2") = (long)ADDI(A0, A0, 100);
	register long ra4 asm("a4") = (long)smc_ptrs;
	asm volatile("jalr ra, 0(%3)"
		     : "+r"(ra0), "+r"(ra1), "+r"(ra2)
		     : "r"(code), "r"(ra4)
		     : "ra", "t0", "memory");
	return ra0;
}

static void patch_in_loop_cases(void)
{
	/* SMC_N / 2 iterations add 1 (the patch is stored in the last of them),
	 * the other SMC_N / 2 add 100 */
	isa_check("loop patched by its own store: self-loop", patch_in_loop(0),
		  SMC_N / 2 + 100 * (SMC_N / 2));
	isa_check("loop patched by its own store: two chained blocks", patch_in_loop(1),
		  SMC_N / 2 + 100 * (SMC_N / 2));
}

/* stores into the code chunk that holds the loop, every iteration */
static void self_store_case(void)
{
	/* loop: sw a0, 60(code); addi a0, a0, 1; addi a1, a1, -1; bnez a1, loop */
	code[0] = ADDI(A0, 0, 0);
	code[1] = (u32)(60 >> 5) << 25 | A0 << 20 | 12u << 15 | 2u << 12 | (60 & 31) << 7 | 0x23;
	code[2] = ADDI(A0, A0, 1);
	code[3] = ADDI(A1, A1, -1);
	code[4] = enc_b(-12, 0, A1, 1); /* bnez a1, code+4 */
	code[5] = RET;
	asm volatile("fence.i" ::: "memory");
	register long a0 asm("a0") = 0;
	register long a1 asm("a1") = 70000;
	register long a2 asm("a2") = (long)code;
	asm volatile("jalr ra, 0(%2)" : "+r"(a0), "+r"(a1), "+r"(a2) : : "ra", "memory");
	isa_check("store into the running code chunk: result", a0, 70000);
	isa_check("store into the running code chunk: stored", code[15], 69999);
}

/*
 * a hot block with an AMO and a division (done in host code) is translated
 * only up to its first untranslated FP op (FSGNJ.D; FMV.D.X before it is
 * translated), the interpreter running the rest up to the CSR read that
 * ends the block; the last pass faults in the interpreted part
 */
static u64 amo_cell;
static void partial_case(void)
{
	u64 a = 0, b = 0, c = 0, d = 0, q = 0, h = 0, ms = 0;
	for (int i = 0; i < 300; i++) {
		u64 bad = i == 299 ? HOLE : (u64)&amo_cell;
		isa_expect_trap();
		asm volatile(
		    "la t6, 1f\n"
		    "addi %0, %0, 1\n addi %1, %1, 3\n xor %2, %0, %1\n"
		    "amoadd.d %3, %1, (%7)\n divu %4, %1, %0\n add %2, %2, %3\n"
		    "fmv.d.x ft0, %2\n fsgnj.d ft0, ft0, ft0\n"
		    "addi %1, %1, 1\n ld t0, 0(%8)\n addi %1, %1, -1\n"
		    "fmv.x.d %2, ft0\n"
		    "addi %0, %0, 1\n addi %0, %0, -1\n xor %2, %2, %0\n csrr %5, mhartid\n"
		    "add %5, %5, %2\n"
		    "1:"
		    : "+r"(a), "+r"(b), "+r"(c), "=&r"(d), "=&r"(q), "+r"(ms)
		    : "m"(amo_cell), "r"(&amo_cell), "r"(bad)
		    : "t0", "t6", "ft0", "memory");
		h = isa_fnv(isa_fnv(isa_fnv(h, c), d), q ^ ms);
	}
	isa_trap_armed = 0;
	isa_check("partly translated blocks: fault in the interpreted part", isa_last_trap.tval,
		  HOLE);
	isa_check("partly translated blocks: registers at the fault", b, 300 * 3 + 1);
	isa_check("partly translated blocks: amo cell", amo_cell, 3 * 299 * 300 / 2 + 3 * 300);
	isa_sig("partly translated blocks", h);
}

static volatile int ticks;
static volatile u64 tick_epc;
static int timer_hook(struct isa_frame *f)
{
	if (f->cause != (CAUSE_INTR | 7))
		return 0;
	*(volatile u64 *)ISA_MTIMECMP(0) = ~0UL;
	ticks++;
	tick_epc = f->epc;
	f->epc = f->x[31]; /* leave the endless loop */
	return 1;
}

/*
 * a timer interrupt reaches two translated blocks that jump to each other
 * (translated after 32 iterations, i.e. unless the host stalls for 5 ms; the
 * threshold-1 variant translates them at once)
 */
static void timer_case(void)
{
	isa_irq_hook = timer_hook;
	csr_write(mie, 1 << 7);
	*(volatile u64 *)ISA_MTIMECMP(0) = *(volatile u64 *)ISA_MTIME + 50000; /* 5 ms */
	u64 a = 0, b = 0, l1, l2;
	asm volatile("la t6, 3f\n la %2, 1f\n la %3, 2f\n csrsi mstatus, 8\n"
		     "1: addi %0, %0, 1\n beq zero, zero, 2f\n"
		     "2: addi %1, %1, 1\n j 1b\n 3:"
		     : "+r"(a), "+r"(b), "=&r"(l1), "=&r"(l2)
		     :
		     : "t6", "memory");
	csr_clear(mstatus, MSTATUS_MIE);
	csr_write(mie, 0);
	isa_irq_hook = 0;
	isa_check("timer in chained hot blocks: taken once", ticks, 1);
	isa_check("timer in chained hot blocks: mepc at a block start",
		  tick_epc == l1 || tick_epc == l2, 1);
	isa_check("timer in chained hot blocks: counters match mepc",
		  tick_epc == l1 ? a == b : a == b + 1, 1);
}

/* every translated integer op in one hot loop, folded into a signature */
static void op_mix(void)
{
	u64 h = 0xcbf29ce484222325UL, x = 0x0123456789abcdefUL, y = 0xfedcba9876543210UL;
	static u64 mem[8];
	for (int i = 0; i < 2000; i++) {
		u64 a = x, b = y, r;
		asm volatile("add %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("subw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sll %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sraw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("srlw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sllw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sra %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("slt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sltu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("slti %0, %1, -5" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("sltiu %0, %1, -5" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("mulh %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("mulhu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("mulhsu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("mulhsu %0, %2, %1" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("mulw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
		h = isa_fnv(h, r);
		asm volatile("sraiw %0, %1, 7" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("srliw %0, %1, 31" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("slliw %0, %1, 3" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("addiw %0, %1, -2048" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("andi %0, %1, -16" : "=r"(r) : "r"(a));
		h = isa_fnv(h, r);
		asm volatile("auipc %0, 0x80000" : "=r"(r));
		h = isa_fnv(h, r - (u64)&op_mix);
		mem[i & 7] = a;
		asm volatile("lb %0, 3(%1)" : "=r"(r) : "r"(mem) : "memory");
		h = isa_fnv(h, r);
		asm volatile("lhu %0, 6(%1)" : "=r"(r) : "r"(mem) : "memory");
		h = isa_fnv(h, r);
		asm volatile("lh %0, 2(%1)" : "=r"(r) : "r"(mem) : "memory");
		h = isa_fnv(h, r);
		asm volatile("lw %0, 4(%1)" : "=r"(r) : "r"(mem) : "memory");
		h = isa_fnv(h, r);
		asm volatile("lwu %0, 8(%1)" : "=r"(r) : "r"(mem) : "memory");
		h = isa_fnv(h, r);
		asm volatile("sh %1, 10(%0)\n sb %1, 13(%0)\n sw %1, 20(%0)" ::"r"(mem), "r"(b)
			     : "memory");
		h = isa_fnv(h, mem[1] ^ mem[2]);
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		y ^= x >> 17;
	}
	isa_sig("jit op mix", h);
}

void test_main(void)
{
	smc_cases();
	fault_cases();
	self_store_case();
	patch_in_loop_cases();
	timer_case();
	partial_case();
	op_mix();
}
