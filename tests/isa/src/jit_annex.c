/* jit_annex.c: conditional branches over a few ALU instructions in vessel's
 * JIT (lib/vm/cpu/jit.c emit_annex, cache.c decode_annex).
 *
 * A block that ends in a conditional branch skipping forward over at most
 * three integer ALU instructions of its page, landing right after them (an
 * `if` without `else`: how RISC-V compilers write a conditional move), is
 * translated without a host branch: the skipped instructions run whatever
 * the condition and their registers get their old values back when the
 * branch is taken.  Each case runs hot on pseudo-random conditions, so both
 * ways mix in translated code:
 *  - one, two and three skipped instructions; a chain through one register
 *    (CoreMark's crcu8); writes to the branch's own operands; x0 written;
 *    W ops, division by zero, LUI and AUIPC among them; a register whose
 *    value the JIT reasons about rewritten inside; compressed and 32-bit
 *    encodings;
 *  - minstret (built with -DANNEX_INSTRET, vessel only): a loop whose
 *    instret difference must count the skipped instructions only when they
 *    ran (Zicntr: instret counts retired instructions), for many conditions;
 *  - code rewritten after translation: an instruction of the annex changed,
 *    then fence.i, and the new one runs.
 * Results are checked against branch-free references and printed, so
 * isa-diff compares them with QEMU too. */
#include "isa.h"

static u64 rnd = 0x243f6a8885a308d3UL;

static u64 next(void)
{
	return isa_xorshift(&rnd);
}

/* keep the old value where c is 0, the new one where c is 1 */
static u64 pick(u64 c, u64 when_run, u64 old)
{
	return old ^ ((when_run ^ old) & (0 - c));
}

#define ROUNDS 600

static void one_op(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 c = next() & 1, x = next(), y = x;
		asm volatile("bnez %1, 1f\n addi %0, %0, 7\n 1:" : "+r"(x) : "r"(c));
		bad += x != pick(!c, y + 7, y);
		h = isa_fnv(h, x);
	}
	isa_check("one op", bad, 0);
	isa_sig("one op", h);
}

/* crcu8's shape: the second instruction reads the first's result */
static void chain(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 c = next() & 1, x = next(), y = next(), x0 = x;
		asm volatile("beqz %1, 1f\n slli %0, %2, 48\n srli %0, %0, 48\n 1:"
			     : "+r"(x)
			     : "r"(c), "r"(y));
		bad += x != pick(c, (u16)y, x0);
		h = isa_fnv(h, x);
	}
	isa_check("chain", bad, 0);
	isa_sig("chain", h);
}

/* three instructions writing three registers, two of them the branch's */
static void own_operands(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 a = next() >> (next() & 63), b = next() >> (next() & 63), z = next();
		u64 a0 = a, b0 = b, z0 = z;
		asm volatile(
		    "bltu %0, %1, 1f\n add %0, %0, %1\n xor %2, %0, %2\n sub %1, zero, %1\n 1:"
		    : "+r"(a), "+r"(b), "+r"(z));
		u64 run = !(a0 < b0);
		bad += a != pick(run, a0 + b0, a0);
		bad += z != pick(run, (a0 + b0) ^ z0, z0);
		bad += b != pick(run, 0 - b0, b0);
		h = isa_fnv(isa_fnv(isa_fnv(h, a), b), z);
	}
	isa_check("own operands", bad, 0);
	isa_sig("own operands", h);
}

static u64 sext32(u64 v)
{
	return (u64)(i64)(i32)(u32)v;
}

/* W ops and division by zero (no trap: all ones, the dividend) */
static void word_ops(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 a = next(), b = next(), x = next(), y = next(), r = next() & 3;
		u64 x0 = x, y0 = y;
		if (r == 0) {
			b = 0;
		} else if (r == 1) { /* INT_MIN / -1 */
			a = 0x80000000UL | (a & ~0UL << 32);
			b = ~0UL;
		}
		asm volatile("bge %2, %3, 1f\n divw %0, %2, %3\n remuw %1, %3, zero\n 1:"
			     : "+r"(x), "+r"(y)
			     : "r"(a), "r"(b));
		u64 run = !((i64)a >= (i64)b);
		u64 q = (u32)b == 0 ? ~0UL
			: (i32)a == (i32)0x80000000 && (i32)b == -1
			    ? sext32(a)
			    : sext32((u64)((i32)a / (i32)b));
		bad += x != pick(run, q, x0);
		bad += y != pick(run, sext32(b), y0);
		h = isa_fnv(isa_fnv(h, x), y);
	}
	isa_check("word ops", bad, 0);
	isa_sig("word ops", h);
}

/* LUI, AUIPC (its pc is the annex instruction's own), x0 written */
static void lui_auipc(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 c = next() & 1, x = next(), y = next(), x0 = x, y0 = y, at;
		asm volatile("la %2, 2f\n bnez %3, 1f\n lui %0, 0x80001\n 2: auipc %1, 0x10\n"
			     " addi zero, %0, 1\n 1:"
			     : "+r"(x), "+r"(y), "=&r"(at)
			     : "r"(c));
		bad += x != pick(!c, 0xffffffff80001000UL, x0);
		bad += y != pick(!c, at + 0x10000, y0);
		h = isa_fnv(h, x);
	}
	isa_check("lui auipc", bad, 0);
	isa_sig("lui auipc", h);
}

/* what the JIT knows of a register (jit.c known_after: a value below 2^31
 * before the annex) changes inside it */
static void facts(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 c = next() & 1, y = next(), x, z = next(), z0 = z;
		asm volatile("andi %0, %2, 1\n beqz %3, 1f\n lui %0, 0x80000\n negw %1, %0\n 1:"
			     : "=&r"(x), "+r"(z)
			     : "r"(y), "r"(c));
		bad += x != pick(c, 0xffffffff80000000UL, y & 1);
		bad += z != pick(c, 0xffffffff80000000UL, z0);
		h = isa_fnv(isa_fnv(h, x), z);
	}
	isa_check("facts", bad, 0);
	isa_sig("facts", h);
}

/* 32-bit encodings of what would compress (the annex's end by length) */
static void wide(void)
{
	u64 h = 0, bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 c = next() & 1, x = next(), x0 = x;
		asm volatile(".option push\n .option norvc\n"
			     " beqz %1, 1f\n addi %0, %0, 1\n"
			     " .option push\n .option rvc\n c.slli %0, 2\n .option pop\n"
			     " addi %0, %0, -3\n 1:"
			     " .option pop"
			     : "+r"(x)
			     : "r"(c));
		bad += x != pick(c, ((x0 + 1) << 2) - 3, x0);
		h = isa_fnv(h, x);
	}
	isa_check("wide", bad, 0);
	isa_sig("wide", h);
}

/* minstret across a loop of 64 branches whose annex runs where a bit of m
 * is set: 1 (the first read) + 64 * 5 + 2 per set bit. */
static u64 count_loop(u64 m, u64 *acc)
{
	u64 t0, t1, a = 0, b = 0, n = 64, bit;
	asm volatile("csrr %0, minstret\n"
		     "1: andi %5, %4, 1\n"
		     " srli %4, %4, 1\n"
		     " beqz %5, 2f\n"
		     " addi %2, %2, 3\n"
		     " xori %3, %3, 5\n"
		     "2: addi %6, %6, -1\n"
		     " bnez %6, 1b\n"
		     " csrr %1, minstret"
		     : "=&r"(t0), "=&r"(t1), "+r"(a), "+r"(b), "+r"(m), "=&r"(bit), "+r"(n));
	*acc = a ^ b << 32;
	return t1 - t0;
}

static unsigned ones_of(u64 m)
{
	unsigned n = 0;
	for (; m; m &= m - 1)
		n++;
	return n;
}

static void instret(void)
{
	u64 bad = 0, h = 0;
	for (int i = 0; i < ROUNDS; i++) {
		u64 m = next() >> (next() & 63), acc;
		u64 got = count_loop(m, &acc);
		unsigned ones = ones_of(m);
		bad += got != 1 + 64 * 5 + 2 * ones;
		bad += acc != ((3UL * ones) ^ (u64)(ones & 1 ? 5 : 0) << 32);
		h = isa_fnv(h, acc);
	}
	isa_check("minstret counts the annex only when it ran", bad, 0);
	isa_sig("instret", h);
}

/* a0 = a0 when a1 is 0, else a0 + K: RAM code, rewritten after it is hot */
static u32 code[8] __attribute__((aligned(64)));

static u32 enc_addi(int imm, unsigned rs1, unsigned rd)
{
	return ((u32)imm & 0xfff) << 20 | rs1 << 15 | rd << 7 | 0x13;
}

static long run_code(long a0, long a1)
{
	register long r0 asm("a0") = a0;
	register long r1 asm("a1") = a1;
	asm volatile("jalr ra, 0(%2)" : "+r"(r0) : "r"(r1), "r"(code) : "ra", "memory");
	return r0;
}

static void rewritten(void)
{
	code[0] = 0x00058463; /* beqz a1, +8 */
	code[1] = enc_addi(5, 10, 10);
	code[2] = 0x00008067; /* ret */
	asm volatile("fence.i" ::: "memory");
	u64 bad = 0;
	for (int k = 1; k <= 3; k++) {
		for (int i = 0; i < 200; i++) {
			long c = (long)(next() & 1);
			bad += (u64)run_code(100, c) != (u64)(c ? 100 + 5 * k : 100);
		}
		code[1] = enc_addi(5 * (k + 1), 10, 10);
		asm volatile("fence.i" ::: "memory");
	}
	isa_check("annex rewritten after translation", bad, 0);
}

void test_main(void)
{
#ifdef ANNEX_INSTRET /* vessel only: QEMU's instret without -icount counts host ticks */
	instret();
#else
	one_op();
	chain();
	own_operands();
	word_ops();
	lui_auipc();
	facts();
	wide();
	rewritten();
#endif
}
