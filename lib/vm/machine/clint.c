/*
 * clint.c - SiFive CLINT: msip, mtimecmp and mtime (the layout QEMU's virt
 * board and OpenSBI's aclint driver use; privileged spec "Machine Timer
 * Registers (mtime and mtimecmp)").
 *
 * Invariants: MTIP of hart h is raised exactly while mtime >= mtimecmp[h]
 * (re-evaluated on every mtimecmp write and by the run loop between slices);
 * MSIP of hart h follows bit 0 of msip[h].  Accesses may be 4 or 8 bytes
 * wide (mtimecmp/mtime halves can be written separately on RV32-style code).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/vm/clint.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/machine.h"
#include "vessel/vm/state.h"

struct vm_clint {
	struct vm_machine *m;
	unsigned nharts;
	uint32_t msip[VM_MAX_HARTS];
	uint64_t mtimecmp[VM_MAX_HARTS];
};

static int clint_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct vm_clint *c = opaque;
	uint64_t v;
	if (size != 4 && size != 8)
		return -1;
	if (off < 0x4000) {
		unsigned h = (unsigned)(off / 4);
		v = h < c->nharts ? c->msip[h] : 0;
		*val = size == 4 ? (uint32_t)v : v;
		return 0;
	}
	if (off >= 0x4000 && off < 0x4000 + 8ULL * VM_MAX_HARTS) {
		unsigned h = (unsigned)((off - 0x4000) / 8);
		v = h < c->nharts ? c->mtimecmp[h] : 0;
	} else if (off >= 0xbff8 && off < 0xc000) {
		v = vm_machine_mtime(c->m);
	} else {
		*val = 0;
		return 0;
	}
	if (off & 4)
		v >>= 32;
	*val = size == 4 ? (uint32_t)v : v;
	return 0;
}

static int clint_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct vm_clint *c = opaque;
	if (size != 4 && size != 8)
		return -1;
	if (off < 0x4000) {
		unsigned h = (unsigned)(off / 4);
		if (h < c->nharts && !(off & 3)) {
			c->msip[h] = (uint32_t)val & 1;
			vm_machine_set_hart_irq(c->m, h, MIP_MSIP, (int)(val & 1));
		}
		return 0;
	}
	if (off >= 0x4000 && off < 0x4000 + 8ULL * VM_MAX_HARTS) {
		unsigned h = (unsigned)((off - 0x4000) / 8);
		if (h >= c->nharts)
			return 0;
		uint64_t cur = c->mtimecmp[h];
		if (size == 8)
			cur = val;
		else if (off & 4)
			cur = (cur & 0xffffffffULL) | ((uint64_t)(uint32_t)val << 32);
		else
			cur = (cur & ~0xffffffffULL) | (uint32_t)val;
		c->mtimecmp[h] = cur;
		vm_machine_set_hart_irq(c->m, h, MIP_MTIP, vm_machine_mtime(c->m) >= cur);
		return 0;
	}
	return 0; /* mtime is read-only here */
}

static const struct vm_mmio_ops clint_ops = { clint_read, clint_write };

struct vm_clint *vm_clint_new(struct vm_machine *m, uint64_t base, struct vs_err *err)
{
	struct vm_clint *c = calloc(1, sizeof(*c));
	if (!c) {
		vs_errf(err, ENOMEM, "clint: out of memory");
		return NULL;
	}
	c->m = m;
	c->nharts = vm_machine_ncpus(m);
	for (unsigned h = 0; h < VM_MAX_HARTS; h++)
		c->mtimecmp[h] = UINT64_MAX;
	if (vm_bus_add_mmio(vm_machine_bus(m), base, VM_CLINT_SIZE, &clint_ops, c, "clint", err) <
	    0) {
		free(c);
		return NULL;
	}
	return c;
}

void vm_clint_free(struct vm_clint *c)
{
	free(c);
}

void vm_clint_reset(struct vm_clint *c)
{
	for (unsigned h = 0; h < VM_MAX_HARTS; h++) {
		c->mtimecmp[h] = UINT64_MAX;
		c->msip[h] = 0;
		if (h < c->nharts) {
			vm_machine_set_hart_irq(c->m, h, MIP_MSIP, 0);
			vm_machine_set_hart_irq(c->m, h, MIP_MTIP, 0);
		}
	}
}

void vm_clint_update(struct vm_clint *c, uint64_t mtime)
{
	for (unsigned h = 0; h < c->nharts; h++) {
		struct rv_hart *hart = vm_machine_hart(c->m, h);
		bool want = mtime >= c->mtimecmp[h];
		bool have = (hart->mip_ext & MIP_MTIP) != 0;
		if (want != have)
			vm_machine_set_hart_irq(c->m, h, MIP_MTIP, want);
	}
}

uint64_t vm_clint_next_deadline(const struct vm_clint *c)
{
	uint64_t d = UINT64_MAX;
	for (unsigned h = 0; h < c->nharts; h++)
		if (c->mtimecmp[h] < d)
			d = c->mtimecmp[h];
	return d;
}

void vm_clint_save(const struct vm_clint *c, struct vm_state *s)
{
	vm_state_put_u32(s, c->nharts);
	for (unsigned h = 0; h < c->nharts; h++) {
		vm_state_put_u32(s, c->msip[h]);
		vm_state_put_u64(s, c->mtimecmp[h]);
	}
}

int vm_clint_load(struct vm_clint *c, struct vm_state *s, bool apply, struct vs_err *err)
{
	uint32_t n = vm_state_get_u32(s);
	if (n != c->nharts)
		return vs_errf(err, EINVAL, "clint: snapshot has %u harts, machine %u", n,
			       c->nharts);
	uint32_t msip[VM_MAX_HARTS];
	uint64_t cmp[VM_MAX_HARTS];
	for (unsigned h = 0; h < n; h++) {
		msip[h] = vm_state_get_u32(s) & 1;
		cmp[h] = vm_state_get_u64(s);
	}
	int r = vm_state_check_end(s, "clint", err);
	if (r < 0 || !apply)
		return r;
	for (unsigned h = 0; h < n; h++) {
		c->msip[h] = msip[h];
		c->mtimecmp[h] = cmp[h];
		vm_machine_set_hart_irq(c->m, h, MIP_MSIP, (int)msip[h]);
	}
	vm_clint_update(c, vm_machine_mtime(c->m));
	return 0;
}
