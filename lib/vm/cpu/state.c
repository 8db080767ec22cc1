/*
 * state.c - a hart's architectural state in a snapshot section (HART,
 * docs/snapshot-format.md), and what the CPU must forget after a load.
 *
 * Saved: x1..x31, f0..f31, pc, privilege level, fflags/frm, the WFI flag,
 * every CSR field of struct rv_hart (M and S trap registers, counters,
 * delegation, interrupt enable/pending including the device-driven bits,
 * satp, envcfg, PMP), and the LR/SC reservation.  Not saved: the soft TLB,
 * the decoded-block and JIT caches, block chains; rv_core_after_load()
 * drops them all, so nothing decoded from the old memory survives.
 */
#include <errno.h>

#include "vessel/vm/state.h"

#include "cpu_internal.h"

// clang-format off
#define HART_STATE_CSRS(X) \
	X(mstatus) X(misa) X(medeleg) X(mideleg) X(mie) X(mip) X(mtvec) X(mscratch) X(mepc) \
	X(mcause) X(mtval) X(mcounteren) X(scounteren) X(menvcfg) X(senvcfg) X(mcountinhibit) \
	X(stvec) X(sscratch) X(sepc) X(scause) X(stval) X(satp) X(mip_ext) X(cycle) X(instret)
// clang-format on

void rv_hart_save(const struct rv_hart *h, struct vm_state *s)
{
	vm_state_put_u32(s, h->hartid);
	for (unsigned i = 1; i < 32; i++)
		vm_state_put_u64(s, h->x[i]);
	for (unsigned i = 0; i < 32; i++)
		vm_state_put_u64(s, h->f[i]);
	vm_state_put_u64(s, h->pc);
	vm_state_put_u8(s, (uint8_t)h->priv);
	vm_state_put_u8(s, (uint8_t)h->fflags);
	vm_state_put_u8(s, (uint8_t)h->frm);
	vm_state_put_u8(s, h->wfi);
#define PUT(f) vm_state_put_u64(s, h->f);
	HART_STATE_CSRS(PUT)
#undef PUT
	for (unsigned i = 0; i < 16; i++)
		vm_state_put_u64(s, h->pmpcfg[i]);
	for (unsigned i = 0; i < 64; i++)
		vm_state_put_u64(s, h->pmpaddr[i]);
	vm_state_put_u64(s, h->resv_addr);
	vm_state_put_u8(s, h->resv_valid);
}

/* The saved part of a hart, decoded before it is committed (a whole
 * struct rv_hart would be a 74 KiB copy, soft TLB included, made twice
 * per restore: new stack and TLB pages touched before the guest runs). */
struct hart_image {
	uint64_t x[32], f[32], pc;
	unsigned priv;
	uint32_t fflags, frm;
	bool wfi;
#define FIELD(f) uint64_t f;
	HART_STATE_CSRS(FIELD)
#undef FIELD
	uint64_t pmpcfg[16], pmpaddr[64];
	uint64_t resv_addr;
	bool resv_valid;
};

int rv_hart_load(struct rv_hart *h, struct vm_state *s, bool apply, struct vs_err *err)
{
	struct hart_image n;
	uint32_t id = vm_state_get_u32(s);
	n.x[0] = 0;
	for (unsigned i = 1; i < 32; i++)
		n.x[i] = vm_state_get_u64(s);
	for (unsigned i = 0; i < 32; i++)
		n.f[i] = vm_state_get_u64(s);
	n.pc = vm_state_get_u64(s);
	n.priv = vm_state_get_u8(s);
	n.fflags = vm_state_get_u8(s);
	n.frm = vm_state_get_u8(s);
	n.wfi = vm_state_get_bool(s);
#define GET(f) n.f = vm_state_get_u64(s);
	HART_STATE_CSRS(GET)
#undef GET
	for (unsigned i = 0; i < 16; i++)
		n.pmpcfg[i] = vm_state_get_u64(s);
	for (unsigned i = 0; i < 64; i++)
		n.pmpaddr[i] = vm_state_get_u64(s);
	n.resv_addr = vm_state_get_u64(s);
	n.resv_valid = vm_state_get_bool(s);
	int r = vm_state_check_end(s, "hart", err);
	if (r < 0)
		return r;
	if (id != h->hartid)
		return vs_errf(err, EINVAL, "hart section for hart %u loaded into hart %u", id,
			       h->hartid);
	if (n.priv != RV_PRIV_U && n.priv != RV_PRIV_S && n.priv != RV_PRIV_M)
		return vs_errf(err, EINVAL, "hart %u: invalid privilege level %u", id, n.priv);
	if (n.fflags > 0x1f || n.frm > 7)
		return vs_errf(err, EINVAL, "hart %u: invalid fcsr (fflags 0x%x frm %u)", id,
			       n.fflags, n.frm);
	if (n.pc & 1)
		return vs_errf(err, EINVAL, "hart %u: misaligned pc 0x%llx", id,
			       (unsigned long long)n.pc);
	if (!apply)
		return 0;
	memcpy(h->x, n.x, sizeof(n.x)); /* x[32], the x0 sink, keeps its value */
	memcpy(h->f, n.f, sizeof(n.f));
	h->pc = n.pc;
	h->priv = n.priv;
	h->fflags = n.fflags;
	h->frm = n.frm;
	h->wfi = n.wfi;
#define PUT(f) h->f = n.f;
	HART_STATE_CSRS(PUT)
#undef PUT
	memcpy(h->pmpcfg, n.pmpcfg, sizeof(n.pmpcfg));
	memcpy(h->pmpaddr, n.pmpaddr, sizeof(n.pmpaddr));
	h->resv_addr = n.resv_addr;
	h->resv_valid = n.resv_valid;
	__atomic_store_n(&h->stop, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->events, 1,
			 __ATOMIC_RELAXED); /* look at interrupts before the first instruction */
	return 0;
}

void rv_core_after_load(struct rv_core *core)
{
	/* decoded blocks, JIT code, every TLB and chain; their pages go back to
	 * the kernel instead of being cleared (a restore into a new process
	 * would otherwise make the whole block hash resident).  The jump caches
	 * are made resident at once: the restored guest's first lookups would
	 * fault each of their pages in twice (cache.c). */
	rv_core_flush_release(core);
	rv_core_populate_jcache(core);
	for (unsigned k = 0; k < core->nharts; k++) {
		struct rv_hart *h = core->harts[k];
		rv_update_dpriv(h);
		rv_new_chain_key(h);
		__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
	}
	/* The restored reservations stand until another hart runs (one-thread
	 * mode, rv_hart_run) or stores to them; in parallel mode SC compares the
	 * value LR would have read. */
	core->last_ran = NULL;
	for (unsigned k = 0; k < core->nharts; k++) {
		struct rv_hart *h = core->harts[k];
		if (!h->resv_valid)
			continue;
		const uint8_t *p = vm_bus_ram_ptr(core->bus, h->resv_addr, 8);
		uint64_t v = 0;
		if (p)
			memcpy(&v, p, 8);
		h->resv_val = v; /* SC.W compares the low word */
	}
}
