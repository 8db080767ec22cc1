/* smp.c: two harts (run with --cpus 2 / -smp 2).  Atomicity of AMOs and
 * LR/SC loops under contention (both harts increment shared counters), an
 * AMO-swap spinlock guarding a plain increment, an LR reservation broken by
 * the other hart's store (unprivileged spec §8.2: the SC must fail), and an
 * IPI through CLINT msip waking the other hart from WFI with MIE = 0. */
#include "ops.h"

#define ITER 20000
#define LINE __attribute__((aligned(64)))

static volatile u32 amo_counter LINE;
static volatile u64 lrsc_counter LINE;
static volatile u64 lock LINE;
static volatile u64 plain_counter LINE;
static volatile u64 resv LINE;
static volatile u64 go LINE, ack LINE;
static volatile u64 phase LINE;
static volatile u64 done1 LINE;
static volatile u64 woke LINE;
static volatile u64 timer1 LINE;
static volatile u32 code[16] __attribute__((aligned(64)));
static volatile u64 code_ready LINE;

static void lrsc_inc(volatile u64 *p)
{
	u64 t, f;
	asm volatile("1: lr.d %0, (%2)\n addi %0, %0, 1\n sc.d %1, %0, (%2)\n"
		     "bnez %1, 1b"
		     : "=&r"(t), "=&r"(f)
		     : "r"(p)
		     : "memory");
}

static void spin_lock(void)
{
	u64 one = 1, old;
	do {
		asm volatile("amoswap.d.aq %0, %1, (%2)"
			     : "=r"(old)
			     : "r"(one), "r"(&lock)
			     : "memory");
	} while (old);
}

static void spin_unlock(void)
{
	asm volatile("amoswap.d.rl zero, zero, (%0)" ::"r"(&lock) : "memory");
}

static void work(void)
{
	for (int i = 0; i < ITER; i++)
		asm volatile("amoadd.w zero, %0, (%1)" ::"r"(1), "r"(&amo_counter) : "memory");
	for (int i = 0; i < ITER / 2; i++)
		lrsc_inc(&lrsc_counter);
	for (int i = 0; i < ITER / 4; i++) {
		spin_lock();
		plain_counter = plain_counter + 1;
		spin_unlock();
	}
}

static int wait_for(volatile u64 *p, u64 v)
{
	for (long i = 0; i < 200000000L; i++)
		if (*p >= v) /* flags only grow: never miss a step */
			return 1;
	return 0;
}

void smp_main(u64 hart);
void smp_main(u64 hart)
{
	if (hart != 1)
		for (;;)
			asm volatile("wfi");
	wait_for(&phase, 1);
	work();
	done1 = 1;
	/* reservation test: store to resv when hart 0 says go */
	wait_for(&go, 1);
	resv = 0xdead;
	asm volatile("fence rw, rw" ::: "memory");
	ack = 1;
	/* second round: an AMO from this hart breaks the reservation */
	wait_for(&go, 2);
	asm volatile("amoadd.d zero, %0, (%1)" ::"r"(1UL), "r"(&resv) : "memory");
	ack = 2;
	/* per-hart timer: arm mtimecmp[1] and poll mip.MTIP (MIE = 0) */
	wait_for(&phase, 2);
	*(volatile u64 *)ISA_MTIMECMP(1) = *(volatile u64 *)ISA_MTIME + 100;
	while (!(csr_read(mip) & (1 << 7)))
		;
	timer1 = 1;
	wait_for(&phase, 3);
	*(volatile u64 *)ISA_MTIMECMP(1) = ~0UL;
	/* cross-modifying code: rewrite the function hart 0 has run */
	wait_for(&phase, 4);
	code[0] = 0x00900513; /* li a0, 9 */
	asm volatile("fence rw, rw" ::: "memory");
	code_ready = 1;
	/* IPI: sleep until msip[1] */
	csr_write(mie, 1 << 3);
	while (!(csr_read(mip) & (1 << 3)))
		asm volatile("wfi");
	*(volatile u32 *)ISA_MSIP(1) = 0;
	woke = 1;
	for (;;)
		asm volatile("wfi");
}

void test_main(void)
{
	phase = 1;
	work();
	isa_check("hart 1 finished", wait_for(&done1, 1), 1);
	isa_check("amoadd.w counter", amo_counter, 2 * ITER);
	isa_check("lr/sc counter", lrsc_counter, ITER);
	isa_check("spinlock counter", plain_counter, ITER / 2);

	/* uncontended LR/SC succeeds */
	u64 t, f;
	asm volatile("lr.d %0, (%2)\n sc.d %1, %0, (%2)"
		     : "=&r"(t), "=&r"(f)
		     : "r"(&resv)
		     : "memory");
	isa_check("uncontended sc.d", f, 0);
	/* LR, let hart 1 store to the reserved address, then SC: must fail */
	u64 one = 1;
	asm volatile("lr.d %0, (%2)\n"
		     "sd %3, 0(%4)\n" /* go = 1 (different reservation set) */
		     "li %1, 200000000\n"
		     "1: ld t0, 0(%5)\n bnez t0, 2f\n addi %1, %1, -1\n"
		     "bnez %1, 1b\n"
		     "2: sc.d %1, %3, (%2)"
		     : "=&r"(t), "=&r"(f)
		     : "r"(&resv), "r"(one), "r"(&go), "r"(&ack)
		     : "t0", "memory");
	isa_check("hart 1 stored", ack, 1);
	isa_check("sc.d after remote store fails", f != 0, 1);
	isa_check("remote store kept", resv, 0xdead);
	u64 two = 2;
	asm volatile("lr.d %0, (%2)\n"
		     "sd %3, 0(%4)\n"
		     "li %1, 200000000\n"
		     "1: ld t0, 0(%5)\n addi t0, t0, -2\n beqz t0, 2f\n"
		     "addi %1, %1, -1\n bnez %1, 1b\n"
		     "2: sc.d %1, %3, (%2)"
		     : "=&r"(t), "=&r"(f)
		     : "r"(&resv), "r"(two), "r"(&go), "r"(&ack)
		     : "t0", "memory");
	isa_check("hart 1 did its AMO", ack, 2);
	isa_check("sc.d after remote AMO fails", f != 0, 1);
	isa_check("remote AMO kept", resv, 0xdeae);

	/* each hart has its own mtimecmp: hart 1's timer fires for hart 1 */
	*(volatile u64 *)ISA_MTIMECMP(0) = ~0UL;
	phase = 2;
	isa_check("hart 1 saw its MTIP", wait_for(&timer1, 1), 1);
#if !ISA_VM /* mip is an M-mode CSR */
	isa_check("hart 0 MTIP stays clear", (csr_read(mip) >> 7) & 1, 0);
#endif
	phase = 3;

	/* code written by hart 1, run by hart 0 after its own fence.i */
	code[0] = 0x00100513; /* li a0, 1 */
	code[1] = 0x00008067; /* ret */
	asm volatile("fence.i" ::: "memory");
	u64 (*fn)(void) = (u64(*)(void))(void *)code;
	u64 before = fn() + fn(); /* run twice: cached */
	phase = 4;
	isa_check("hart 1 rewrote the code", wait_for(&code_ready, 1), 1);
	asm volatile("fence.i" ::: "memory");
	isa_check("code before", before, 2);
	isa_check("code rewritten by the other hart", fn(), 9);

	*(volatile u32 *)ISA_MSIP(1) = 1;
	isa_check("IPI woke hart 1", wait_for(&woke, 1), 1);
}
