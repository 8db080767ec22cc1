/*
 * bus.c - guest physical address space: region tables and checked access.
 * See include/vessel/vm/bus.h for the contract.
 */
#include <errno.h>
#include <string.h>

#include "vessel/vm/bus.h"

void vm_bus_init(struct vm_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int bus_check_free(const struct vm_bus *bus, uint64_t base, uint64_t size, const char *name,
			  struct vs_err *err)
{
	if (size == 0 || base + size < base)
		return vs_errf(err, EINVAL, "bus region %s: bad range 0x%llx+0x%llx", name,
			       (unsigned long long)base, (unsigned long long)size);
	for (unsigned i = 0; i < bus->nram; i++)
		if (ranges_overlap(base, size, bus->ram[i].base, bus->ram[i].size))
			return vs_errf(err, EINVAL, "bus region %s overlaps %s", name,
				       bus->ram[i].name);
	for (unsigned i = 0; i < bus->nmmio; i++)
		if (ranges_overlap(base, size, bus->mmio[i].base, bus->mmio[i].size))
			return vs_errf(err, EINVAL, "bus region %s overlaps %s", name,
				       bus->mmio[i].name);
	return 0;
}

int vm_bus_add_ram(struct vm_bus *bus, uint64_t base, uint64_t size, uint8_t *host, bool readonly,
		   const char *name, struct vs_err *err)
{
	int r = bus_check_free(bus, base, size, name, err);
	if (r < 0)
		return r;
	if (bus->nram >= VM_BUS_MAX_RAM)
		return vs_errf(err, ENOSPC, "bus region %s: too many RAM regions", name);
	bus->ram[bus->nram++] = (struct vm_ram_region){ base, size, host, readonly, name };
	return 0;
}

int vm_bus_add_mmio(struct vm_bus *bus, uint64_t base, uint64_t size, const struct vm_mmio_ops *ops,
		    void *opaque, const char *name, struct vs_err *err)
{
	int r = bus_check_free(bus, base, size, name, err);
	if (r < 0)
		return r;
	if (bus->nmmio >= VM_BUS_MAX_MMIO)
		return vs_errf(err, ENOSPC, "bus region %s: too many MMIO regions", name);
	bus->mmio[bus->nmmio++] = (struct vm_mmio_region){ base, size, ops, opaque, name };
	return 0;
}

const struct vm_ram_region *vm_bus_find_ram(const struct vm_bus *bus, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < bus->nram; i++) {
		const struct vm_ram_region *r = &bus->ram[i];
		if (gpa >= r->base && gpa - r->base <= r->size &&
		    len <= r->size - (gpa - r->base) && (len > 0 || gpa - r->base < r->size))
			return r;
	}
	return NULL;
}

const struct vm_mmio_region *vm_bus_find_mmio(const struct vm_bus *bus, uint64_t gpa)
{
	for (unsigned i = 0; i < bus->nmmio; i++) {
		const struct vm_mmio_region *r = &bus->mmio[i];
		if (gpa >= r->base && gpa - r->base < r->size)
			return r;
	}
	return NULL;
}

void *vm_bus_ram_ptr(const struct vm_bus *bus, uint64_t gpa, uint64_t len)
{
	const struct vm_ram_region *r = vm_bus_find_ram(bus, gpa, len);
	return r ? r->host + (gpa - r->base) : NULL;
}

void vm_bus_note_write(const struct vm_bus *bus, uint64_t gpa, uint64_t len)
{
	if (bus->on_dma_write && len)
		bus->on_dma_write(bus->dma_opaque, gpa, len);
}

int vm_bus_dma_read(const struct vm_bus *bus, uint64_t gpa, void *buf, uint64_t len)
{
	const void *p = vm_bus_ram_ptr(bus, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int vm_bus_dma_write(const struct vm_bus *bus, uint64_t gpa, const void *buf, uint64_t len)
{
	const struct vm_ram_region *r = vm_bus_find_ram(bus, gpa, len);
	if (!r || r->readonly)
		return -EFAULT;
	memcpy(r->host + (gpa - r->base), buf, len);
	vm_bus_note_write(bus, gpa, len);
	return 0;
}

int vm_bus_read(const struct vm_bus *bus, uint64_t gpa, unsigned size, uint64_t *value)
{
	const struct vm_ram_region *r = vm_bus_find_ram(bus, gpa, size);
	if (r) {
		uint64_t v = 0;
		memcpy(&v, r->host + (gpa - r->base), size); /* little-endian host */
		*value = v;
		return 0;
	}
	const struct vm_mmio_region *m = vm_bus_find_mmio(bus, gpa);
	if (!m || gpa - m->base + size > m->size || !m->ops->read)
		return -1;
	return m->ops->read(m->opaque, gpa - m->base, size, value);
}

int vm_bus_write(const struct vm_bus *bus, uint64_t gpa, unsigned size, uint64_t value)
{
	const struct vm_ram_region *r = vm_bus_find_ram(bus, gpa, size);
	if (r) {
		if (r->readonly)
			return -1;
		memcpy(r->host + (gpa - r->base), &value, size);
		return 0;
	}
	const struct vm_mmio_region *m = vm_bus_find_mmio(bus, gpa);
	if (!m || gpa - m->base + size > m->size || !m->ops->write)
		return -1;
	return m->ops->write(m->opaque, gpa - m->base, size, value);
}
