/* atomics.c: heavy cross-hart atomicity and ordering checks on NHARTS harts
 * (run with --cpus NHARTS), meant for harts that really run at once
 * (vessel-vmm --hart-threads): each fails when AMOs are not atomic, when SC
 * succeeds after another hart changed the reserved word, or when a W->R
 * fence is not a full barrier on the host.
 *   amoadd.d counter: 1,000,000 increments spread over the harts, exact;
 *   LR/SC (d) counter: 400,000 increments, exact;
 *   a word pair in one doubleword: even harts amoadd.w the low word, odd
 *        harts lr.w/sc.w-increment the high word (each word exact: an AMO or
 *        SC that rewrote the whole doubleword would lose the other's counts);
 *   amoor.w bits: every hart sets its own bits of one word, all present;
 *   SB (store buffering) with fence rw,rw between harts 0 and 1, SB_N
 *        rounds: r0 = r1 = 0 is forbidden (an x86 host reorders a store and
 *        a later load unless the fence is an mfence).
 * Harts meet at a sense-reversing barrier built from amoadd. */
#include "ops.h"

#ifndef NHARTS
#define NHARTS 4
#endif
#define LINE	  __attribute__((aligned(64)))
#define AMO_TOTAL 1000000
#define LRSC_TOT  400000
#define PAIR_N	  100000
#define SB_N	  20000

static volatile u64 bar_count LINE, bar_gen LINE;
static volatile u64 start LINE;
static volatile u64 amo_cnt LINE;
static volatile u64 lrsc_cnt LINE;
static volatile u32 pair[2] __attribute__((aligned(64)));
static volatile u32 bits LINE;
/* SB: per-round flags and results */
static volatile u64 sb_x LINE, sb_y LINE;
static volatile u64 sb_go LINE, sb_done LINE;
static volatile u8 sb_r0[SB_N], sb_r1[SB_N];

static void barrier(void)
{
	u64 gen = bar_gen, old;
	asm volatile("fence rw, rw" ::: "memory");
	asm volatile("amoadd.d.aqrl %0, %1, (%2)"
		     : "=r"(old)
		     : "r"(1UL), "r"(&bar_count)
		     : "memory");
	if (old == NHARTS - 1) {
		bar_count = 0;
		asm volatile("fence rw, w" ::: "memory");
		bar_gen = gen + 1;
	} else {
		while (bar_gen == gen)
			;
	}
	asm volatile("fence rw, rw" ::: "memory");
}

static void lrsc_inc_d(volatile u64 *p)
{
	u64 t, f;
	asm volatile("1: lr.d %0, (%2)\n addi %0, %0, 1\n sc.d %1, %0, (%2)\n bnez %1, 1b"
		     : "=&r"(t), "=&r"(f)
		     : "r"(p)
		     : "memory");
}

static void lrsc_inc_w(volatile u32 *p)
{
	u64 t, f;
	asm volatile("1: lr.w %0, (%2)\n addiw %0, %0, 1\n sc.w %1, %0, (%2)\n bnez %1, 1b"
		     : "=&r"(t), "=&r"(f)
		     : "r"(p)
		     : "memory");
}

/* A short delay that differs from round to round, so that in some rounds
 * both harts reach their store at the same moment. */
static void delay(u64 n)
{
	for (volatile u64 i = 0; i < n; i++)
		;
}

static void sb_rounds(u64 hart)
{
	for (u64 r = 1; r <= SB_N; r++) {
		if (hart == 0) {
			sb_x = sb_y = 0;
			asm volatile("fence rw, rw" ::: "memory");
			sb_go = r; /* hart 1 starts as soon as it sees the round */
			delay((r * 7) % 32);
			sb_x = 1;
			asm volatile("fence rw, rw" ::: "memory");
			sb_r0[r - 1] = (u8)sb_y;
			while (sb_done != r)
				;
		} else {
			while (sb_go != r)
				;
			delay((r * 5) % 8);
			sb_y = 1;
			asm volatile("fence rw, rw" ::: "memory");
			sb_r1[r - 1] = (u8)sb_x;
			asm volatile("fence rw, w" ::: "memory");
			sb_done = r;
		}
	}
}

static void body(u64 hart)
{
	barrier();
	for (u64 i = hart; i < AMO_TOTAL; i += NHARTS)
		asm volatile("amoadd.d zero, %0, (%1)" ::"r"(1UL), "r"(&amo_cnt) : "memory");
	for (u64 i = hart; i < LRSC_TOT; i += NHARTS)
		lrsc_inc_d(&lrsc_cnt);
	for (u64 i = 0; i < PAIR_N; i++) {
		if (hart & 1)
			lrsc_inc_w(&pair[1]);
		else
			asm volatile("amoadd.w zero, %0, (%1)" ::"r"(1UL), "r"(&pair[0])
				     : "memory");
	}
	for (u64 i = 0; i < 8; i++) {
		u32 b = 1U << (hart * 8 + i);
		asm volatile("amoor.w zero, %0, (%1)" ::"r"(b), "r"(&bits) : "memory");
	}
	barrier();
	if (hart == 0) {
		u64 odd = NHARTS / 2, even = NHARTS - odd;
		isa_check("amoadd.d counter", amo_cnt, AMO_TOTAL);
		isa_check("LR/SC (d) counter", lrsc_cnt, LRSC_TOT);
		isa_check("amoadd.w low word", pair[0], (u32)(even * PAIR_N));
		isa_check("LR/SC (w) high word", pair[1], (u32)(odd * PAIR_N));
		isa_check("amoor.w bits", bits, NHARTS == 4 ? 0xffffffffULL : 0xffffULL);
	}
	barrier();
	if (hart < 2)
		sb_rounds(hart);
	barrier();
	if (hart == 0) {
		u64 bad = 0;
		for (u64 r = 0; r < SB_N; r++)
			bad += sb_r0[r] == 0 && sb_r1[r] == 0;
		isa_check("SB+fences: r0 = r1 = 0 seen", bad, 0);
	}
}

void smp_main(u64 hart);
void smp_main(u64 hart)
{
	if (hart >= NHARTS)
		for (;;)
			asm volatile("wfi");
	while (!start)
		;
	body(hart);
	for (;;)
		asm volatile("wfi");
}

void test_main(void)
{
	asm volatile("fence rw, rw" ::: "memory");
	start = 1;
	body(0);
}
