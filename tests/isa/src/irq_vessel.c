/* irq_vessel.c (vessel only): interrupt priority (privileged spec §3.1.9:
 * "MEI, MSI, MTI, SEI, SSI, STI" in decreasing priority).  With MSI, MTI,
 * SSI and STI all pending and enabled, then MIE set, the handler must see
 * them in the order 3, 7, 1, 5.  QEMU 7.2 without AIA takes the lowest
 * numbered pending interrupt first, so this test is not diffed. */
#include "ops.h"

static volatile u64 order[8];
static volatile int norder;

static int s_hook(struct isa_frame *f)
{
	u64 code = f->cause & ~CAUSE_INTR;
	if (norder < 8)
		order[norder++] = f->cause | 0x100;
	if (code == 1)
		csr_clear(sip, 2);
	else if (code == 5)
		csr_clear(sie, 32); /* STIP is read-only in sip */
	else
		return 0;
	return 1;
}

static long s_open(long arg)
{
	csr_set(sstatus, MSTATUS_SIE);
	for (volatile int i = 0; i < 1000 && norder < (int)arg; i++)
		;
	csr_clear(sstatus, MSTATUS_SIE);
	return norder;
}

static int m_hook(struct isa_frame *f)
{
	u64 code = f->cause & ~CAUSE_INTR;
	if (norder < 8)
		order[norder++] = f->cause;
	if (code == 3)
		*(volatile u32 *)ISA_MSIP(0) = 0;
	else if (code == 7)
		*(volatile u64 *)ISA_MTIMECMP(0) = ~0UL;
	else if (code == 1)
		csr_clear(mip, 2);
	else if (code == 5)
		csr_clear(mip, 32);
	else
		return 0;
	return 1;
}

void test_main(void)
{
	isa_irq_hook = m_hook;
	csr_write(mie, (1 << 1) | (1 << 3) | (1 << 5) | (1 << 7));
	csr_set(mip, 32);
	csr_set(mip, 2);
	*(volatile u64 *)ISA_MTIMECMP(0) = 0;
	*(volatile u32 *)ISA_MSIP(0) = 1;
	csr_set(mstatus, MSTATUS_MIE);
	for (volatile int i = 0; i < 1000 && norder < 4; i++)
		;
	csr_clear(mstatus, MSTATUS_MIE);
	isa_check("four interrupts taken", norder, 4);
	isa_check("1st MSI", order[0], CAUSE_INTR | 3);
	isa_check("2nd MTI", order[1], CAUSE_INTR | 7);
	isa_check("3rd SSI", order[2], CAUSE_INTR | 1);
	isa_check("4th STI", order[3], CAUSE_INTR | 5);
	csr_write(mie, 0);

	/* in S-mode: a pending M-level interrupt first, then the delegated
	 * S-level ones in the order SSI, STI */
	norder = 0;
	isa_sirq_hook = s_hook;
	csr_write(stvec, (u64)strap_entry);
	csr_write(sscratch, isa_strap_stack_top[0]);
	csr_write(mideleg, (1 << 1) | (1 << 5));
	csr_write(mie, (1 << 1) | (1 << 3) | (1 << 5));
	csr_set(mip, 2 | 32);
	*(volatile u32 *)ISA_MSIP(0) = 1;
	isa_check("three interrupts in S", isa_run_in_mode(MODE_S, s_open, 3), 3);
	isa_check("S 1st: MSI to M", order[0], CAUSE_INTR | 3);
	isa_check("S 2nd: SSI to S", order[1], 0x100 | CAUSE_INTR | 1);
	isa_check("S 3rd: STI to S", order[2], 0x100 | CAUSE_INTR | 5);
	csr_clear(mip, 32);
	csr_write(mideleg, 0);
	csr_write(mie, 0);
	isa_irq_hook = 0;
	isa_sirq_hook = 0;
}
