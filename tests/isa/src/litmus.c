/* litmus.c: memory-model litmus tests on NHARTS harts (run with --cpus
 * NHARTS), each instance repeated many times.  Only outcomes RVWMO permits
 * may show (unprivileged spec chapter "RVWMO Memory Consistency Model"):
 *   MP   message passing, fence w,w / fence r,r: a reader that sees the flag
 *        sees the data written before it (streamed, MP_N messages);
 *   SB   store buffering with fence rw,rw: r0 = r1 = 0 is forbidden;
 *   LB   load buffering with fence r,w: r0 = r1 = 1 is forbidden;
 *   counters: every hart increments shared counters with LR/SC, amoadd,
 *        amomaxu and an amoswap spinlock around a plain increment: the
 *        totals are exact;
 *   fence.i after cross-hart code writes: another hart rewrites a function
 *        hart 0 has run (and cached or translated), hart 0 executes fence.i
 *        and must run the new code; the same for a function whose last
 *        instruction before `ret` straddles two pages, its upper half
 *        (on the second page) rewritten.
 * Harts meet at a sense-reversing barrier built from amoadd. */
#include "ops.h"

#ifndef NHARTS
#define NHARTS 4
#endif
#define LINE	__attribute__((aligned(64)))
#define MP_N	20000
#define ROUNDS	1000
#define CNT_N	4000
#define CODE_RN 200

static volatile u64 bar_count LINE, bar_gen LINE;
static volatile u64 start LINE;
/* MP */
static volatile u64 mp_data LINE, mp_flag LINE;
/* SB, LB */
static volatile u64 lx LINE, ly LINE;
static volatile u64 sb_r1 LINE, lb_r1 LINE;
/* counters */
static volatile u64 lrsc_cnt LINE;
static volatile u32 lrsc_w LINE;
static volatile u64 amo_cnt LINE;
static volatile u64 amo_max LINE;
static volatile u64 lock LINE;
static volatile u64 plain_cnt LINE;
/* fence.i */
static volatile u32 code[16] __attribute__((aligned(64)));
static volatile u64 code_round LINE;
/* li a0, 0; nop; nop; c.nop; addi a0, a0, imm across the page boundary; ret */
static volatile u8 scode[2][4096] __attribute__((aligned(4096)));
#define SCODE_START 0xff0

static void scode_imm(u64 imm)
{
	*(volatile u16 *)scode[1] = (u16)(imm << 4 | 5); /* rs1 = a0 (bits 16-19), imm */
}

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
	asm volatile("1: lr.w.aq %0, (%2)\n addiw %0, %0, 3\n sc.w.rl %1, %0, (%2)\n bnez %1, 1b"
		     : "=&r"(t), "=&r"(f)
		     : "r"(p)
		     : "memory");
}

static void counters(u64 hart)
{
	for (u64 i = 0; i < CNT_N; i++) {
		lrsc_inc_d(&lrsc_cnt);
		lrsc_inc_w(&lrsc_w);
		asm volatile("amoadd.d zero, %0, (%1)" ::"r"(1UL), "r"(&amo_cnt) : "memory");
		u64 v = (i * NHARTS + hart) * 7;
		asm volatile("amomaxu.d zero, %0, (%1)" ::"r"(v), "r"(&amo_max) : "memory");
		u64 old;
		do
			asm volatile("amoswap.d.aq %0, %1, (%2)"
				     : "=r"(old)
				     : "r"(1UL), "r"(&lock)
				     : "memory");
		while (old);
		plain_cnt = plain_cnt + 1;
		asm volatile("amoswap.d.rl zero, zero, (%0)" ::"r"(&lock) : "memory");
	}
}

/* The body run by every hart; hart 0 checks the results. */
static void litmus(u64 hart)
{
	/* MP, streamed: hart 1 writes, hart 0 reads */
	barrier();
	u64 mp_bad = 0, mp_seen = 0;
	if (hart == 1) {
		for (u64 i = 1; i <= MP_N; i++) {
			mp_data = i;
			asm volatile("fence w, w" ::: "memory");
			mp_flag = i;
		}
	} else if (hart == 0) {
		u64 f = 0;
		while (f < MP_N) {
			f = mp_flag;
			asm volatile("fence r, r" ::: "memory");
			u64 d = mp_data;
			if (d < f)
				mp_bad++;
			mp_seen++;
		}
	}
	barrier();
	if (hart == 0) {
		isa_check("MP: data older than the flag", mp_bad, 0);
		isa_check("MP: reader saw the last message", mp_seen > 0, 1);
	}

	/* SB and LB, ROUNDS instances each */
	u64 sb_bad = 0, lb_bad = 0;
	for (u64 r = 0; r < ROUNDS; r++) {
		if (hart == 0)
			lx = ly = 0;
		barrier();
		u64 r0 = 0;
		if (hart == 0) {
			lx = 1;
			asm volatile("fence rw, rw" ::: "memory");
			r0 = ly;
		} else if (hart == 1) {
			ly = 1;
			asm volatile("fence rw, rw" ::: "memory");
			sb_r1 = lx;
		}
		barrier();
		if (hart == 0 && r0 == 0 && sb_r1 == 0)
			sb_bad++;
		if (hart == 0)
			lx = ly = 0;
		barrier();
		if (hart == 0) {
			r0 = lx;
			asm volatile("fence r, w" ::: "memory");
			ly = 1;
		} else if (hart == 1) {
			u64 r1 = ly;
			asm volatile("fence r, w" ::: "memory");
			lx = 1;
			lb_r1 = r1;
		}
		barrier();
		if (hart == 0 && r0 == 1 && lb_r1 == 1)
			lb_bad++;
	}
	if (hart == 0) {
		isa_check("SB+fences: r0 = r1 = 0 seen", sb_bad, 0);
		isa_check("LB+fences: r0 = r1 = 1 seen", lb_bad, 0);
	}

	/* counters on every hart */
	barrier();
	counters(hart);
	barrier();
	if (hart == 0) {
		isa_check("LR/SC (d) counter", lrsc_cnt, NHARTS * CNT_N);
		isa_check("LR/SC (w) counter", lrsc_w, (u32)(3 * NHARTS * CNT_N));
		isa_check("amoadd counter", amo_cnt, NHARTS * CNT_N);
		isa_check("amomaxu", amo_max, ((CNT_N - 1) * NHARTS + NHARTS - 1) * 7);
		isa_check("amoswap spinlock counter", plain_cnt, NHARTS * CNT_N);
	}

	/* fence.i: in round r hart 1 + r % (NHARTS - 1) writes "li a0, r; ret" */
	u64 code_bad = 0;
	u64 (*fn)(void) = (u64(*)(void))(void *)code;
	u64 (*sfn)(void) = (u64(*)(void))(void *)(scode[0] + SCODE_START);
	u64 scode_bad = 0;
	if (hart == 0) {
		code[0] = 0x00000513; /* li a0, 0 */
		code[1] = 0x00008067; /* ret */
		volatile u8 *a = scode[0] + SCODE_START;
		*(volatile u32 *)a = 0x00000513;       /* li a0, 0 */
		*(volatile u32 *)(a + 4) = 0x00000013; /* nop */
		*(volatile u32 *)(a + 8) = 0x00000013; /* nop */
		*(volatile u16 *)(a + 12) = 0x0001;    /* c.nop */
		*(volatile u16 *)(a + 14) = 0x0513;    /* addi a0, a0, imm: lower half */
		scode_imm(0);
		*(volatile u16 *)(scode[1] + 2) = 0x8067; /* ret */
		*(volatile u16 *)(scode[1] + 4) = 0x0000;
		asm volatile("fence.i" ::: "memory");
		if (fn() != 0)
			code_bad++;
		if (sfn() != 0)
			scode_bad++;
	}
	for (u64 r = 1; r <= CODE_RN; r++) {
		if (hart == 0)
			for (int k = 0; k < 4; k++) { /* the old code, hot */
				if (fn() != r - 1)
					code_bad++;
				if (sfn() != r - 1)
					scode_bad++;
			}
		barrier();
		if (hart == 1 + r % (NHARTS - 1)) {
			code[0] = (u32)(r << 20) | (10 << 7) | 0x13; /* li a0, r */
			scode_imm(r);
			asm volatile("fence w, w" ::: "memory");
			code_round = r;
		} else if (hart == 0) {
			while (code_round != r)
				;
			asm volatile("fence.i" ::: "memory");
			if (fn() != r)
				code_bad++;
			if (sfn() != r)
				scode_bad++;
		}
	}
	barrier();
	if (hart == 0) {
		isa_check("fence.i after another hart's code write: stale runs", code_bad, 0);
		isa_check("fence.i after another hart's write to a straddling instruction's upper "
			  "half: stale runs",
			  scode_bad, 0);
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
	litmus(hart);
	for (;;)
		asm volatile("wfi");
}

void test_main(void)
{
	asm volatile("fence rw, rw" ::: "memory");
	start = 1;
	litmus(0);
}
