/*
 * mmu.c - address translation, the soft TLB, memory slow paths and atomics.
 *
 * Translation follows the privileged spec "Supervisor-Level ISA", sections
 * "Sv39" / "Sv48" and the "Virtual Address Translation Process":
 * non-canonical addresses, invalid or W-without-R PTEs, reserved high PTE
 * bits, non-leaf PTEs with A/D/U set, U/SUM/MXR permission failures and
 * misaligned superpages all raise the page fault of the access type; a PTE
 * outside RAM raises an access fault.  A and D are set by hardware with a
 * compare-and-swap on the PTE in guest memory (the walk restarts when the PTE
 * changed underneath).
 *
 * Soft TLB: per hart, per effective privilege (U, S, M; S with SUM set has
 * its own data set, RV_TLB_SUM) and per access type (read, write, execute), RV_TLB_SIZE direct-mapped entries mapping a guest
 * virtual page to a host pointer into a RAM region.  Invariants:
 *  - an entry exists only for RAM pages whose translation allowed that access
 *    (for writes: the PTE was already dirty, the region is writable and the
 *    physical page carries no watch flag);
 *  - pages holding decoded code (RV_PAGE_CODE) are never in a write TLB,
 *    so every store to them goes through rv_store_slow() ->
 *    rv_phys_note_store(), which drops stale decoded blocks;
 *  - everything is flushed on satp writes, SFENCE.VMA x0 and MXR changes;
 *    chains and jump-cache entries (keyed per privilege) only where they may
 *    depend on what changed: a satp write or SFENCE.VMA x0, asid keeps those
 *    of M, and those of S when every S fetch since its key went through a
 *    global translation (G: the same in every address space, as Linux maps
 *    itself), so kernel code stays chained across context switches; a satp
 *    write that changes MODE drops those of S in any case (a global
 *    translation is one of its mode: after Sv39 -> Bare the next fetch is
 *    physical);
 *    SFENCE.VMA with an address drops that page's entries (everything when
 *    the address lies in the range superpage translations covered).
 * LR reservations (one-thread mode): a store that takes the slow path (or
 * DMA, rv_core_note_write) breaks the reservations of other harts in its
 * granule; a store through the fast path cannot, but on one thread another
 * hart's store can only come between LR and SC if another hart ran between
 * them, and rv_hart_run drops the reservation of a hart that resumes after
 * another hart ran.  That SC fails more often than it must, which the spec
 * allows (an SC may fail spuriously; a constrained LR/SC loop retries within
 * one slice and succeeds).  Flagging the reserved page instead kept it out of
 * every write TLB and scanned all of them at each LR: in a 2-hart Linux
 * guest that scan took 45% of the host CPU.
 * Misaligned loads/stores never hit the fast path (the tag compare includes
 * the low address bits) and are performed here byte by byte.
 *
 * Parallel mode (rv_core_set_parallel): the slow paths run under the core
 * lock and access RAM as single relaxed host atomics; SC is a
 * compare-and-swap against the value LR read (amo_atomic); a page becoming
 * code does not touch other harts' TLBs but asks them to drop their own
 * write entries (RV_REQ_WSCAN); AMOs through a write-TLB hit are host
 * atomics without the lock.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_G (1ULL << 5)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)

#define PPN_MASK ((1ULL << 44) - 1)

static const unsigned page_fault_cause[3] = { RV_EXC_LOAD_PAGE_FAULT, RV_EXC_STORE_PAGE_FAULT,
					      RV_EXC_INSN_PAGE_FAULT };
static const unsigned access_fault_cause[3] = { RV_EXC_LOAD_ACCESS, RV_EXC_STORE_ACCESS,
						RV_EXC_INSN_ACCESS };

/* Returns 0 or an exception cause (never 0 for a fault: causes used are > 0). */
int rv_translate(struct rv_hart *h, uint64_t va, enum rv_access acc, unsigned priv, uint64_t *pa)
{
	uint64_t mode = h->satp >> 60;
	rv_ext(h)->walk_global = false;
	if (priv == RV_PRIV_M || mode == 0) {
		*pa = va;
		return 0;
	}
	unsigned levels = mode == 8 ? 3 : 4;
	unsigned va_bits = 12 + 9 * levels;
	if ((uint64_t)(((int64_t)(va << (64 - va_bits))) >> (64 - va_bits)) != va)
		return (int)page_fault_cause[acc];

	const struct vm_bus *bus = h->core->bus;
restart:;
	/* a restarted walk sees the PTEs afresh: a G bit met before does not count */
	bool global = false;
	uint64_t a = (h->satp & PPN_MASK) << 12;
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte_addr = a + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
		uint64_t *pte_p = vm_bus_ram_ptr(bus, pte_addr, 8);
		if (!pte_p)
			return (int)access_fault_cause[acc];
		uint64_t pte = __atomic_load_n(pte_p, __ATOMIC_RELAXED);
		if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
			return (int)page_fault_cause[acc];
		global |= (pte & PTE_G) != 0;
		if (!(pte & (PTE_R | PTE_X))) {
			if (i == 0 || (pte & (PTE_A | PTE_D | PTE_U)))
				return (int)page_fault_cause[acc];
			a = ((pte >> 10) & PPN_MASK) << 12;
			continue;
		}
		/* Leaf: permission checks. */
		if (priv == RV_PRIV_U) {
			if (!(pte & PTE_U))
				return (int)page_fault_cause[acc];
		} else if (pte & PTE_U) {
			if (acc == RV_ACC_EXEC || !(h->mstatus & MSTATUS_SUM))
				return (int)page_fault_cause[acc];
		}
		switch (acc) {
		case RV_ACC_READ:
			if (!(pte & PTE_R) && !((h->mstatus & MSTATUS_MXR) && (pte & PTE_X)))
				return (int)page_fault_cause[acc];
			break;
		case RV_ACC_WRITE:
			if (!(pte & PTE_W))
				return (int)page_fault_cause[acc];
			break;
		case RV_ACC_EXEC:
			if (!(pte & PTE_X))
				return (int)page_fault_cause[acc];
			break;
		}
		uint64_t ppn = (pte >> 10) & PPN_MASK;
		uint64_t low_mask = (1ULL << (9 * i)) - 1;
		if (ppn & low_mask)
			return (int)page_fault_cause[acc]; /* misaligned superpage */
		uint64_t want = pte | PTE_A | (acc == RV_ACC_WRITE ? PTE_D : 0);
		if (want != pte) {
			if (!__atomic_compare_exchange_n(pte_p, &pte, want, false, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST))
				goto restart;
			rv_phys_note_store(h->core, NULL, pte_addr, 8);
		}
		uint64_t off_mask = (1ULL << (12 + 9 * i)) - 1;
		*pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
		if (i > 0) { /* TLB entries may now hold pieces of a superpage */
			struct rv_hart_ext *ext = rv_ext(h);
			if ((va & ~off_mask) < ext->sp_lo)
				ext->sp_lo = va & ~off_mask;
			if ((va | off_mask) > ext->sp_hi)
				ext->sp_hi = va | off_mask;
		}
		rv_ext(h)->walk_global = global;
		return 0;
	}
	return (int)page_fault_cause[acc];
}

void rv_tlb_flush(struct rv_hart *h)
{
	struct rv_hart_ext *ext = rv_ext(h);
	memset(h->tlb, 0xff, sizeof(h->tlb));
	ext->sp_lo = ~0ULL;
	ext->sp_hi = 0;
	rv_new_chain_key(h); /* drops the jump cache too */
}

void rv_tlb_flush_asid(struct rv_hart *h)
{
	struct rv_hart_ext *ext = rv_ext(h);
	memset(h->tlb, 0xff, sizeof(h->tlb));
	ext->sp_lo = ~0ULL;
	ext->sp_hi = 0;
	/* M fetches are not translated: its chains stay */
	rv_new_priv_key(h, RV_PRIV_U);
	if (ext->s_local)
		rv_new_priv_key(h, RV_PRIV_S);
}

/*
 * SFENCE.VMA rs1=va (any ASID): the entries of va's page in every set.  A
 * superpage's translation is cached per 4 KiB piece, so an address inside
 * the superpage range flushes everything.  A privilege's chains and
 * jump-cache entries only depend on the page when one of its block lookups
 * went through it (xbloom, xlo..xhi).
 */
void rv_tlb_flush_page(struct rv_hart *h, uint64_t va)
{
	struct rv_hart_ext *ext = rv_ext(h);
	if (va >= ext->sp_lo && va <= ext->sp_hi) {
		rv_tlb_flush(h);
		return;
	}
	uint64_t page = va & RV_PAGE_MASK;
	unsigned idx = (va >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
	for (unsigned p = 0; p < 4; p++)
		for (unsigned a = 0; a < 3; a++) {
			if (h->tlb[p][a][idx].vtag == page)
				h->tlb[p][a][idx].vtag = ~0ULL;
			/* a data entry may sit at the paired index (tlb_fill) */
			if (h->tlb[p][a][idx ^ RV_TLB_PAIR].vtag == page)
				h->tlb[p][a][idx ^ RV_TLB_PAIR].vtag = ~0ULL;
		}
	uint64_t vpn = va >> 12;
	for (unsigned p = RV_PRIV_U; p <= RV_PRIV_S; p++)
		if (va >= (ext->xlo[p] & RV_PAGE_MASK) && va <= (ext->xhi[p] | ~RV_PAGE_MASK) &&
		    (ext->xbloom[p][(vpn >> 6) & 15] & (1ULL << (vpn & 63))))
			rv_new_priv_key(h, p);
}

struct rv_page *rv_core_page(struct rv_core *core, uint64_t pa)
{
	const struct vm_bus *bus = core->bus;
	for (unsigned i = 0; i < bus->nram; i++) {
		const struct vm_ram_region *r = &bus->ram[i];
		if (pa < r->base || pa - r->base >= r->size)
			continue;
		if (!core->pages[i]) {
			uint64_t n = (r->size + RV_PAGE_SIZE - 1) >> RV_PAGE_SHIFT;
			core->pages[i] = calloc(n, sizeof(struct rv_page));
			if (!core->pages[i])
				return NULL;
			core->npages[i] = n;
		}
		return &core->pages[i][(pa - r->base) >> RV_PAGE_SHIFT];
	}
	return NULL;
}

void rv_core_mark_page(struct rv_core *core, uint64_t pa, uint8_t flag)
{
	struct rv_page *pg = rv_core_page(core, pa);
	uint64_t page = pa & RV_PAGE_MASK;
	if (!pg || (pg->flags & flag))
		return;
	pg->flags |= flag;
	if (core->parallel) {
		/* the harts run: each drops its own write entries (rv_serve_requests) */
		rv_request_all(core, NULL, RV_REQ_WSCAN);
		return;
	}
	for (unsigned k = 0; k < core->nharts; k++) {
		struct rv_hart *h = core->harts[k];
		for (unsigned p = 0; p < 4; p++)
			for (unsigned j = 0; j < RV_TLB_SIZE; j++)
				if (h->tlb_ppage[p][RV_ACC_WRITE][j] == page)
					h->tlb[p][RV_ACC_WRITE][j].vtag = ~0ULL;
	}
}

void rv_phys_note_store(struct rv_core *core, struct rv_hart *by, uint64_t pa, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t first = pa & RV_PAGE_MASK, last = (pa + len - 1) & RV_PAGE_MASK;
	for (uint64_t page = first;; page += RV_PAGE_SIZE) {
		struct rv_page *pg = rv_core_page(core, page);
		if (rv_dirty_clean(core, page))
			rv_dirty_note(core, page);
		if (pg && pg->flags) {
			if (pg->flags & RV_PAGE_CODE) {
				uint64_t lo = (pa > page ? pa : page) - page;
				uint64_t end =
				    pa + len < page + RV_PAGE_SIZE ? pa + len : page + RV_PAGE_SIZE;
				uint64_t hi = (end - 1 - page) >> 6;
				uint64_t m = (hi == 63 ? ~0ULL : ((2ULL << hi) - 1)) &
					     ~((1ULL << (lo >> 6)) - 1);
				if (pg->code_mask & m)
					rv_cache_invalidate_page(core, pg);
			}
		}
		if (page == last)
			break;
	}
	/* one-thread mode: other harts' reservations in the granule (parallel
	 * mode: SC compares the value instead, and the harts run) */
	for (unsigned k = 0; !core->parallel && k < core->nharts; k++) {
		struct rv_hart *o = core->harts[k];
		uint64_t g = o->resv_addr & ~7ULL;
		if (o != by && __atomic_load_n(&o->resv_valid, __ATOMIC_RELAXED) && g < pa + len &&
		    pa < g + 8)
			__atomic_store_n(&o->resv_valid, false, __ATOMIC_RELAXED);
	}
}

void rv_core_note_write(struct rv_core *core, uint64_t gpa, uint64_t len)
{
	rv_phys_note_store(core, NULL, gpa, len);
}

/*
 * Guest RAM another hart may access at the same time (parallel mode):
 * aligned accesses are single host accesses, relaxed atomics (so the
 * ThreadSanitizer build sees them as such); others go byte by byte.
 */
static uint64_t ram_read(const uint8_t *p, unsigned size)
{
	if (((uintptr_t)p & (size - 1)) == 0) {
		switch (size) {
		case 1: return __atomic_load_n(p, __ATOMIC_RELAXED);
		case 2: return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
		case 4: return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
		case 8: return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
		}
	}
	uint64_t v = 0;
	for (unsigned k = 0; k < size; k++)
		v |= (uint64_t)__atomic_load_n(p + k, __ATOMIC_RELAXED) << (8 * k);
	return v;
}

static void ram_write(uint8_t *p, unsigned size, uint64_t v)
{
	if (((uintptr_t)p & (size - 1)) == 0) {
		switch (size) {
		case 1: __atomic_store_n(p, (uint8_t)v, __ATOMIC_RELAXED); return;
		case 2: __atomic_store_n((uint16_t *)p, (uint16_t)v, __ATOMIC_RELAXED); return;
		case 4: __atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_RELAXED); return;
		case 8: __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED); return;
		}
	}
	for (unsigned k = 0; k < size; k++)
		__atomic_store_n(p + k, (uint8_t)(v >> (8 * k)), __ATOMIC_RELAXED);
}

/* Install a TLB entry for va -> pa when pa is in a RAM page usable for acc. */
static void tlb_fill(struct rv_hart *h, unsigned set, enum rv_access acc, uint64_t va, uint64_t pa)
{
	uint64_t ppage = pa & RV_PAGE_MASK;
	const struct vm_ram_region *r = vm_bus_find_ram(h->core->bus, ppage, RV_PAGE_SIZE);
	if (!r)
		return;
	if (acc == RV_ACC_WRITE) {
		if (r->readonly)
			return;
		struct rv_page *pg = rv_core_page(h->core, ppage);
		if (!pg || pg->flags || rv_dirty_clean(h->core, ppage))
			return;
	}
	unsigned idx = (va >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
	struct rv_tlb_entry *t = h->tlb[set][acc];
	uint64_t *pp = h->tlb_ppage[set][acc];
	if (t[idx].vtag != ~0ULL && t[idx].vtag != (va & RV_PAGE_MASK)) {
		/* the evicted entry moves to the paired index (see tlb_alt) */
		t[idx ^ RV_TLB_PAIR] = t[idx];
		pp[idx ^ RV_TLB_PAIR] = pp[idx];
	}
	t[idx].vtag = va & RV_PAGE_MASK;
	t[idx].addend = (uintptr_t)(r->host + (ppage - r->base)) - (uintptr_t)(va & RV_PAGE_MASK);
	pp[idx] = ppage;
}

/*
 * The data TLBs are direct mapped, and lookups in exec.c and generated code
 * look at a page's own index only; but an entry tlb_fill evicts moves to the
 * paired index (idx ^ RV_TLB_PAIR) rather than being lost, and a miss looks
 * there before walking the page table.  Two hot pages of one index (1 MiB
 * apart, as a program's globals and its heap may happen to be) then cost a
 * swap each time they alternate, not a page walk each: gzip in a Linux
 * guest took about 1 million walks a second from one such pair.
 * Returns va's host address when the paired entry holds its page (now
 * swapped into va's own index), else NULL.
 */
static uint8_t *tlb_alt(struct rv_hart *h, enum rv_access acc, uint64_t va)
{
	unsigned set = rv_ext(h)->dtlb;
	unsigned idx = (va >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1), alt = idx ^ RV_TLB_PAIR;
	struct rv_tlb_entry *t = h->tlb[set][acc];
	uint64_t *pp = h->tlb_ppage[set][acc];
	if (t[alt].vtag != (va & RV_PAGE_MASK))
		return NULL;
	struct rv_tlb_entry e = t[idx];
	uint64_t p = pp[idx];
	t[idx] = t[alt];
	pp[idx] = pp[alt];
	t[alt] = e;
	pp[alt] = p;
	return (uint8_t *)(t[idx].addend + va);
}

/* Translate for data access; raises the fault itself. 0 or -1. */
static int data_translate(struct rv_hart *h, uint64_t va, enum rv_access acc, uint64_t *pa)
{
	unsigned priv = rv_ext(h)->dpriv;
	int cause = rv_translate(h, va, acc, priv, pa);
	if (cause) {
		rv_trap(h, (uint64_t)cause, va);
		return -1;
	}
	return 0;
}

static int load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val);

int rv_load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val)
{
	rv_lock(h->core);
	int r = load_slow(h, va, size, val);
	rv_unlock(h->core);
	return r;
}

static int load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val)
{
	const struct vm_bus *bus = h->core->bus;
	uint64_t pa;
	if (((va & ~RV_PAGE_MASK) + size) <= RV_PAGE_SIZE) {
		uint8_t *host = tlb_alt(h, RV_ACC_READ, va);
		if (host) {
			uint64_t v = 0;
			if (h->core->parallel)
				v = ram_read(host, size);
			else
				memcpy(&v, host, size);
			*val = v;
			return 0;
		}
		if (data_translate(h, va, RV_ACC_READ, &pa))
			return -1;
		const struct vm_ram_region *r = vm_bus_find_ram(bus, pa, size);
		if (r) {
			uint64_t v = 0;
			if (h->core->parallel)
				v = ram_read(r->host + (pa - r->base), size);
			else
				memcpy(&v, r->host + (pa - r->base), size);
			*val = v;
			tlb_fill(h, rv_ext(h)->dtlb, RV_ACC_READ, va, pa);
			return 0;
		}
		if ((va & (size - 1)) || vm_bus_read(bus, pa, size, val)) {
			rv_trap(h, RV_EXC_LOAD_ACCESS, va);
			return -1;
		}
		return 0;
	}
	/* Crosses a page: translate both pages first so a fault leaves no trace. */
	uint64_t pa2, split = RV_PAGE_SIZE - (va & ~RV_PAGE_MASK);
	if (data_translate(h, va, RV_ACC_READ, &pa) ||
	    data_translate(h, va + split, RV_ACC_READ, &pa2))
		return -1;
	uint64_t v = 0;
	for (unsigned k = 0; k < size; k++) {
		uint64_t b, a = k < split ? pa + k : pa2 + (k - split);
		if (vm_bus_read(bus, a, 1, &b)) {
			rv_trap(h, RV_EXC_LOAD_ACCESS, va);
			return -1;
		}
		v |= (b & 0xff) << (8 * k);
	}
	*val = v;
	return 0;
}

static int phys_store(struct rv_hart *h, uint64_t va, uint64_t pa, unsigned size, uint64_t v,
		      bool aligned)
{
	const struct vm_bus *bus = h->core->bus;
	const struct vm_ram_region *r = vm_bus_find_ram(bus, pa, size);
	if (r) {
		if (r->readonly)
			goto fault;
		rv_phys_note_store(h->core, h, pa, size);
		if (h->core->parallel)
			ram_write(r->host + (pa - r->base), size, v);
		else
			memcpy(r->host + (pa - r->base), &v, size);
		return 0;
	}
	if (!aligned || vm_bus_write(bus, pa, size, v))
		goto fault;
	return 0;
fault:
	rv_trap(h, RV_EXC_STORE_ACCESS, va);
	return -1;
}

static int store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val);

int rv_store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val)
{
	rv_lock(h->core);
	int r = store_slow(h, va, size, val);
	rv_unlock(h->core);
	return r;
}

static int store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val)
{
	uint64_t pa;
	if (((va & ~RV_PAGE_MASK) + size) <= RV_PAGE_SIZE) {
		/* a write entry exists only for a RAM page a store needs no note
		 * of (tlb_fill): the store is what the fast path would do */
		uint8_t *host = tlb_alt(h, RV_ACC_WRITE, va);
		if (host) {
			if (h->core->parallel)
				ram_write(host, size, val);
			else
				memcpy(host, &val, size);
			return 0;
		}
		if (data_translate(h, va, RV_ACC_WRITE, &pa))
			return -1;
		if (phys_store(h, va, pa, size, val, (va & (size - 1)) == 0))
			return -1;
		tlb_fill(h, rv_ext(h)->dtlb, RV_ACC_WRITE, va, pa);
		return 0;
	}
	uint64_t pa2, split = RV_PAGE_SIZE - (va & ~RV_PAGE_MASK);
	if (data_translate(h, va, RV_ACC_WRITE, &pa) ||
	    data_translate(h, va + split, RV_ACC_WRITE, &pa2))
		return -1;
	for (unsigned k = 0; k < size; k++) {
		uint64_t a = k < split ? pa + k : pa2 + (k - split);
		if (phys_store(h, va, a, 1, (val >> (8 * k)) & 0xff, true))
			return -1;
	}
	return 0;
}

/* The AMO arithmetic of funct5 f5 on old and src (sign-extended words for size 4). */
static uint64_t amo_value(unsigned f5, unsigned size, uint64_t old, uint64_t src)
{
	switch (f5) {
	case 1: return src;
	case 0: return old + src;
	case 4: return old ^ src;
	case 12: return old & src;
	case 8: return old | src;
	case 16: return (int64_t)old < (int64_t)src ? old : src;
	case 20: return (int64_t)old > (int64_t)src ? old : src;
	case 24: {
		uint64_t a = size == 4 ? (uint32_t)old : old, b = size == 4 ? (uint32_t)src : src;
		return a < b ? old : src;
	}
	default: {
		uint64_t a = size == 4 ? (uint32_t)old : old, b = size == 4 ? (uint32_t)src : src;
		return a > b ? old : src;
	}
	}
}

/*
 * Parallel mode: the LR/SC/AMO at host, physical address pa, as host atomics
 * (sequentially consistent, which covers every aq/rl combination).  LR
 * remembers the value it read; SC is a compare-and-swap against it.
 */
static void amo_atomic(struct rv_hart *h, const struct rv_uop *u, uint8_t *host, uint64_t pa)
{
	unsigned size = u->rs3 == 2 ? 4 : 8, f5 = u->rm;
	uint64_t src = h->x[u->rs2], old;
	if (f5 == 2) { /* LR */
		old = size == 4 ? __atomic_load_n((uint32_t *)host, __ATOMIC_SEQ_CST)
				: __atomic_load_n((uint64_t *)host, __ATOMIC_SEQ_CST);
		h->resv_val = old;
		h->resv_addr = pa;
		__atomic_store_n(&h->resv_valid, true, __ATOMIC_RELAXED);
		h->x[u->rd] = size == 4 ? (uint64_t)(int64_t)(int32_t)old : old;
		return;
	}
	if (f5 == 3) { /* SC */
		bool ok = __atomic_load_n(&h->resv_valid, __ATOMIC_RELAXED) && h->resv_addr == pa;
		__atomic_store_n(&h->resv_valid, false, __ATOMIC_RELAXED);
		if (ok && size == 4) {
			uint32_t exp = (uint32_t)h->resv_val;
			ok = __atomic_compare_exchange_n((uint32_t *)host, &exp, (uint32_t)src,
							 false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		} else if (ok) {
			uint64_t exp = h->resv_val;
			ok = __atomic_compare_exchange_n((uint64_t *)host, &exp, src, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		}
		h->x[u->rd] = ok ? 0 : 1;
		return;
	}
	if (size == 4) {
		uint32_t *p = (uint32_t *)host, s = (uint32_t)src;
		switch (f5) {
		case 1: old = __atomic_exchange_n(p, s, __ATOMIC_SEQ_CST); break;
		case 0: old = __atomic_fetch_add(p, s, __ATOMIC_SEQ_CST); break;
		case 4: old = __atomic_fetch_xor(p, s, __ATOMIC_SEQ_CST); break;
		case 12: old = __atomic_fetch_and(p, s, __ATOMIC_SEQ_CST); break;
		case 8: old = __atomic_fetch_or(p, s, __ATOMIC_SEQ_CST); break;
		default: {
			uint32_t o = __atomic_load_n(p, __ATOMIC_RELAXED), n;
			do
				n = (uint32_t)amo_value(f5, 4, (uint64_t)(int64_t)(int32_t)o,
							(uint64_t)(int64_t)(int32_t)s);
			while (!__atomic_compare_exchange_n(p, &o, n, true, __ATOMIC_SEQ_CST,
							    __ATOMIC_RELAXED));
			old = o;
		}
		}
		h->x[u->rd] = (uint64_t)(int64_t)(int32_t)old;
		return;
	}
	uint64_t *p = (uint64_t *)host;
	switch (f5) {
	case 1: old = __atomic_exchange_n(p, src, __ATOMIC_SEQ_CST); break;
	case 0: old = __atomic_fetch_add(p, src, __ATOMIC_SEQ_CST); break;
	case 4: old = __atomic_fetch_xor(p, src, __ATOMIC_SEQ_CST); break;
	case 12: old = __atomic_fetch_and(p, src, __ATOMIC_SEQ_CST); break;
	case 8: old = __atomic_fetch_or(p, src, __ATOMIC_SEQ_CST); break;
	default: {
		uint64_t o = __atomic_load_n(p, __ATOMIC_RELAXED), n;
		do
			n = amo_value(f5, 8, o, src);
		while (!__atomic_compare_exchange_n(p, &o, n, true, __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED));
		old = o;
	}
	}
	h->x[u->rd] = old;
}

/*
 * Parallel mode: an AMO through the soft TLB needs no lock (a write entry
 * exists only for a RAM page with no flags: no decoded code, dirty already);
 * a miss translates, notes the store and runs the atomic under the lock.
 */
static int amo_parallel(struct rv_hart *h, const struct rv_uop *u)
{
	unsigned size = u->rs3 == 2 ? 4 : 8;
	uint64_t va = h->x[u->rs1], pa;
	bool lr = u->rm == 2;
	if (va & (size - 1)) {
		rv_trap(h, lr ? RV_EXC_LOAD_MISALIGNED : RV_EXC_STORE_MISALIGNED, va);
		return -1;
	}
	struct rv_hart_ext *ext = rv_ext(h);
	enum rv_access acc = lr ? RV_ACC_READ : RV_ACC_WRITE;
	unsigned idx = (va >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
	struct rv_tlb_entry *e = &h->tlb[ext->dtlb][acc][idx];
	if (e->vtag == (va & RV_PAGE_MASK)) {
		pa = h->tlb_ppage[ext->dtlb][acc][idx] | (va & ~RV_PAGE_MASK);
		amo_atomic(h, u, (uint8_t *)(e->addend + va), pa);
		return 0;
	}
	struct rv_core *core = h->core;
	rv_lock(core);
	if (data_translate(h, va, acc, &pa)) {
		rv_unlock(core);
		return -1;
	}
	const struct vm_ram_region *r = vm_bus_find_ram(core->bus, pa, size);
	if (!r || (!lr && r->readonly)) {
		rv_unlock(core);
		rv_trap(h, lr ? RV_EXC_LOAD_ACCESS : RV_EXC_STORE_ACCESS, va);
		return -1;
	}
	if (!lr)
		rv_phys_note_store(core, h, pa, size);
	amo_atomic(h, u, r->host + (pa - r->base), pa);
	tlb_fill(h, ext->dtlb, acc, va, pa);
	rv_unlock(core);
	return 0;
}

/* LR/SC/AMO (unprivileged spec chapter "A"): funct5 in u->rm, width in u->rs3. */
int rv_amo(struct rv_hart *h, const struct rv_uop *u)
{
	if (h->core->parallel)
		return amo_parallel(h, u);
	unsigned size = u->rs3 == 2 ? 4 : 8;
	unsigned f5 = u->rm;
	uint64_t va = h->x[u->rs1], pa;
	bool lr = f5 == 2;
	const struct vm_bus *bus = h->core->bus;

	if (va & (size - 1)) {
		rv_trap(h, lr ? RV_EXC_LOAD_MISALIGNED : RV_EXC_STORE_MISALIGNED, va);
		return -1;
	}
	if (data_translate(h, va, lr ? RV_ACC_READ : RV_ACC_WRITE, &pa))
		return -1;
	const struct vm_ram_region *r = vm_bus_find_ram(bus, pa, size);
	if (!r || (!lr && r->readonly)) {
		rv_trap(h, lr ? RV_EXC_LOAD_ACCESS : RV_EXC_STORE_ACCESS, va);
		return -1;
	}
	uint8_t *host = r->host + (pa - r->base);
	uint64_t old;
	if (size == 4) {
		int32_t w;
		memcpy(&w, host, 4);
		old = (uint64_t)(int64_t)w;
	} else {
		memcpy(&old, host, 8);
	}

	if (lr) {
		h->resv_addr = pa;
		h->resv_valid = true;
		h->x[u->rd] = old;
		return 0;
	}
	if (f5 == 3) { /* SC */
		bool ok = h->resv_valid && h->resv_addr == pa;
		h->resv_valid = false;
		if (ok) {
			rv_phys_note_store(h->core, h, pa, size);
			memcpy(host, &h->x[u->rs2], size);
		}
		h->x[u->rd] = ok ? 0 : 1;
		return 0;
	}

	uint64_t src = h->x[u->rs2], nv;
	if (size == 4)
		src = (uint64_t)(int64_t)(int32_t)src;
	switch (f5) {
	case 1: nv = src; break;
	case 0: nv = old + src; break;
	case 4: nv = old ^ src; break;
	case 12: nv = old & src; break;
	case 8: nv = old | src; break;
	case 16: nv = (int64_t)old < (int64_t)src ? old : src; break;
	case 20: nv = (int64_t)old > (int64_t)src ? old : src; break;
	case 24: {
		uint64_t a = size == 4 ? (uint32_t)old : old, b = size == 4 ? (uint32_t)src : src;
		nv = a < b ? old : src;
		break;
	}
	default: {
		uint64_t a = size == 4 ? (uint32_t)old : old, b = size == 4 ? (uint32_t)src : src;
		nv = a > b ? old : src;
		break;
	}
	}
	rv_phys_note_store(h->core, h, pa, size);
	memcpy(host, &nv, size);
	h->x[u->rd] = old;
	return 0;
}

/* The page-table pages a walk for va reads (a peek: no A/D update, no
 * permission check), at most 4. */
static unsigned walk_pages(const struct rv_hart *h, uint64_t va, uint64_t *out)
{
	uint64_t mode = h->satp >> 60;
	if (mode != 8 && mode != 9)
		return 0;
	unsigned levels = mode == 8 ? 3 : 4, n = 0;
	uint64_t a = (h->satp & PPN_MASK) << 12;
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte_addr = a + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
		const uint64_t *pte_p = vm_bus_ram_ptr(h->core->bus, pte_addr, 8);
		if (!pte_p)
			break;
		out[n++] = pte_addr & RV_PAGE_MASK;
		uint64_t pte = __atomic_load_n(pte_p, __ATOMIC_RELAXED);
		if (!(pte & PTE_V) || (pte & (PTE_R | PTE_X)))
			break;
		a = ((pte >> 10) & PPN_MASK) << 12;
	}
	return n;
}

static int page_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a & RV_PAGE_MASK, y = *(const uint64_t *)b & RV_PAGE_MASK;
	return x < y ? -1 : x > y;
}

static unsigned recent_add(uint64_t *out, unsigned n, unsigned max, uint64_t v)
{
	if (n < max)
		out[n++] = v;
	return n;
}

unsigned rv_core_recent_pages(struct rv_core *core, uint64_t *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned k = 0; k < core->nharts; k++) {
		const struct rv_hart *h = core->harts[k];
		for (unsigned p = 0; p < 4; p++)
			for (unsigned a = 0; a < 3; a++)
				for (unsigned j = 0; j < RV_TLB_SIZE; j++) {
					uint64_t va = h->tlb[p][a][j].vtag;
					if (va == ~0ULL)
						continue;
					uint64_t page = h->tlb_ppage[p][a][j] & RV_PAGE_MASK;
					n = recent_add(
					    out, n, max,
					    page | (a == RV_ACC_WRITE ? RV_RECENT_WRITTEN : 0));
					if (p == RV_PRIV_M)
						continue; /* not translated */
					uint64_t walk[4];
					unsigned w = walk_pages(h, va, walk);
					for (unsigned i = 0; i < w; i++)
						n = recent_add(out, n, max, walk[i]);
				}
	}
	/* sorted, one entry a page (written if any entry of it was) */
	qsort(out, n, sizeof(*out), page_cmp);
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m && (out[m - 1] & RV_PAGE_MASK) == (out[i] & RV_PAGE_MASK))
			out[m - 1] |= out[i] & RV_RECENT_WRITTEN;
		else
			out[m++] = out[i];
	}
	return m;
}
