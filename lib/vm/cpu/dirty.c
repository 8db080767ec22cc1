/*
 * dirty.c - dirty page tracking of guest RAM (include/vessel/vm/cpu.h).
 *
 * Mechanism: while tracking, a page of RAM region 0 whose bit in the dirty
 * bitmap is clear never gets a write entry in a soft TLB (mmu.c tlb_fill,
 * rv_dirty_clean), so the first store to it - interpreted or from JIT
 * code, which uses the same TLBs - takes the slow path, which calls
 * rv_phys_note_store(); so do device DMA (vm_bus_note_write) and page-table
 * A/D updates.  There the bit is set, and later stores run at full speed.
 * Starting and clearing flush every TLB so no write entry made before
 * survives.  The bitmap alone is the state: starting or clearing costs a
 * bitmap clear (8 KiB for 256 MiB), not a pass over the per-page array,
 * which a restore (that tracks at once, for diffs over it) would otherwise
 * make resident (24 bytes a page: 1.5 MiB for 256 MiB) before the guest
 * ran an instruction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

static void dirty_arm(struct rv_core *core)
{
	for (unsigned k = 0; k < core->nharts; k++)
		rv_tlb_flush(core->harts[k]);
}

int rv_core_dirty_track(struct rv_core *core, bool on, struct vs_err *err)
{
	if (core->bus->nram == 0)
		return vs_errf(err, EINVAL, "dirty tracking: no RAM");
	const struct vm_ram_region *r = &core->bus->ram[0];
	uint64_t n = r->size >> RV_PAGE_SHIFT;
	if (!on) {
		free(core->dirty);
		core->dirty = NULL;
		return 0;
	}
	if (core->dirty)
		return 0;
	core->dirty = calloc((n + 63) / 64 + 1, 8);
	if (!core->dirty)
		return vs_errf(err, ENOMEM, "dirty tracking: out of memory");
	dirty_arm(core);
	return 0;
}

const uint64_t *rv_core_dirty_bitmap(const struct rv_core *core)
{
	return core->dirty;
}

void rv_core_dirty_clear(struct rv_core *core)
{
	if (!core->dirty)
		return;
	uint64_t n = core->bus->ram[0].size >> RV_PAGE_SHIFT;
	memset(core->dirty, 0, ((n + 63) / 64) * 8);
	dirty_arm(core);
}

void rv_dirty_note(struct rv_core *core, uint64_t page)
{
	const struct vm_ram_region *r = &core->bus->ram[0];
	if (!core->dirty || page < r->base || page - r->base >= r->size)
		return;
	uint64_t i = (page - r->base) >> RV_PAGE_SHIFT;
	core->dirty[i / 64] |= 1ULL << (i % 64);
}
