/*
 * plic.c - Platform-Level Interrupt Controller (RISC-V PLIC specification
 * 1.0.0, SiFive register layout as on QEMU's `virt` board).
 *
 * Register map (offsets from PLIC_BASE), all 32-bit:
 *   0x000000 + 4*irq          source priority (0 = never interrupts)
 *   0x001000 + 4*word         pending bits (read-only)
 *   0x002000 + 0x80*ctx + 4*w enable bits of context ctx
 *   0x200000 + 0x1000*ctx     priority threshold of context ctx
 *   0x200004 + 0x1000*ctx     claim (read) / complete (write)
 *
 * Invariants: a source is never both pending and claimed; the output of a
 * context is high iff some enabled pending source has a priority above the
 * context's threshold.  Outputs are recomputed after every state change and
 * only edges are forwarded to the harts.
 */
#include <errno.h>
#include <string.h>

#include "vessel/vm/plic.h"
#include "vessel/vm/state.h"

#define MIP_SEIP (1ULL << 9)
#define MIP_MEIP (1ULL << 11)

static bool bit_get(const uint32_t *words, unsigned irq)
{
	return (words[irq / 32] >> (irq % 32)) & 1;
}

static void bit_put(uint32_t *words, unsigned irq, bool on)
{
	if (on)
		words[irq / 32] |= 1U << (irq % 32);
	else
		words[irq / 32] &= ~(1U << (irq % 32));
}

/* Highest-priority enabled pending source of ctx (ties: lowest id), or 0. */
static unsigned plic_best(const struct plic *plic, unsigned ctx, uint32_t *prio_out)
{
	unsigned best = 0;
	uint32_t best_prio = 0;
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		uint32_t bits = plic->pending[w] & plic->enable[ctx][w];
		while (bits) {
			unsigned irq = w * 32 + (unsigned)__builtin_ctz(bits);
			bits &= bits - 1;
			if (irq == 0 || irq >= PLIC_NUM_SOURCES)
				continue;
			if (plic->priority[irq] > best_prio) {
				best_prio = plic->priority[irq];
				best = irq;
			}
		}
	}
	if (prio_out)
		*prio_out = best_prio;
	return best;
}

static void plic_update(struct plic *plic)
{
	for (unsigned ctx = 0; ctx < 2 * plic->nharts; ctx++) {
		uint32_t prio;
		unsigned irq = plic_best(plic, ctx, &prio);
		uint8_t level = irq != 0 && prio > plic->threshold[ctx];
		if (level == plic->output[ctx])
			continue;
		plic->output[ctx] = level;
		if (plic->set_hart_irq)
			plic->set_hart_irq(plic->opaque, ctx / 2, ctx % 2 ? MIP_SEIP : MIP_MEIP,
					   level);
	}
}

int plic_init(struct plic *plic, unsigned nharts, plic_hart_irq_fn set_hart_irq, void *opaque,
	      struct vs_err *err)
{
	if (nharts == 0 || nharts > PLIC_MAX_HARTS)
		return vs_errf(err, EINVAL, "plic: %u harts (1..%u supported)", nharts,
			       PLIC_MAX_HARTS);
	memset(plic, 0, sizeof(*plic));
	plic->nharts = nharts;
	plic->set_hart_irq = set_hart_irq;
	plic->opaque = opaque;
	return 0;
}

void plic_reset(struct plic *plic)
{
	memset(plic->priority, 0, sizeof(plic->priority));
	memset(plic->pending, 0, sizeof(plic->pending));
	memset(plic->claimed, 0, sizeof(plic->claimed));
	memset(plic->enable, 0, sizeof(plic->enable));
	memset(plic->threshold, 0, sizeof(plic->threshold));
	/* Sources still high latch again; outputs follow (all low: nothing enabled). */
	for (unsigned irq = 1; irq < PLIC_NUM_SOURCES; irq++)
		if (bit_get(plic->level, irq))
			bit_put(plic->pending, irq, true);
	plic_update(plic);
}

void plic_set_irq(struct plic *plic, unsigned irq, int level)
{
	if (irq == 0 || irq >= PLIC_NUM_SOURCES)
		return;
	bit_put(plic->level, irq, level != 0);
	/* Level-triggered: latch while high unless the source is in service. */
	if (level && !bit_get(plic->claimed, irq))
		bit_put(plic->pending, irq, true);
	else if (!level)
		bit_put(plic->pending, irq, false);
	plic_update(plic);
}

static void plic_line_set(void *opaque, unsigned irq, int level)
{
	plic_set_irq(opaque, irq, level);
}

struct vm_irq_line plic_irq_line(struct plic *plic, unsigned irq)
{
	return (struct vm_irq_line){ plic_line_set, plic, irq };
}

static uint32_t plic_claim(struct plic *plic, unsigned ctx)
{
	unsigned irq = plic_best(plic, ctx, NULL);
	if (irq) {
		bit_put(plic->pending, irq, false);
		bit_put(plic->claimed, irq, true);
		plic_update(plic);
	}
	return irq;
}

static void plic_complete(struct plic *plic, unsigned ctx, uint32_t irq)
{
	/* The spec ignores completions of sources not enabled for ctx. */
	if (irq == 0 || irq >= PLIC_NUM_SOURCES || !bit_get(plic->enable[ctx], irq))
		return;
	bit_put(plic->claimed, irq, false);
	if (bit_get(plic->level, irq))
		bit_put(plic->pending, irq, true);
	plic_update(plic);
}

static int plic_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
	struct plic *plic = opaque;
	unsigned nctx = 2 * plic->nharts;
	*value = 0;
	if (size != 4 || off % 4)
		return -1;
	if (off < 4 * PLIC_NUM_SOURCES) {
		*value = plic->priority[off / 4];
	} else if (off >= PLIC_PENDING_BASE && off < PLIC_PENDING_BASE + 4 * PLIC_WORDS) {
		*value = plic->pending[(off - PLIC_PENDING_BASE) / 4];
	} else if (off >= PLIC_ENABLE_BASE && off < PLIC_ENABLE_BASE + nctx * PLIC_ENABLE_STRIDE) {
		unsigned ctx = (unsigned)((off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE);
		unsigned w = (unsigned)((off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE) / 4;
		if (w < PLIC_WORDS)
			*value = plic->enable[ctx][w];
	} else if (off >= PLIC_CONTEXT_BASE && off < PLIC_CONTEXT_BASE + nctx * PLIC_CONTEXT_SIZE) {
		unsigned ctx = (unsigned)((off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_SIZE);
		unsigned reg = (unsigned)((off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_SIZE);
		if (reg == 0)
			*value = plic->threshold[ctx];
		else if (reg == 4)
			*value = plic_claim(plic, ctx);
	}
	/* Everything else reads as zero (reserved). */
	return 0;
}

static int plic_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct plic *plic = opaque;
	unsigned nctx = 2 * plic->nharts;
	uint32_t v = (uint32_t)value;
	if (size != 4 || off % 4)
		return -1;
	if (off < 4 * PLIC_NUM_SOURCES) {
		if (off != 0) /* source 0 does not exist */
			plic->priority[off / 4] = v & PLIC_PRIORITY_MASK;
	} else if (off >= PLIC_ENABLE_BASE && off < PLIC_ENABLE_BASE + nctx * PLIC_ENABLE_STRIDE) {
		unsigned ctx = (unsigned)((off - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE);
		unsigned w = (unsigned)((off - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE) / 4;
		if (w < PLIC_WORDS)
			plic->enable[ctx][w] = w == 0 ? v & ~1U : v;
	} else if (off >= PLIC_CONTEXT_BASE && off < PLIC_CONTEXT_BASE + nctx * PLIC_CONTEXT_SIZE) {
		unsigned ctx = (unsigned)((off - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_SIZE);
		unsigned reg = (unsigned)((off - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_SIZE);
		if (reg == 0)
			plic->threshold[ctx] = v & PLIC_PRIORITY_MASK;
		else if (reg == 4)
			plic_complete(plic, ctx, v);
		else
			return 0;
	} else {
		return 0; /* pending bits and reserved space ignore writes */
	}
	plic_update(plic);
	return 0;
}

const struct vm_mmio_ops plic_mmio_ops = { plic_read, plic_write };

void plic_save(const struct plic *plic, struct vm_state *s)
{
	vm_state_put_u32(s, plic->nharts);
	for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
		vm_state_put_u32(s, plic->priority[i]);
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		vm_state_put_u32(s, plic->level[w]);
		vm_state_put_u32(s, plic->pending[w]);
		vm_state_put_u32(s, plic->claimed[w]);
	}
	for (unsigned c = 0; c < 2 * plic->nharts; c++) {
		for (unsigned w = 0; w < PLIC_WORDS; w++)
			vm_state_put_u32(s, plic->enable[c][w]);
		vm_state_put_u32(s, plic->threshold[c]);
		vm_state_put_u8(s, plic->output[c]);
	}
}

int plic_load(struct plic *plic, struct vm_state *s, bool apply, struct vs_err *err)
{
	struct plic n = *plic;
	uint32_t nharts = vm_state_get_u32(s);
	if (nharts != plic->nharts)
		return vs_errf(err, EINVAL, "plic: snapshot has %u harts, machine %u", nharts,
			       plic->nharts);
	for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
		n.priority[i] = vm_state_get_u32(s) & PLIC_PRIORITY_MASK;
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		n.level[w] = vm_state_get_u32(s);
		n.pending[w] = vm_state_get_u32(s);
		n.claimed[w] = vm_state_get_u32(s);
	}
	for (unsigned c = 0; c < 2 * nharts; c++) {
		for (unsigned w = 0; w < PLIC_WORDS; w++)
			n.enable[c][w] = vm_state_get_u32(s);
		n.threshold[c] = vm_state_get_u32(s) & PLIC_PRIORITY_MASK;
		n.output[c] = vm_state_get_u8(s) ? 1 : 0;
	}
	int r = vm_state_check_end(s, "plic", err);
	if (r < 0)
		return r;
	for (unsigned w = 0; w < PLIC_WORDS; w++)
		if (n.pending[w] & n.claimed[w])
			return vs_errf(err, EINVAL, "plic: a source is both pending and claimed");
	if (!apply)
		return 0;
	*plic = n;
	plic_update(plic);
	return 0;
}
