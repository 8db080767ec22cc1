/* idle.c (vessel only, driven by wfi-idle.py): hart 0 sleeps in WFI for
 * 1.5 s of mtime (10 MHz) waiting for its timer with MIE = 0; other harts
 * park in WFI (crt0).  The host-side script checks that vessel-vmm used
 * little CPU time meanwhile: WFI must idle the host thread. */
#include "isa.h"

void test_main(void)
{
	volatile u64 *mtime = (volatile u64 *)ISA_MTIME;
	u64 start = *mtime;
	*(volatile u64 *)ISA_MTIMECMP(0) = start + 15000000;
	csr_write(mie, 1 << 7);
	while (!(csr_read(mip) & (1 << 7)))
		asm volatile("wfi");
	csr_write(mie, 0);
	u64 slept = *mtime - start;
	isa_check("slept at least 1.5 s of mtime", slept >= 15000000, 1);
}
