/* fwcall.c: two harts (run with --cpus 2).  A firmware call must not be cut
 * in two by the scheduler: hart 0 calls (ecall from S-mode) an M-mode routine
 * that publishes a "start pending" state word before the data it guards, in
 * exactly the order of OpenSBI 1.1's sbi_hsm_hart_start (the HSM state goes
 * to START_PENDING, then the start address and argument are written into
 * the target's scratch area), while hart 1 spins in M-mode, as a secondary
 * hart in OpenSBI's HSM wait loop does when its WFI returns early, until it
 * sees the state and then reads the data.  On hardware and QEMU the window
 * between the two stores is a few instructions; a hart whose time slice
 * ended inside it would let the other hart run a whole slice through the
 * window and start from stale data.  Hart 0 waits a
 * pseudo-random number of instructions before each call, so the end of its
 * slice falls anywhere, also inside the window, over many iterations.
 * With hart threads (--hart-threads) the two harts run at once: hart 1 sees
 * the state as soon as it is stored unless M-mode code of different harts
 * never runs at the same time (machine.c's firmware lock); a wide window
 * (about 2000 instructions, within the 4096 a slice may run on inside a
 * firmware call) makes that race all but certain over the iterations. */
#include "isa.h"

#define ITER	 3000
#define FW_MAGIC 0x46574341 /* a7 of the test's firmware call */
#define STOPPED	 0
#define PENDING	 1
#define LINE	 __attribute__((aligned(64)))

/* The HSM state of hart 1 and the start data hart 0's call writes for it. */
volatile u64 fw_state LINE;
volatile u64 fw_data LINE;
static volatile u64 bad LINE, first_bad LINE, done1 LINE;
static volatile u64 ready1 LINE;

void fw_entry(void);
/*
 * The M-mode trap vector while the test runs: the test's call (a7 = FW_MAGIC,
 * a0 = the data) is served here; anything else goes to the runtime's handler
 * (t0 is clobbered first: the return-ecall of isa_run_in_mode does not care).
 * Between the state and the data, some work, as OpenSBI does (the init count,
 * the HSM device checks), made wide: about 2000 instructions.
 */
asm(".text\n"
    ".align 2\n"
    ".globl fw_entry\n"
    "fw_entry:\n"
    "	li	t0, 0x46574341\n" /* FW_MAGIC */
    "	beq	a7, t0, 1f\n"
    "	j	trap_entry\n"
    "1:	la	t0, fw_state\n"
    "	li	t1, 1\n" /* PENDING */
    "	amoswap.d.aqrl t1, t1, (t0)\n"
    "	li	t1, 1000\n"
    "2:	addi	t1, t1, -1\n"
    "	bnez	t1, 2b\n"
    "	la	t0, fw_data\n"
    "	sd	a0, 0(t0)\n"
    "	csrr	t0, mepc\n"
    "	addi	t0, t0, 4\n"
    "	csrw	mepc, t0\n"
    "	mret\n");

static int wait_for(volatile u64 *p, u64 v)
{
	for (long i = 0; i < 400000000L; i++)
		if (*p == v)
			return 1;
	return 0;
}

void smp_main(u64 hart);
void smp_main(u64 hart)
{
	if (hart != 1)
		for (;;)
			asm volatile("wfi");
	ready1 = 1;
	for (u64 i = 1; i <= ITER; i++) {
		if (!wait_for(&fw_state, PENDING))
			break;
		asm volatile("fence r, r" ::: "memory");
		u64 d = fw_data;
		if (d != i && !bad++)
			first_bad = i;
		asm volatile("fence rw, w" ::: "memory");
		fw_state = STOPPED;
	}
	done1 = 1;
	for (;;)
		asm volatile("wfi");
}

/* S-mode: the caller of the firmware (a kernel starting a hart). */
static long start_loop(long arg)
{
	u64 seed = 12345;
	long i;
	for (i = 1; i <= ITER; i++) {
		if (!wait_for(&fw_state, STOPPED))
			break;
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		u64 spin = ((seed >> 33) & 16383) + 1; /* 2 instructions each */
		asm volatile("1: addi %0, %0, -1\n bnez %0, 1b" : "+r"(spin));
		register u64 a0 asm("a0") = (u64)i;
		register u64 a7 asm("a7") = FW_MAGIC;
		asm volatile("ecall" : "+r"(a0) : "r"(a7) : "t0", "t1", "memory");
	}
	return i - 1;
}

void test_main(void)
{
	isa_check("hart 1 ready", wait_for(&ready1, 1), 1);
	csr_write(mtvec, (u64)fw_entry);
	long calls = isa_run_in_mode(MODE_S, start_loop, 0);
	csr_write(mtvec, (u64)trap_entry);
	isa_check("firmware calls", (u64)calls, ITER);
	isa_check("hart 1 finished", wait_for(&done1, 1), 1);
	isa_check("starts that saw stale data", bad, 0);
	if (bad)
		isa_printf("first at iteration %lu\n", first_bad);
}
