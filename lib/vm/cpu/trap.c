/*
 * trap.c - exceptions, interrupts, xRET and privilege changes.
 *
 * Privileged spec "Machine-Level ISA" (mcause, mtvec, mstatus stacking,
 * interrupt priority) and "Supervisor-Level ISA" (delegation through
 * medeleg/mideleg).  Rules implemented:
 *  - A trap from privilege p goes to S-mode when p <= S and the cause is
 *    delegated (medeleg bit for exceptions, mideleg bit for interrupts);
 *    otherwise to M-mode.  Traps never go to a lower privilege.
 *  - Interrupt i is taken in M-mode when pending & enabled in mie, not
 *    delegated, and (priv < M or mstatus.MIE); in S-mode when delegated and
 *    (priv < S or (priv == S and mstatus.SIE)).  M-level interrupts win over
 *    S-level ones; within a level: MEI, MSI, MTI, SEI, SSI, STI.
 *  - Vectored mode (xtvec.MODE=1) sends interrupt cause c to BASE + 4c.
 *
 * Firmware calls: a trap that takes the hart from S or U into M (an SBI
 * ecall, an interrupt or an emulated instruction) starts a firmware call,
 * which lasts, through nested M-mode traps, until an xRET (or anything
 * else) brings the hart below M again.  The run loop does not end a hart's
 * slice inside one (rv_hart_in_firmware_call, lib/vm/machine/machine.c):
 * firmware publishes shared state in steps another hart may not see
 * half-done, e.g. OpenSBI 1.1's sbi_hsm_hart_start sets the target's HSM
 * state to START_PENDING before it writes the start address and argument
 * the target then reads.
 */
#include "cpu_internal.h"

void rv_update_dpriv(struct rv_hart *h)
{
	unsigned p = h->priv;
	if ((h->mstatus & MSTATUS_MPRV) && p == RV_PRIV_M)
		p = (unsigned)((h->mstatus & MSTATUS_MPP) >> 11);
	rv_ext(h)->dpriv = p;
	rv_ext(h)->dtlb = p == RV_PRIV_S && (h->mstatus & MSTATUS_SUM) ? RV_TLB_SUM : p;
}

void rv_set_priv(struct rv_hart *h, unsigned priv)
{
	h->priv = priv;
	if (priv != RV_PRIV_M)
		rv_ext(h)->fw_call = false;
	rv_update_dpriv(h);
	h->chain_key = rv_ext(h)->prkey[priv & 3];
}

uint64_t rv_pending_irqs(const struct rv_hart *h)
{
	return (h->mip | __atomic_load_n(&h->mip_ext, __ATOMIC_RELAXED)) & h->mie;
}

void rv_trap(struct rv_hart *h, uint64_t cause, uint64_t tval)
{
	bool irq = cause >> 63;
	uint64_t code = cause & ~(1ULL << 63);
	uint64_t deleg = irq ? h->mideleg : h->medeleg;
	uint64_t epc = h->pc;

	__atomic_store_n(&h->resv_valid, false, __ATOMIC_RELAXED); /* DMA clears it too */
	if (h->priv <= RV_PRIV_S && code < 64 && ((deleg >> code) & 1)) {
		h->scause = cause;
		h->sepc = epc;
		h->stval = tval;
		uint64_t s = h->mstatus;
		s &= ~(MSTATUS_SPIE | MSTATUS_SPP);
		if (s & MSTATUS_SIE)
			s |= MSTATUS_SPIE;
		if (h->priv == RV_PRIV_S)
			s |= MSTATUS_SPP;
		s &= ~MSTATUS_SIE;
		h->mstatus = s;
		uint64_t base = h->stvec & ~3ULL;
		h->pc = (irq && (h->stvec & 1)) ? base + 4 * code : base;
		rv_set_priv(h, RV_PRIV_S);
	} else {
		bool from_lower = h->priv < RV_PRIV_M;
		h->mcause = cause;
		h->mepc = epc;
		h->mtval = tval;
		uint64_t s = h->mstatus;
		s &= ~(MSTATUS_MPIE | MSTATUS_MPP);
		if (s & MSTATUS_MIE)
			s |= MSTATUS_MPIE;
		s |= (uint64_t)h->priv << 11;
		s &= ~MSTATUS_MIE;
		h->mstatus = s;
		/* Sdtrig tcontrol: mpte (bit 7) = mte (bit 3), mte = 0 */
		h->tcontrol = (h->tcontrol & 8) << 4;
		uint64_t base = h->mtvec & ~3ULL;
		h->pc = (irq && (h->mtvec & 1)) ? base + 4 * code : base;
		rv_set_priv(h, RV_PRIV_M);
		if (from_lower)
			rv_ext(h)->fw_call = true;
	}
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
}

/* Highest-priority interrupt in the set, or -1. */
static int irq_pick(uint64_t set)
{
	static const int order[] = { 11, 3, 7, 9, 1, 5 };
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (set & (1ULL << order[i]))
			return order[i];
	return -1;
}

bool rv_check_interrupts(struct rv_hart *h)
{
	uint64_t pending = rv_pending_irqs(h);
	if (!pending)
		return false;
	uint64_t m = pending & ~h->mideleg;
	uint64_t s = pending & h->mideleg;
	bool m_on = h->priv < RV_PRIV_M || (h->mstatus & MSTATUS_MIE);
	bool s_on = h->priv < RV_PRIV_S || (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_SIE));
	int irq = -1;
	if (m && m_on)
		irq = irq_pick(m);
	else if (s && s_on && h->priv <= RV_PRIV_S)
		irq = irq_pick(s);
	if (irq < 0)
		return false;
	h->wfi = false;
	rv_trap(h, (1ULL << 63) | (uint64_t)irq, 0);
	return true;
}

void rv_do_mret(struct rv_hart *h)
{
	uint64_t s = h->mstatus;
	unsigned mpp = (unsigned)((s & MSTATUS_MPP) >> 11);
	s &= ~MSTATUS_MIE;
	if (s & MSTATUS_MPIE)
		s |= MSTATUS_MIE;
	s |= MSTATUS_MPIE;
	s &= ~MSTATUS_MPP; /* MPP <- U (least-privileged supported mode) */
	if (mpp != RV_PRIV_M)
		s &= ~MSTATUS_MPRV;
	h->mstatus = s;
	h->tcontrol = (h->tcontrol & 0x80) | ((h->tcontrol >> 4) & 8); /* mte = mpte */
	h->pc = h->mepc;
	rv_set_priv(h, mpp);
}

void rv_do_sret(struct rv_hart *h)
{
	uint64_t s = h->mstatus;
	unsigned spp = (s & MSTATUS_SPP) ? RV_PRIV_S : RV_PRIV_U;
	s &= ~MSTATUS_SIE;
	if (s & MSTATUS_SPIE)
		s |= MSTATUS_SIE;
	s |= MSTATUS_SPIE;
	s &= ~MSTATUS_SPP;
	s &= ~MSTATUS_MPRV; /* SRET always returns below M */
	h->mstatus = s;
	h->pc = h->sepc;
	rv_set_priv(h, spp);
}

void rv_hart_set_irq(struct rv_hart *h, uint64_t mip_bits, int level)
{
	/* other threads drive the lines while the hart runs (parallel mode) */
	if (level)
		__atomic_fetch_or(&h->mip_ext, mip_bits, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&h->mip_ext, ~mip_bits, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
}

bool rv_hart_in_firmware_call(const struct rv_hart *h)
{
	return h->core->ext[h->hartid].fw_call;
}

bool rv_hart_idle(const struct rv_hart *h)
{
	return (h->wfi && !rv_pending_irqs(h)) || h->core->ext[h->hartid].halted;
}

void rv_hart_request_stop(struct rv_hart *h)
{
	__atomic_store_n(&h->stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->events, 1, __ATOMIC_SEQ_CST);
}
