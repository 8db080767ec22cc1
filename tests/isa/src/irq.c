/* irq.c: interrupts (privileged spec §3.1.9, §3.3.3, §4.1.3): CLINT software
 * (msip) and timer (mtime/mtimecmp) interrupts, global enables (mstatus.MIE
 * and SIE) and their exceptions (lower-privilege interrupts always enabled
 * for a higher mode, never taken in a higher mode), WFI waking on a pending
 * enabled interrupt even with MIE = 0, delegation
 * with mideleg to stvec (direct and vectored), vectored mtvec, and
 * the sret/mret status bookkeeping.  Priority order is in irq_vessel.c
 * (QEMU 7.2 without AIA takes the lowest-numbered pending interrupt). */
#include "ops.h"

extern char svec_table[], mvec_table[];
extern volatile u64 vec_hits[16];

static volatile u64 order[8];
static volatile int norder;
static volatile u64 last_mpp;

static void msip(int v)
{
	*(volatile u32 *)ISA_MSIP(0) = (u32)v;
}
static void mtimecmp(u64 v)
{
	*(volatile u64 *)ISA_MTIMECMP(0) = v;
}
static u64 mtime(void)
{
	return *(volatile u64 *)ISA_MTIME;
}

static int m_hook(struct isa_frame *f)
{
	u64 code = f->cause & ~CAUSE_INTR;
	if (norder < 8)
		order[norder++] = f->cause;
	last_mpp = (f->status >> 11) & 3;
	if (code == 3)
		msip(0);
	else if (code == 7)
		mtimecmp(~0UL);
	else if (code == 1)
		csr_clear(mip, 2);
	else if (code == 5)
		csr_clear(mip, 32);
	else
		return 0;
	return 1;
}

static int s_hook(struct isa_frame *f)
{
	u64 code = f->cause & ~CAUSE_INTR;
	if (norder < 8)
		order[norder++] = f->cause | 0x100; /* mark S handler */
	last_mpp = (f->status >> 8) & 1;	    /* SPP */
	if (code == 1)
		csr_clear(sip, 2);
	else if (code == 5)
		csr_clear(sie, 32);
	else
		return 0;
	return 1;
}

static volatile u64 last_epc;
static int epc_hook(struct isa_frame *f)
{
	last_epc = f->epc;
	return m_hook(f);
}

static volatile u64 first_epc;
static int wfi_hook(struct isa_frame *f)
{
	if (f->cause != (CAUSE_INTR | 7))
		return 0;
	if (!norder++)
		first_epc = f->epc;
	mtimecmp(mtime() + 1000);
	return 1;
}

static long s_window(long arg)
{
	u64 pc;
	asm volatile("la %0, 1f\n csrsi sstatus, 2\n 1: csrci sstatus, 2" : "=&r"(pc)::"memory");
	return (long)pc;
}

static void reset_order(void)
{
	norder = 0;
	for (int i = 0; i < 8; i++)
		order[i] = 0;
}

static long s_spin(long n)
{
	for (volatile long i = 0; i < n; i++)
		;
	return norder;
}

static long s_self_ssi(long arg)
{
	csr_set(sstatus, MSTATUS_SIE);
	csr_set(sip, 2);
	for (volatile int i = 0; i < 100; i++)
		;
	csr_clear(sstatus, MSTATUS_SIE);
	return norder;
}

static long s_sret_bits(long arg)
{
	/* SPP = S, SPIE = 1, SIE = 0; sret to the next label in S-mode */
	csr_clear(sstatus, MSTATUS_SIE);
	csr_set(sstatus, MSTATUS_SPP | MSTATUS_SPIE);
	asm volatile("la t0, 1f\n csrw sepc, t0\n sret\n 1:" ::: "t0");
	return (long)csr_read(sstatus);
}

static long s_illegal(long arg)
{
	isa_expect_strap();
	ISA_TRY(".word 0x0000007b", ::: "t6");
	return (long)isa_last_strap.cause;
}

void test_main(void)
{
	isa_irq_hook = m_hook;
	isa_sirq_hook = s_hook;
	csr_write(stvec, (u64)strap_entry);
	csr_write(sscratch, isa_strap_stack_top[0]);
	mtimecmp(~0UL);
	msip(0);

	/* machine software interrupt */
	reset_order();
	csr_write(mie, 1 << 3);
	csr_set(mstatus, MSTATUS_MIE);
	msip(1);
	for (volatile int i = 0; i < 1000 && !norder; i++)
		;
	csr_clear(mstatus, MSTATUS_MIE);
	isa_check("MSI taken once", norder, 1);
	isa_check("MSI cause", order[0], CAUSE_INTR | 3);
	isa_check("MSI from M: MPP", last_mpp, 3);

	/* machine timer interrupt, waiting in WFI */
	reset_order();
	csr_write(mie, 1 << 7);
	mtimecmp(mtime() + 500000); /* 50 ms at 10 MHz: no race under load */
	isa_check("MTIP not yet pending", csr_read(mip) & (1 << 7), 0);
	csr_set(mstatus, MSTATUS_MIE);
	for (int i = 0; i < 1000 && !norder; i++)
		asm volatile("wfi");
	csr_clear(mstatus, MSTATUS_MIE);
	isa_check("MTI taken once", norder, 1);
	isa_check("MTI cause", order[0], CAUSE_INTR | 7);
	isa_check("MTIP clear after mtimecmp write", csr_read(mip) & (1 << 7), 0);

	/* CLINT registers accessed as 32-bit halves */
	{
		volatile u32 *cmp = (volatile u32 *)ISA_MTIMECMP(0);
		cmp[0] = 0x89abcdef;
		cmp[1] = 0x01234567;
		isa_check("mtimecmp written in halves", *(volatile u64 *)ISA_MTIMECMP(0),
			  0x0123456789abcdefUL);
		cmp[1] = 0xffffffff;
		isa_check("mtimecmp high half", cmp[1], 0xffffffff);
		isa_check("mtimecmp low half", cmp[0], 0x89abcdef);
		volatile u32 *mt = (volatile u32 *)ISA_MTIME;
		u64 hi = mt[1], lo = mt[0], full = mtime();
		isa_check("mtime halves consistent",
			  full >= ((hi << 32) | lo) && full - ((hi << 32) | lo) < 10000000, 1);
		mtimecmp(~0UL);
	}

	/* read-modify-write of mip while device lines are high must not
	 * latch them (priv spec §3.1.9: MTIP/MSIP are read-only, driven by
	 * the CLINT; csrrs/csrrc only change the writable bits) */
	mtimecmp(0);
	msip(1);
	csr_set(mip, 2);
	csr_clear(mip, 32);
	isa_check("mip RMW with MTIP/MSIP high", csr_read(mip) & 0x8a, 0x8a);
	mtimecmp(~0UL);
	msip(0);
	isa_check("MTIP/MSIP drop after their sources", csr_read(mip) & 0x88, 0);
	isa_check("SSIP set by the RMW stays", csr_read(mip) & 2, 2);
	csr_clear(mip, 2);
	csr_write(mip, ~0UL); /* plain write: MTIP/MSIP ignored */
	isa_check("csrw mip cannot set MTIP/MSIP", csr_read(mip) & 0x88, 0);
	csr_write(mip, 0);

	/* MIE = 0: pending but not taken; WFI still wakes */
	reset_order();
	mtimecmp(mtime() + 1000);
	for (int i = 0; i < 1000 && !(csr_read(mip) & (1 << 7)); i++)
		asm volatile("wfi");
	isa_check("MTIP pending with MIE=0", (csr_read(mip) >> 7) & 1, 1);
	isa_check("not taken with MIE=0", norder, 0);
	mtimecmp(~0UL);
	msip(1);
	isa_check("mip.MSIP follows CLINT msip", (csr_read(mip) >> 3) & 1, 1);
	msip(0);
	isa_check("mip.MSIP cleared", (csr_read(mip) >> 3) & 1, 0);

	/* M interrupts are taken in S-mode even with MIE = 0 */
	reset_order();
	csr_write(mie, 1 << 3);
	msip(1);
	isa_check("MSI taken in S with MIE=0", isa_run_in_mode(MODE_S, s_spin, 100), 1);
	isa_check("MSI from S: cause", order[0], CAUSE_INTR | 3);
	isa_check("MSI from S: MPP = S", last_mpp, 1);

	/* delegated SSI: S-mode takes it through stvec (direct) */
	reset_order();
	csr_write(mideleg, 1 << 1);
	csr_write(mie, 1 << 1);
	isa_check("delegated SSI in S", isa_run_in_mode(MODE_S, s_self_ssi, 0), 1);
	isa_check("delegated SSI: scause", order[0], 0x100 | CAUSE_INTR | 1);
	/* ... in U-mode it is taken even with SIE = 0 */
	reset_order();
	csr_set(mip, 2);
	isa_check("delegated SSI in U with SIE=0", isa_run_in_mode(MODE_U, s_spin, 100), 1);
	isa_check("delegated SSI from U: SPP = U", last_mpp, 0);
	/* ... and never in M-mode, even with MIE = 1 */
	reset_order();
	csr_set(mip, 2);
	csr_set(mstatus, MSTATUS_MIE | MSTATUS_SIE);
	for (volatile int i = 0; i < 1000; i++)
		;
	csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
	isa_check("delegated SSI not taken in M", norder, 0);
	csr_clear(mip, 2);

	/* a one-instruction interrupt window: a pending interrupt is taken as
	 * soon as it is enabled, before the next instruction (here the one
	 * that disables it again) */
	isa_irq_hook = epc_hook;
	for (int round = 0; round < 3; round++) {
		reset_order();
		csr_write(mie, 1 << 3);
		msip(1);
		u64 pc;
		asm volatile("la %0, 1f\n csrsi mstatus, 8\n 1: csrci mstatus, 8"
			     : "=&r"(pc)::"memory");
		isa_check("MSI taken in a csrsi/csrci window", norder, 1);
		isa_check("window: mepc = the csrci", last_epc, pc);
	}
	/* the same through mie: pending + MIE set, enable the source */
	reset_order();
	msip(1);
	csr_write(mie, 0);
	csr_set(mstatus, MSTATUS_MIE);
	{
		u64 pc, bit = 1 << 3;
		asm volatile("la %0, 1f\n csrs mie, %1\n 1: csrc mie, %1"
			     : "=&r"(pc)
			     : "r"(bit)
			     : "memory");
		csr_clear(mstatus, MSTATUS_MIE);
		isa_check("MSI taken in a mie window", norder, 1);
		isa_check("mie window: mepc", last_epc, pc);
	}
	/* WFI: the interrupt is taken after the wfi (mepc = next insn).  The
	 * timer is 100 ms away when the wfi starts; the hook re-arms it every
	 * 100 us so a late wfi can never sleep forever. */
	reset_order();
	isa_irq_hook = wfi_hook;
	csr_write(mie, 1 << 7);
	mtimecmp(mtime() + 1000000); /* 100 ms */
	csr_set(mstatus, MSTATUS_MIE);
	{
		u64 pc;
		asm volatile("la %0, 1f\n wfi\n 1: nop" : "=&r"(pc)::"memory");
		for (int i = 0; i < 1000 && !norder; i++)
			asm volatile("wfi");
		csr_clear(mstatus, MSTATUS_MIE);
		mtimecmp(~0UL);
		isa_check("MTI after wfi", norder >= 1, 1);
		isa_check("MTI after wfi: mepc = after the wfi", first_epc, pc);
	}
	isa_irq_hook = m_hook;
	/* S-mode sstatus.SIE window for a delegated SSI */
	reset_order();
	csr_write(mideleg, 1 << 1);
	csr_write(mie, 1 << 1);
	csr_set(mip, 2);
	{
		long pc = isa_run_in_mode(MODE_S, s_window, 0);
		isa_check("SSI taken in a sstatus.SIE window", norder, 1);
		(void)pc;
	}
	/* (mideleg = SSIP and mie = SSIE stay for the vectored test) */

	/* vectored stvec: interrupt to base + 4 * cause, exceptions to base */
	csr_write(stvec, (u64)svec_table | 1);
	vec_hits[1] = 0;
	reset_order();
	isa_run_in_mode(MODE_S, s_self_ssi, 0);
	isa_check("vectored stvec: SSI at slot 1", vec_hits[1], 1);
	isa_check("vectored stvec: not via base", norder, 0);
	csr_write(medeleg, 1 << CAUSE_ILLEGAL);
	isa_check("vectored stvec: exception at base", isa_run_in_mode(MODE_S, s_illegal, 0),
		  CAUSE_ILLEGAL);
	csr_write(medeleg, 0);
	/* delegated STI (STIP set by M) at slot 5 */
	vec_hits[5] = 0;
	csr_write(mideleg, 1 << 5);
	csr_write(mie, 1 << 5);
	csr_set(mip, 32);
	isa_run_in_mode(MODE_U, s_spin, 100);
	isa_check("vectored stvec: STI at slot 5", vec_hits[5], 1);
	csr_clear(mip, 32);
	csr_write(mideleg, 0);
	csr_write(stvec, (u64)strap_entry);

	/* vectored mtvec */
	csr_write(mtvec, (u64)mvec_table | 1);
	vec_hits[3] = vec_hits[5] = vec_hits[7] = 0;
	csr_write(mie, (1 << 3) | (1 << 5) | (1 << 7));
	msip(1);
	csr_set(mip, 32);
	mtimecmp(0);
	csr_set(mstatus, MSTATUS_MIE);
	for (volatile int i = 0; i < 1000; i++)
		;
	csr_clear(mstatus, MSTATUS_MIE);
	csr_write(mtvec, (u64)trap_entry);
	isa_check("vectored mtvec: MSI at slot 3", vec_hits[3], 1);
	isa_check("vectored mtvec: STI at slot 5", vec_hits[5], 1);
	isa_check("vectored mtvec: MTI at slot 7", vec_hits[7], 1);
	csr_write(mie, 0);

	/* sret: SIE <- SPIE, SPIE <- 1, SPP <- U */
	u64 ss = (u64)isa_run_in_mode(MODE_S, s_sret_bits, 0);
	isa_check("sret: SIE = old SPIE", (ss >> 1) & 1, 1);
	isa_check("sret: SPIE = 1", (ss >> 5) & 1, 1);
	isa_check("sret: SPP = U", (ss >> 8) & 1, 0);
	/* mret: MIE <- MPIE, MPIE <- 1, MPP <- U */
	csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPP);
	csr_set(mstatus, MSTATUS_MPP | MSTATUS_MPIE);
	asm volatile("la t0, 1f\n csrw mepc, t0\n mret\n 1:" ::: "t0");
	u64 ms = csr_read(mstatus);
	csr_clear(mstatus, MSTATUS_MIE);
	isa_check("mret: MIE = old MPIE", (ms >> 3) & 1, 1);
	isa_check("mret: MPIE = 1", (ms >> 7) & 1, 1);
	isa_check("mret: MPP = U", (ms >> 11) & 3, 0);
	csr_set(mstatus, MSTATUS_MPP);
	isa_irq_hook = 0;
	isa_sirq_hook = 0;
}
