/* exits.c (vessel only): the bare-metal exit paths of vessel-vmm.  Built
 * several times with EXIT_KIND selecting how the program ends:
 *   1 HTIF pass: tohost = 1                    -> exit 0
 *   2 HTIF fail: tohost = (3 << 1) | 1         -> exit 2 ("test 3 failed")
 *   3 finisher fail: (5 << 16) | 0x3333        -> exit 2
 *   4 no exit at all (spins)                   -> exit 124 with --timeout
 *   5 finisher pass after UART output          -> exit 0
 *   6 trap storm: mtvec points at an ecall     -> exit 124 with --timeout
 *   7 mtvec in a hole: endless fetch faults    -> exit 124 with --timeout
 *   8 HTIF console (device 1 command 1) and the syscall proxy (SYS_write
 *     through magic_mem), each acknowledged in fromhost, then tohost = 1
 *     -> exit 0 with "hi" and "via syscall" on stdout
 * meson checks the exit status (run-vessel.sh's expected-status argument). */
#include "isa.h"

#if EXIT_KIND == 1 || EXIT_KIND == 2 || EXIT_KIND == 8
volatile u64 tohost __attribute__((section(".tohost"), aligned(64)));
volatile u64 fromhost __attribute__((section(".tohost"), aligned(64)));
#endif

void test_main(void)
{
	isa_printf("exit kind %d\n", EXIT_KIND);
#if EXIT_KIND == 1
	tohost = 1;
#elif EXIT_KIND == 2
	tohost = (3 << 1) | 1;
#elif EXIT_KIND == 3
	isa_exit(5);
#elif EXIT_KIND == 6
	asm volatile("la t0, 1f\n csrw mtvec, t0\n .align 2\n 1: ecall\n j 1b" ::: "t0");
#elif EXIT_KIND == 7
	asm volatile("li t0, 0x2000000000\n csrw mtvec, t0\n ecall" ::: "t0");
#elif EXIT_KIND == 8
	for (const char *p = "hi\n"; *p; p++) {
		tohost = (1UL << 56) | (1UL << 48) | (u8)*p;
		for (long i = 0; i < 100000000L && !fromhost; i++)
			;
		if (!fromhost) {
			isa_fail("HTIF console not acknowledged");
			isa_exit(1);
		}
		fromhost = 0;
	}
	static const char msg[] = "via syscall\n";
	static volatile u64 magic_mem[8] __attribute__((aligned(64)));
	magic_mem[0] = 64; /* SYS_write */
	magic_mem[1] = 1;
	magic_mem[2] = (u64)msg;
	magic_mem[3] = sizeof(msg) - 1;
	asm volatile("fence rw, rw" ::: "memory");
	tohost = (u64)magic_mem;
	for (long i = 0; i < 100000000L && !fromhost; i++)
		;
	isa_check("SYS_write acknowledged", fromhost != 0, 1);
	isa_check("SYS_write result", magic_mem[0], sizeof(msg) - 1);
	fromhost = 0;
	tohost = 1;
#elif EXIT_KIND == 4
	for (volatile int i = 0;; i++)
		;
#else
	isa_printf("hello from vessel\n");
	return;
#endif
	for (;;)
		;
}
