/*
 * cache.c - the decoded-block cache and the per-hart jump cache; creation of
 * the core and its harts.
 *
 * Blocks are keyed by the guest physical address of their first instruction
 * and shared by all harts (decoding does not depend on hart state).  The
 * hash table starts small after every flush (RV_HASH_MIN_BITS) and doubles
 * while it holds more than two blocks a bucket (hash_grow), so its pages
 * are resident in proportion to what the guest runs.  They
 * live in one arena; when it is full everything is dropped at once (no
 * fragmentation, no per-block frees).  A block never spans two pages; the
 * page it comes from is flagged RV_PAGE_CODE so stores to it invalidate the
 * page's blocks (mmu.c).  Invalidated blocks stay in the arena until the next
 * full flush, so a block that invalidates itself can finish running.
 *
 * The jump cache maps (virtual pc, privilege) to a block; it is flushed with
 * the hart's TLB (so virtual-to-physical changes are seen) and whenever
 * blocks are invalidated.
 *
 * Memory: both arenas (decoded blocks, JIT code) are reserved address space
 * (MAP_NORESERVE) that becomes resident only as it is filled.  The block
 * arena is recycled (a full flush, as QEMU's tb_flush) whenever it holds
 * arena_cap bytes, a budget that starts at RV_ARENA_MIN (1 MiB): a shell
 * command decodes a few MiB of kernel and busybox code once, and keeping it
 * all would double the VMM's own memory.  A guest whose working set is
 * larger than the budget decodes again the blocks the last flush dropped:
 * each flush records the paddrs of its live blocks in a small filter
 * (ghost), and when at least a quarter of the blocks decoded since the last
 * decision were in it, the arena is not recycled but its budget doubles (up
 * to ARENA_SIZE), so a compute-bound guest runs from a cache that holds its
 * working set after a few flushes.  A flush costs what its blocks cost:
 * the code pages are found by walking the arena's blocks (not the whole
 * page table), and the jump caches are not cleared: entries made before
 * the flush carry a key at or below key_floor and are never revalidated.
 * A guest whose harts all idle in WFI long after the last trim (1 s,
 * doubling after each trim up to 32 s, so a guest that keeps coming back
 * to work pays for re-decoding ever more rarely; the budget's flushes,
 * which come every second or two even in an idle guest, do not postpone
 * it) is trimmed (rv_core_trim): everything is flushed and the used
 * parts of the arenas,
 * the block hash and the jump caches are handed back to the kernel
 * (MADV_DONTNEED), the budget goes back to RV_ARENA_MIN and the filter is
 * cleared, so an idle VM keeps only the blocks it runs again (its
 * idle loop and interrupt paths), not all the code of its boot.  Busy harts
 * never reach that point, so a compute-bound guest is not slowed.
 *
 * Parallel mode (rv_core_set_parallel): lookups, decoding and invalidation
 * run under the core lock, except the revalidation of a jump-cache entry
 * (jcache_revalidate); each hart has its own chain slots below every
 * block (chain_pre), in a cache line of their own (blocks are 64-byte
 * aligned): only their hart writes them, and a hart's new chain does not
 * take from other harts the lines they read (the block's header, their
 * own slots) while they run the same code; invalidation asks every hart to renew its own chain keys
 * (RV_REQ_CHAINS, rv_serve_requests); an arena past its budget asks for a
 * flush with every hart stopped (request_flush; the harts go on decoding
 * past the budget meanwhile, and at the full size ARENA_RESERVE keeps
 * room; past it a hart runs one uncached instruction at a time).  Such a
 * flush stops every hart, so parallel mode has no budget (the whole
 * arena) unless VESSEL_BLOCK_ARENA_KB asks for one: with a 1 MiB budget a
 * 3-hart boot sometimes took longer than Linux's 1 s for a secondary
 * CPU to come online.
 *
 * A 32-bit instruction whose upper half lies on the next virtual page ends
 * the block that reaches it, when that page translates to executable RAM
 * (on another physical page): the block records that page (paddr2), is on
 * its straddlers list as well as on its own page's list (a store to either
 * kills it, and a killed block leaves both lists), and a hash or jump-cache
 * lookup takes it only while the next virtual page still translates there
 * (straddle_holds; that page's fetch is noted, so an SFENCE.VMA of it
 * renews the chain keys, as one of the first page does).  So the MD5
 * rounds of busybox, which hold such an instruction, run chained and
 * translated.  When the next page does not translate, the instruction
 * starts a block of its own, decoded into a one-instruction block of a
 * small per-hart cache keyed by its bits, both halves fetched again on
 * each execution (straddling_block), which raises the fetch fault.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu_internal.h"
#include "vessel/core/util.h"

#define ARENA_SIZE (64ULL << 20)
/* Arena bytes made resident per system call ahead of the writes. */
#define ARENA_POPULATE (64u << 10)
#define BLOCK_BYTES(n) (sizeof(struct rv_block) + (size_t)(n) * sizeof(struct rv_uop))
/* Parallel mode: room left in the arena when a flush is requested (the
 * harts stop within a block or two; past it they run uncached). */
#define ARENA_RESERVE (4ULL << 20)
/* Per-hart blocks outside the arena (straddling, debugger, scratch) keep
 * room for every hart's chain slots below them. */
#define SPECIAL_PRE    ((size_t)RV_CHAIN_STRIDE * RV_MAX_HARTS)
#define SPECIAL_STRIDE (SPECIAL_PRE + ((BLOCK_BYTES(2) + 63) & ~(size_t)63))

static uint8_t *special_alloc(unsigned n)
{
	uint8_t *p = calloc(1, SPECIAL_PRE + n * SPECIAL_STRIDE);
	return p ? p + SPECIAL_PRE : NULL;
}

static void special_free(void *p)
{
	if (p)
		free((uint8_t *)p - SPECIAL_PRE);
}

/* Another starting budget (tests: flushes come often; benchmarks); 0: none. */
static size_t arena_min_env(void)
{
	const char *kb = getenv("VESSEL_BLOCK_ARENA_KB");
	long ak = kb && *kb ? strtol(kb, NULL, 10) : 0;
	return ak >= 64 && (unsigned long long)ak * 1024 <= ARENA_SIZE ? (size_t)ak * 1024 : 0;
}

#define HASH_RESERVED (sizeof(struct rv_block *) << RV_HASH_BITS)

static unsigned hash_pa(uint64_t pa, unsigned bits)
{
	return (unsigned)(((pa >> 1) * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

#define GHOST_SHIFT (__builtin_ctz(RV_GHOST_BITS))

static bool ghost_has(const struct rv_core *core, uint64_t pa)
{
	unsigned i = hash_pa(pa ^ (pa >> 17), GHOST_SHIFT);
	return core->ghost[i / 64] >> (i % 64) & 1;
}

static void ghost_add(struct rv_core *core, uint64_t pa)
{
	unsigned i = hash_pa(pa ^ (pa >> 17), GHOST_SHIFT);
	core->ghost[i / 64] |= 1ULL << (i % 64);
}

/* Size of the arena block at offset off (its chain slots included). */
static size_t arena_block_bytes(const struct rv_core *core, size_t off, struct rv_block **bp)
{
	struct rv_block *b = (struct rv_block *)(core->arena + off + core->chain_pre);
	*bp = b;
	return (core->chain_pre + BLOCK_BYTES(b->n + 1 + b->annex) + core->block_align - 1) &
	       ~(core->block_align - 1);
}

/* Double the block hash: every live block is linked again under one more
 * bit.  Entries past the used part are always NULL (flush_all clears what
 * was used), so the new half starts empty. */
static void hash_grow(struct rv_core *core)
{
	unsigned old = 1U << core->hash_bits;
	struct rv_block *all = NULL;
	for (unsigned i = 0; i < old; i++) {
		for (struct rv_block *b = core->hash[i], *next; b; b = next) {
			next = b->hnext;
			b->hnext = all;
			all = b;
		}
		core->hash[i] = NULL;
	}
	core->hash_bits++;
	for (struct rv_block *b = all, *next; b; b = next) {
		next = b->hnext;
		unsigned h = hash_pa(b->paddr, core->hash_bits);
		b->hnext = core->hash[h];
		b->hprev = &core->hash[h];
		if (b->hnext)
			b->hnext->hprev = &b->hnext;
		core->hash[h] = b;
	}
}

/*
 * The arena is written from its start on: every page's first write was a
 * page fault, and on a virtualized host a fault costs many times a system
 * call (a restored guest decodes 500 KiB of blocks, 130 faults, before it
 * prints its first byte).  So the pages are made resident ahead of the
 * writes, ARENA_POPULATE bytes at a time, by one MADV_POPULATE_WRITE
 * (Linux 5.14; an older kernel refuses it and the pages fault in as
 * before).  At most ARENA_POPULATE bytes are resident ahead of use.
 */
static void arena_populate(struct rv_core *core, size_t upto)
{
	if (upto <= core->arena_populated || core->arena_populate_off)
		return;
	size_t to = (upto + ARENA_POPULATE - 1) & ~(size_t)(ARENA_POPULATE - 1);
	if (to > core->arena_size)
		to = core->arena_size;
	if (madvise(core->arena + core->arena_populated, to - core->arena_populated,
		    MADV_POPULATE_WRITE) != 0) {
		core->arena_populate_off = true;
		return;
	}
	core->arena_populated = to;
}

/* Zero [p, p+len): whole pages are handed back to the kernel (not resident
 * until touched again), the partial pages at both ends are cleared. */
static void zero_release(void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, end = a + len;
	uintptr_t lo = (a + RV_PAGE_SIZE - 1) & RV_PAGE_MASK, hi = end & RV_PAGE_MASK;
	if (hi <= lo || madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0) {
		memset(p, 0, len);
		return;
	}
	memset(p, 0, lo - a);
	memset((void *)hi, 0, end - hi);
}

/* The page at pa holds no decoded code any more (flush_all). */
static void page_forget(struct rv_core *core, uint64_t pa)
{
	struct rv_page *pg = rv_core_page(core, pa);
	if (pg) {
		pg->flags &= (uint8_t)~RV_PAGE_CODE;
		pg->code_mask = 0;
		pg->blocks = NULL;
		pg->straddlers = NULL;
	}
}

static void flush_all(struct rv_core *core, bool release)
{
	/* every hart gets new chain keys below (rv_tlb_flush) */
	core->key_floor = __atomic_load_n(&core->key_counter, __ATOMIC_RELAXED);
	/*
	 * The pages holding code are those of the arena's live blocks (an
	 * invalidated block's page was cleared then; a page that got code
	 * again has a live block): clear them, and remember the blocks in the
	 * filter (a trim forgets them).  The rest of the page table stays
	 * untouched (and non-resident).
	 */
	memset(core->ghost, 0, sizeof(core->ghost));
	for (size_t off = 0; off < core->arena_used;) {
		struct rv_block *b;
		off += arena_block_bytes(core, off, &b);
		if (b->paddr == RV_DEAD_PADDR)
			continue;
		if (!release)
			ghost_add(core, b->paddr);
		/* its page, and the next one when it straddles into it */
		page_forget(core, b->paddr);
		if (b->paddr2)
			page_forget(core, b->paddr2);
	}
	core->decoded = core->redecoded = 0;
	if (release)
		core->arena_cap = core->arena_min;
	if (core->arena_used > core->arena_hw)
		core->arena_hw = core->arena_used;
	if (core->jit_used > core->jit_hw)
		core->jit_hw = core->jit_used;
	size_t hash_used = sizeof(*core->hash) << core->hash_bits;
	if (release)
		zero_release(core->hash, hash_used);
	else
		memset(core->hash, 0, hash_used);
	core->hash_bits = RV_HASH_MIN_BITS;
	core->hash_blocks = 0;
	core->arena_used = 0;
	rv_jit_flush(core); /* translations die with their blocks */
	__atomic_store_n(&core->flush_pending, false, __ATOMIC_RELAXED);
	core->flushes++;
	for (unsigned k = 0; k < core->nharts; k++) {
		rv_tlb_flush(core->harts[k]);
		/* entries point into the recycled arena: never revalidated (their
		 * keys are at most key_floor); a trim gives the pages back */
		if (release)
			zero_release(core->ext[k].jcache, sizeof(core->ext[k].jcache));
	}
}

void rv_core_flush(struct rv_core *core)
{
	flush_all(core, false);
}

/* Flush everything and hand the used pages of every cache back: all that
 * was used since the last release, not only what the last flush left. */
static void flush_release(struct rv_core *core, uint64_t now_ns)
{
	flush_all(core, true);
	size_t arena = (core->arena_hw + RV_PAGE_SIZE - 1) & RV_PAGE_MASK;
	size_t jit = (core->jit_hw + RV_PAGE_SIZE - 1) & RV_PAGE_MASK;
	if (arena < core->arena_populated) /* resident ahead of use too */
		arena = core->arena_populated;
	core->arena_hw = core->jit_hw = core->arena_populated = 0;
	if (arena)
		madvise(core->arena, arena, MADV_DONTNEED);
	if (jit && core->jit_code)
		madvise(core->jit_code, jit, MADV_DONTNEED);
	core->last_flush_ns = now_ns;
}

void rv_core_flush_release(struct rv_core *core)
{
	flush_release(core, vs_now_ns());
}

/*
 * Make the harts' jump caches resident now, one MADV_POPULATE_WRITE each,
 * rather than by the guest's first lookups: each of their 24 pages would
 * fault twice (a read maps the zero page, the first entry written copies
 * it), ~20 us a fault on a virtualized host.  A running guest fills its
 * jump cache within milliseconds anyway.  Best effort (Linux 5.14).
 */
void rv_core_populate_jcache(struct rv_core *core)
{
	for (unsigned k = 0; k < core->nharts; k++) {
		uintptr_t a = (uintptr_t)core->ext[k].jcache;
		uintptr_t lo = (a + RV_PAGE_SIZE - 1) & RV_PAGE_MASK;
		uintptr_t hi = (a + sizeof(core->ext[k].jcache)) & RV_PAGE_MASK;
		if (hi > lo && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0)
			return;
	}
}

bool rv_core_trim(struct rv_core *core, uint64_t now_ns)
{
	if (now_ns - core->last_flush_ns < core->trim_interval_ns ||
	    (core->arena_used < RV_TRIM_MIN_BYTES && core->jit_used < RV_TRIM_MIN_BYTES &&
	     core->arena_hw < RV_TRIM_MIN_BYTES && core->jit_hw < RV_TRIM_MIN_BYTES))
		return false;
	flush_release(core, now_ns);
	core->trims++;
	/* a guest that keeps coming back to work is trimmed ever more rarely */
	core->trim_interval_ns = core->trim_interval_ns * 2 < RV_TRIM_MAX_NS
				     ? core->trim_interval_ns * 2
				     : RV_TRIM_MAX_NS;
	return true;
}

uint64_t rv_core_trims(const struct rv_core *core)
{
	return core->trims;
}

/* Take b off the list at *head linked through the field at offset link. */
static void list_remove(struct rv_block **head, struct rv_block *b, size_t link)
{
	for (struct rv_block **pp = head; *pp; pp = (struct rv_block **)((char *)*pp + link))
		if (*pp == b) {
			*pp = *(struct rv_block **)((char *)b + link);
			return;
		}
}

static void block_kill(struct rv_block *b)
{
	/* jump-cache entries must not revive it */
	__atomic_store_n(&b->paddr, RV_DEAD_PADDR, __ATOMIC_RELAXED);
	/* nor its direct links (to blocks of its page: dead as well) */
	if (b->jit_link)
		rv_jit_unlink(b);
	*b->hprev = b->hnext;
	if (b->hnext)
		b->hnext->hprev = b->hprev;
}

/*
 * Every block of the page dies, and so does every block of another page
 * that straddles into it; a dead block is on no page's list (the pages a
 * flush clears are found through live blocks).
 */
void rv_cache_invalidate_page(struct rv_core *core, struct rv_page *pg)
{
	for (struct rv_block *b = pg->blocks; b; b = b->pnext) {
		if (b->paddr2) {
			struct rv_page *pg2 = rv_core_page(core, b->paddr2);
			if (pg2)
				list_remove(&pg2->straddlers, b, offsetof(struct rv_block, snext));
		}
		block_kill(b);
	}
	for (struct rv_block *b = pg->straddlers; b; b = b->snext) {
		struct rv_page *home = rv_core_page(core, b->paddr);
		if (home)
			list_remove(&home->blocks, b, offsetof(struct rv_block, pnext));
		block_kill(b);
	}
	pg->blocks = NULL;
	pg->straddlers = NULL;
	pg->code_mask = 0;
	pg->flags &= (uint8_t)~RV_PAGE_CODE;
	if (core->parallel) { /* the harts run: each renews its own keys */
		rv_request_all(core, NULL, RV_REQ_CHAINS);
		return;
	}
	for (unsigned k = 0; k < core->nharts; k++)
		rv_new_chain_key(core->harts[k]); /* drops jump-cache entries too */
}

void rv_request_all(struct rv_core *core, struct rv_hart *self, uint32_t req)
{
	for (unsigned k = 0; k < core->nharts; k++) {
		struct rv_hart *o = core->harts[k];
		if (o == self)
			continue;
		__atomic_fetch_or(&core->ext[k].req, req, __ATOMIC_SEQ_CST);
		__atomic_store_n(&o->events, 1, __ATOMIC_SEQ_CST);
	}
}

void rv_serve_requests(struct rv_hart *h)
{
	struct rv_hart_ext *ext = rv_ext(h);
	struct rv_core *core = h->core;
	uint32_t req;
	while ((req = __atomic_exchange_n(&ext->req, 0, __ATOMIC_SEQ_CST))) {
		if (req & RV_REQ_WSCAN) {
			/*
			 * A page became code (or otherwise flagged) after this hart
			 * got a write entry for it: drop the entry, and since stores
			 * through it may have landed after the page was decoded,
			 * drop the page's decoded code (it is decoded again).
			 */
			rv_lock(core);
			for (unsigned p = 0; p < 4; p++)
				for (unsigned j = 0; j < RV_TLB_SIZE; j++) {
					struct rv_tlb_entry *e = &h->tlb[p][RV_ACC_WRITE][j];
					if (e->vtag == ~0ULL)
						continue;
					struct rv_page *pg =
					    rv_core_page(core, h->tlb_ppage[p][RV_ACC_WRITE][j]);
					if (!pg || !pg->flags)
						continue;
					e->vtag = ~0ULL;
					if (pg->flags & RV_PAGE_CODE)
						rv_cache_invalidate_page(core, pg);
				}
			rv_unlock(core);
		}
		if (req & RV_REQ_CHAINS)
			rv_new_chain_key(h);
	}
}

void rv_core_set_parallel(struct rv_core *core, void (*lock)(void *), void (*unlock)(void *),
			  void *opaque)
{
	core->lock = lock;
	core->unlock = unlock;
	core->lock_opaque = opaque;
	/* first: the arena's blocks are walked with the chain_pre they were laid out with */
	rv_core_flush(core);
	/* every flush stops every hart: no budget unless asked for (tests) */
	core->arena_min = core->arena_cap = arena_min_env() ? arena_min_env() : core->arena_size;
	core->parallel = true;
	core->chain_pre = (size_t)RV_CHAIN_STRIDE * core->nharts;
	core->block_align = RV_CHAIN_STRIDE;
	for (unsigned k = 0; k < core->nharts; k++)
		core->harts[k]->chain_off = -(intptr_t)RV_CHAIN_STRIDE * (k + 1);
}

bool rv_core_flush_pending(const struct rv_core *core)
{
	return __atomic_load_n(&core->flush_pending, __ATOMIC_SEQ_CST);
}

/* Parallel mode: ask for a flush with every hart stopped (rv_core_flush_pending). */
static void request_flush(struct rv_core *core)
{
	if (__atomic_load_n(&core->flush_pending, __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&core->flush_pending, true, __ATOMIC_SEQ_CST);
	for (unsigned k = 0; k < core->nharts; k++)
		rv_hart_request_stop(core->harts[k]);
}

static void finish_uop(struct rv_uop *u, uint16_t off)
{
	u->off = off;
	u->hoff = rv_exec_hoff(u->opc);
}

/* Decode one instruction at host (len bytes available). Returns its length. */
static unsigned decode_at(const uint8_t *host, unsigned avail, struct rv_uop *u)
{
	uint16_t lo;
	memcpy(&lo, host, 2);
	if ((lo & 3) != 3) {
		rv_decode(rv_expand_compressed(lo), 2, u);
		u->raw = lo;
		return 2;
	}
	if (avail < 4)
		return 0;
	uint32_t insn;
	memcpy(&insn, host, 4);
	rv_decode(insn, 4, u);
	return 4;
}

/*
 * Host pointer to the instruction bytes at pc through the hart's execute
 * TLB (filled on a miss); NULL with the fetch fault's cause in *cause.
 */
static const uint8_t *fetch_try(struct rv_hart *h, uint64_t pc, uint64_t *pa_out, int *cause)
{
	unsigned priv = h->priv;
	unsigned tidx = (pc >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
	struct rv_tlb_entry *e = &h->tlb[priv][RV_ACC_EXEC][tidx];
	if (e->vtag != (pc & RV_PAGE_MASK)) {
		uint64_t pa;
		*cause = rv_translate(h, pc, RV_ACC_EXEC, priv, &pa);
		if (*cause)
			return NULL;
		uint64_t ppage = pa & RV_PAGE_MASK;
		const struct vm_ram_region *r = vm_bus_find_ram(h->core->bus, ppage, RV_PAGE_SIZE);
		if (!r) {
			*cause = RV_EXC_INSN_ACCESS;
			return NULL;
		}
		e->vtag = pc & RV_PAGE_MASK;
		e->addend = (uintptr_t)(r->host + (ppage - r->base)) - (uintptr_t)e->vtag;
		h->tlb_ppage[priv][RV_ACC_EXEC][tidx] =
		    ppage | (rv_ext(h)->walk_global ? 0 : RV_TLB_LOCAL);
	}
	*pa_out = (h->tlb_ppage[priv][RV_ACC_EXEC][tidx] & RV_PAGE_MASK) | (pc & ~RV_PAGE_MASK);
	return (const uint8_t *)(e->addend + pc);
}

/* As fetch_try, raising the fetch fault (NULL). */
static const uint8_t *fetch_ptr(struct rv_hart *h, uint64_t pc, uint64_t *pa_out)
{
	int cause = 0;
	const uint8_t *p = fetch_try(h, pc, pa_out, &cause);
	if (!p)
		rv_trap(h, (uint64_t)cause, pc);
	return p;
}

/* The execute-TLB entry's physical page field for pc (after a fetch). */
static uint64_t fetch_pfield(const struct rv_hart *h, uint64_t pc)
{
	return h->tlb_ppage[h->priv][RV_ACC_EXEC][(pc >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1)];
}

/*
 * The page after pc's, where the upper half of an instruction straddling
 * into it lies (va, page-aligned): its physical address when a block of
 * the page at pa may end in it (executable RAM on another physical page),
 * else 0 and no fault raised: the block ends before the instruction, which
 * runs on its own (straddling_block) and raises the fault there.  *hi: the
 * bytes there.  The translation is noted as a block lookup's (chains and
 * jump-cache entries depend on it).
 */
static uint64_t straddle_page(struct rv_hart *h, uint64_t va, uint64_t pa, const uint8_t **hi)
{
	int cause = 0;
	uint64_t pa2;
	const uint8_t *p = fetch_try(h, va, &pa2, &cause);
	if (!p || pa2 == 0 || pa2 == (pa & RV_PAGE_MASK) || !rv_core_page(h->core, pa2))
		return 0;
	rv_note_fetch(h, va, fetch_pfield(h, va));
	*hi = p;
	return pa2;
}

/* Does block b, found for pc, hold for the translation of pc's next page
 * (a block that straddles into it: the page it was decoded from)? */
static bool straddle_holds(struct rv_hart *h, const struct rv_block *b, uint64_t pc)
{
	if (!b->paddr2)
		return true;
	const uint8_t *hi;
	return straddle_page(h, (pc & RV_PAGE_MASK) + RV_PAGE_SIZE, b->paddr, &hi) == b->paddr2;
}

/*
 * A 32-bit instruction whose halves lie on two pages: both halves are
 * fetched through the execute TLB on every execution (so remapping either
 * page is seen) and the decoded form is kept per hart keyed by the
 * instruction bits (decoding depends on nothing else).  Never chained,
 * never in the jump cache, never translated.
 */
static struct rv_block *straddling_block(struct rv_hart *h, uint64_t pc, const uint8_t *host)
{
	uint64_t pa2;
	const uint8_t *hi = fetch_ptr(h, pc + 2, &pa2);
	if (!hi)
		return NULL;
	uint32_t raw = (uint32_t)host[0] | (uint32_t)host[1] << 8 | (uint32_t)hi[0] << 16 |
		       (uint32_t)hi[1] << 24;
	struct rv_hart_ext *ext = rv_ext(h);
	unsigned i = (raw ^ (raw >> 7) ^ (raw >> 15) ^ (raw >> 20)) & (RV_STRADDLE_N - 1);
	struct rv_block *b = (struct rv_block *)(ext->straddle + i * SPECIAL_STRIDE);
	if (ext->straddle_raw[i] == raw && b->n == 1)
		return b;
	uint8_t buf[4];
	memcpy(buf, &raw, 4);
	b->paddr = ~0ULL;
	memset(b->chain, 0, sizeof(b->chain));
	b->n = 1;
	b->bytes = 4;
	b->hot = 0; /* never translated */
	b->annex = 0;
	b->jit = NULL;
	b->jit_inner = NULL;
	b->jit_link = NULL;
	b->paddr2 = 0;
	decode_at(buf, 4, &b->u[0]);
	finish_uop(&b->u[0], 0);
	b->u[1].opc = RV_OP_END;
	finish_uop(&b->u[1], 4);
	ext->straddle_raw[i] = raw;
	return b;
}

static struct rv_block *block_single(struct rv_hart *h, uint64_t pc, struct rv_block *blk);

/* (the page walk may set A/D bits: shared state, under the lock in parallel mode) */
struct rv_block *rv_block_single(struct rv_hart *h, uint64_t pc, struct rv_block *blk)
{
	rv_lock(h->core);
	struct rv_block *b = block_single(h, pc, blk);
	rv_unlock(h->core);
	return b;
}

static struct rv_block *block_single(struct rv_hart *h, uint64_t pc, struct rv_block *blk)
{
	uint8_t buf[4];
	for (unsigned k = 0; k < 4; k += 2) {
		uint64_t va = pc + k, pa;
		int cause = rv_translate(h, va, RV_ACC_EXEC, h->priv, &pa);
		if (cause) {
			rv_trap(h, (uint64_t)cause, va);
			return NULL;
		}
		const uint8_t *p = vm_bus_ram_ptr(h->core->bus, pa, 2);
		if (!p) {
			rv_trap(h, RV_EXC_INSN_ACCESS, va);
			return NULL;
		}
		memcpy(buf + k, p, 2);
		if (k == 0 && (buf[0] & 3) != 3)
			break;
	}
	blk->paddr = ~0ULL;
	memset(blk->chain, 0, sizeof(blk->chain));
	blk->n = 1;
	blk->hot = 0; /* never translated */
	blk->annex = 0;
	blk->jit = NULL;
	blk->jit_inner = NULL;
	blk->jit_link = NULL;
	blk->paddr2 = 0;
	blk->bytes = decode_at(buf, 4, &blk->u[0]);
	finish_uop(&blk->u[0], 0);
	blk->u[1].opc = RV_OP_END;
	finish_uop(&blk->u[1], (uint16_t)blk->bytes);
	return blk;
}

static struct rv_block *block_lookup(struct rv_hart *h, uint64_t pc);

/*
 * The arena reached its budget: when at least a quarter of the blocks
 * decoded since the last flush or growth are ones the last flush dropped,
 * the working set is larger than the budget: double it (true) instead of
 * recycling the arena.  Counted afresh after either.
 */
static bool over_budget_grow(struct rv_core *core)
{
	if (core->flush_pending)
		return false; /* parallel mode: already decided */
	bool grow = core->redecoded >= 64 && core->redecoded * 2 >= core->decoded &&
		    core->arena_cap < core->arena_size;
	core->decoded = core->redecoded = 0;
	if (grow)
		core->arena_cap =
		    core->arena_cap * 2 < core->arena_size ? core->arena_cap * 2 : core->arena_size;
	return grow;
}

/*
 * Parallel mode, without the lock: a jump-cache entry made under an older
 * key whose block is live and starts where pc translates to now (through
 * the execute TLB, without filling it).  A block invalidated right after
 * the check runs once more, as one invalidated while running does; the
 * arena is only recycled with every hart stopped.
 */
static struct rv_block *jcache_revalidate(struct rv_hart *h, uint64_t pc)
{
	unsigned priv = h->priv;
	unsigned tidx = (pc >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
	if (h->tlb[priv][RV_ACC_EXEC][tidx].vtag != (pc & RV_PAGE_MASK) ||
	    RV_PAGE_SIZE - (pc & ~RV_PAGE_MASK) < 4)
		return NULL;
	uint64_t pfield = h->tlb_ppage[priv][RV_ACC_EXEC][tidx];
	uint64_t pa = (pfield & RV_PAGE_MASK) | (pc & ~RV_PAGE_MASK);
	struct rv_jcache_entry *je = &rv_ext(h)->jcache[(pc >> 1) & (RV_JCACHE_SIZE - 1)];
	if (je->vpc != pc || !je->b || je->key <= h->core->key_floor ||
	    __atomic_load_n(&je->b->paddr, __ATOMIC_RELAXED) != pa ||
	    __atomic_load_n(&h->core->jit_full, __ATOMIC_RELAXED))
		return NULL;
	if (je->b->paddr2) { /* straddles: the next page's entry must be there and agree */
		uint64_t pc2 = (pc & RV_PAGE_MASK) + RV_PAGE_SIZE;
		unsigned t2 = (pc2 >> RV_PAGE_SHIFT) & (RV_TLB_SIZE - 1);
		uint64_t pfield2 = h->tlb_ppage[priv][RV_ACC_EXEC][t2];
		if (h->tlb[priv][RV_ACC_EXEC][t2].vtag != pc2 ||
		    (pfield2 & RV_PAGE_MASK) != je->b->paddr2)
			return NULL;
		rv_note_fetch(h, pc2, pfield2);
	}
	rv_note_fetch(h, pc, pfield);
	je->key = h->chain_key;
	return je->b;
}

struct rv_block *rv_block_lookup(struct rv_hart *h, uint64_t pc)
{
	if (h->core->parallel) {
		struct rv_block *b = jcache_revalidate(h, pc);
		if (b)
			return b;
	}
	rv_lock(h->core);
	struct rv_block *b = block_lookup(h, pc);
	rv_unlock(h->core);
	return b;
}

/* Integer ALU instructions without side effects but their register. */
static bool annexable(unsigned opc)
{
	return opc == RV_OP_LUI || opc == RV_OP_AUIPC || (opc >= RV_OP_ADDI && opc <= RV_OP_REMUW);
}

/*
 * A block ending in a conditional branch over at most RV_ANNEX_MAX integer
 * ALU instructions of the same page that lands right after them (an `if`
 * without `else`, as RISC-V compilers write a conditional move): decode them
 * after its END (rv_block.annex), for jit.c.  Returns how many (0: none).
 */
static unsigned decode_annex(struct rv_block *b, unsigned n, const uint8_t *host, unsigned off,
			     unsigned page_left)
{
	_Static_assert(RV_OP_ADDI < RV_OP_REMUW && RV_OP_REMUW + 1 == RV_OP_FENCE,
		       "the ALU ops are ADDI through REMUW");
	if (n == 0)
		return 0;
	const struct rv_uop *br = &b->u[n - 1];
	if (br->opc < RV_OP_BEQ || br->opc > RV_OP_BGEU || br->imm <= 0)
		return 0;
	unsigned target = br->off + (unsigned)br->imm;
	if (target <= off || target > page_left)
		return 0;
	unsigned k = 0;
	while (off < target) {
		if (k == RV_ANNEX_MAX)
			return 0;
		struct rv_uop *u = &b->u[n + 1 + k];
		unsigned len = decode_at(host + off, page_left - off, u);
		if (len == 0 || !annexable(u->opc))
			return 0;
		finish_uop(u, (uint16_t)off);
		off += len;
		k++;
	}
	return off == target ? k : 0;
}

static struct rv_block *block_lookup(struct rv_hart *h, uint64_t pc)
{
	struct rv_core *core = h->core;
	uint64_t pa;
	const uint8_t *host = fetch_ptr(h, pc, &pa);
	if (!host)
		return NULL;
	rv_note_fetch(h, pc, fetch_pfield(h, pc));
	unsigned page_left = (unsigned)(RV_PAGE_SIZE - (pc & ~RV_PAGE_MASK));
	if (unlikely(page_left < 4)) {
		uint16_t lo;
		const uint8_t *hi;
		memcpy(&lo, host, 2);
		if ((lo & 3) == 3 && !straddle_page(h, pc + 2, pa, &hi))
			return straddling_block(h, pc, host);
	}

	/*
	 * A jump-cache entry made under an older key (before a satp write, a
	 * TLB flush or another hart's code invalidation) is still right when
	 * its block is live and starts at the physical address pc translates
	 * to now: decoding depends on the physical bytes only.
	 */
	struct rv_jcache_entry *je = &rv_ext(h)->jcache[(pc >> 1) & (RV_JCACHE_SIZE - 1)];
	if (je->vpc == pc && je->b && je->key > core->key_floor && je->b->paddr == pa &&
	    !core->jit_full && straddle_holds(h, je->b, pc) && je->b->paddr == pa) {
		je->key = h->chain_key;
		return je->b;
	}

	if (unlikely(core->jit_full)) {
		if (core->parallel)
			request_flush(core);
		else
			rv_core_flush(core);
	}
	unsigned hidx = hash_pa(pa, core->hash_bits);
	struct rv_block *b;
	for (b = core->hash[hidx]; b; b = b->hnext)
		if (b->paddr == pa && straddle_holds(h, b, pc) && b->paddr == pa)
			goto found;

	size_t need =
	    core->chain_pre + BLOCK_BYTES(RV_BLOCK_MAX + 1 + RV_ANNEX_MAX) + core->block_align;
	size_t limit = core->arena_cap;
	if (core->parallel && limit == core->arena_size)
		limit -= ARENA_RESERVE;
	if (core->arena_used + need > limit && !over_budget_grow(core)) {
		if (core->parallel) {
			/* the other harts still run blocks of the arena: flush when all stopped */
			request_flush(core);
			if (core->arena_used + need > core->arena_size)
				return block_single(h, pc, rv_ext(h)->scratch);
		} else {
			rv_core_flush(core);
			hidx = hash_pa(pa, core->hash_bits);
		}
	}
	struct rv_page *pg = rv_core_page(core, pa);
	if (!pg) { /* out of memory for page tracking: run uncached */
		rv_trap(h, RV_EXC_INSN_ACCESS, pc);
		return NULL;
	}
	rv_core_mark_page(core, pa, RV_PAGE_CODE);
	arena_populate(core, core->arena_used + need);
	/* other harts' chain slots lie below the block (parallel mode) */
	memset(core->arena + core->arena_used, 0, core->chain_pre);
	b = (struct rv_block *)(core->arena + core->arena_used + core->chain_pre);
	unsigned off, n;
	uint64_t pa2;
decode:
	off = n = 0;
	pa2 = 0;
	while (n < RV_BLOCK_MAX && off < page_left) {
		struct rv_uop *u = &b->u[n];
		unsigned len = decode_at(host + off, page_left - off, u);
		if (len == 0) {
			/*
			 * A 32-bit instruction straddles into the next page: it ends
			 * the block when that page is RAM the block may depend on
			 * (straddle_page), else it starts the next block.  (The walk
			 * may have set an A bit in this very page: decode again.)
			 */
			const uint8_t *hi;
			pa2 = straddle_page(h, pc + off + 2, pa, &hi);
			if (!(pg->flags & RV_PAGE_CODE)) {
				rv_core_mark_page(core, pa, RV_PAGE_CODE);
				goto decode;
			}
			if (!pa2)
				break;
			rv_core_mark_page(core, pa2, RV_PAGE_CODE);
			uint8_t buf[4];
			memcpy(buf, host + off, 2);
			memcpy(buf + 2, hi, 2);
			decode_at(buf, 4, u);
			finish_uop(u, (uint16_t)off);
			n++;
			off += 4;
			break;
		}
		finish_uop(u, (uint16_t)off);
		n++;
		off += len;
		if (rv_op_ends_block(u->opc))
			break;
	}
	b->u[n].opc = RV_OP_END;
	finish_uop(&b->u[n], (uint16_t)off);
	b->annex = pa2 ? 0 : decode_annex(b, n, host, off, page_left);
	if (b->annex) /* covered like the block's own code (stores, breakpoints) */
		off = (unsigned)(b->u[n - 1].off + b->u[n - 1].imm);
	b->paddr = pa;
	memset(b->chain, 0, sizeof(b->chain));
	b->n = n;
	b->bytes = off;
	b->hot = core->jit_threshold;
	b->jit = NULL;
	b->jit_inner = NULL;
	b->jit_link = NULL;
	core->decoded++;
	if (ghost_has(core, pa))
		core->redecoded++;
	if (++core->hash_blocks > (2U << core->hash_bits) && core->hash_bits < RV_HASH_BITS) {
		hash_grow(core);
		hidx = hash_pa(pa, core->hash_bits);
	}
	b->hnext = core->hash[hidx];
	b->hprev = &core->hash[hidx];
	if (b->hnext)
		b->hnext->hprev = &b->hnext;
	core->hash[hidx] = b;
	b->pnext = pg->blocks;
	pg->blocks = b;
	b->paddr2 = pa2;
	b->snext = NULL;
	if (pa2) { /* its last instruction's upper half: the next page's first chunk */
		struct rv_page *pg2 = rv_core_page(core, pa2);
		b->snext = pg2->straddlers;
		pg2->straddlers = b;
		pg2->code_mask |= 1;
	}
	unsigned first = (unsigned)(pa & ~RV_PAGE_MASK) >> 6;
	unsigned last = (unsigned)((pa & ~RV_PAGE_MASK) + (off ? off : 1) - 1) >> 6;
	if (last > 63)
		last = 63;
	pg->code_mask |= (last == 63 ? ~0ULL : ((2ULL << last) - 1)) & ~((1ULL << first) - 1);
	struct rv_block *placed; /* b */
	core->arena_used += arena_block_bytes(core, core->arena_used, &placed);
found:
	je->vpc = pc;
	je->key = h->chain_key;
	je->b = b;
	return b;
}

/* ---- core and harts ---- */

static void core_dma_write(void *opaque, uint64_t gpa, uint64_t len)
{
	rv_core_note_write(opaque, gpa, len);
}

struct rv_core *rv_core_new(struct vm_bus *bus, unsigned nharts, uint64_t (*get_time)(void *opaque),
			    void *time_opaque, struct vs_err *err)
{
	if (nharts == 0 || nharts > RV_MAX_HARTS) {
		vs_errf(err, EINVAL, "cpu: %u harts requested (1..%u supported)", nharts,
			RV_MAX_HARTS);
		return NULL;
	}
	struct rv_core *core = calloc(1, sizeof(*core));
	if (!core) {
		vs_errf(err, ENOMEM, "cpu: out of memory");
		return NULL;
	}
	core->bus = bus;
	core->nharts = nharts;
	core->get_time = get_time;
	core->time_opaque = time_opaque;
	core->arena_size = ARENA_SIZE;
	core->block_align = 16;
	core->arena_min = arena_min_env() ? arena_min_env() : RV_ARENA_MIN;
	core->arena_cap = core->arena_min;
	core->last_flush_ns = vs_now_ns();
	core->trim_interval_ns = RV_TRIM_AFTER_NS;
	core->arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	core->hash = mmap(NULL, HASH_RESERVED, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	core->hash_bits = RV_HASH_MIN_BITS;
	if (core->arena == MAP_FAILED || core->hash == MAP_FAILED) {
		if (core->arena == MAP_FAILED)
			core->arena = NULL;
		if (core->hash == MAP_FAILED)
			core->hash = NULL;
		rv_core_free(core);
		vs_errf(err, ENOMEM, "cpu: cannot allocate the block cache");
		return NULL;
	}
	rv_hart_run(NULL, 0); /* publish the handler table */
	rv_jit_init(core);
	for (unsigned k = 0; k < nharts; k++) {
		core->harts[k] = aligned_alloc(64, (sizeof(struct rv_hart) + 63) & ~(size_t)63);
		if (!core->harts[k]) {
			rv_core_free(core);
			vs_errf(err, ENOMEM, "cpu: out of memory");
			return NULL;
		}
		memset(core->harts[k], 0, sizeof(struct rv_hart));
		core->ext[k].dbg_block = (struct rv_block *)special_alloc(1);
		core->ext[k].scratch = (struct rv_block *)special_alloc(1);
		core->ext[k].straddle = special_alloc(RV_STRADDLE_N);
		if (!core->ext[k].dbg_block || !core->ext[k].straddle || !core->ext[k].scratch) {
			rv_core_free(core);
			vs_errf(err, ENOMEM, "cpu: out of memory");
			return NULL;
		}
		core->harts[k]->core = core;
		core->harts[k]->hartid = k;
		rv_hart_reset(core->harts[k], 0);
	}
	bus->on_dma_write = core_dma_write;
	bus->dma_opaque = core;
	return core;
}

void rv_core_free(struct rv_core *core)
{
	if (!core)
		return;
	if (core->bus && core->bus->dma_opaque == core) {
		core->bus->on_dma_write = NULL;
		core->bus->dma_opaque = NULL;
	}
	for (unsigned k = 0; k < RV_MAX_HARTS; k++) {
		free(core->harts[k]);
		special_free(core->ext[k].dbg_block);
		special_free(core->ext[k].scratch);
		special_free(core->ext[k].straddle);
	}
	for (unsigned i = 0; i < VM_BUS_MAX_RAM; i++)
		free(core->pages[i]);
	if (core->arena)
		munmap(core->arena, core->arena_size);
	if (core->hash)
		munmap(core->hash, HASH_RESERVED);
	rv_jit_free(core);
	free(core->dirty);
	free(core);
}

struct rv_hart *rv_core_hart(struct rv_core *core, unsigned index)
{
	return index < core->nharts ? core->harts[index] : NULL;
}

unsigned rv_core_nharts(const struct rv_core *core)
{
	return core->nharts;
}

void rv_hart_reset(struct rv_hart *h, uint64_t pc)
{
	struct rv_core *core = h->core;
	unsigned id = h->hartid;
	memset(h, 0, offsetof(struct rv_hart, core));
	h->hartid = id;
	h->pc = pc;
	h->misa = 0;
	__atomic_store_n(&h->stop, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
	h->core = core;
	rv_ext(h)->fw_call = false;
	rv_set_priv(h, RV_PRIV_M);
	rv_tlb_flush(h);
	rv_debug_reset(h);
}
