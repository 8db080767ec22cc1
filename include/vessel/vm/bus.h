/*
 * bus.h - the guest physical address space of one virtual machine.
 *
 * A bus holds RAM-like regions (guest RAM, the reset ROM: host memory the CPU
 * may map straight into its software TLB) and MMIO regions (device models
 * reached through read/write callbacks).  Regions never overlap.
 *
 * Device models that DMA into guest memory (virtio) must go through
 * vm_bus_ram_ptr()/vm_bus_dma_*: every guest-supplied address and length is
 * checked to lie entirely inside one RAM region, and writes are reported to
 * the CPU (on_dma_write) so it can drop decoded blocks of overwritten code.
 */
#ifndef VESSEL_VM_BUS_H
#define VESSEL_VM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"

#define VM_BUS_MAX_RAM	4
#define VM_BUS_MAX_MMIO 32

/*
 * MMIO callbacks.  offset is relative to the region base; size is 1, 2, 4 or
 * 8.  Return 0, or -1 to make the access fault (the CPU raises an access
 * fault exception).  Unaligned or odd-sized accesses may be refused.
 */
struct vm_mmio_ops {
	int (*read)(void *opaque, uint64_t offset, unsigned size, uint64_t *value);
	int (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t value);
};

struct vm_mmio_region {
	uint64_t base, size;
	const struct vm_mmio_ops *ops;
	void *opaque;
	const char *name;
};

struct vm_ram_region {
	uint64_t base, size;
	uint8_t *host; /* size bytes, owned by whoever added the region */
	bool readonly; /* guest stores fault (ROM) */
	const char *name;
};

struct vm_bus {
	struct vm_ram_region ram[VM_BUS_MAX_RAM];
	unsigned nram;
	struct vm_mmio_region mmio[VM_BUS_MAX_MMIO];
	unsigned nmmio;
	/* Called after a device wrote guest memory (set by the CPU). */
	void (*on_dma_write)(void *opaque, uint64_t gpa, uint64_t len);
	void *dma_opaque;
};

void vm_bus_init(struct vm_bus *bus);

/* Add a region; fails with -EINVAL on overlap, zero size or a full table. */
int vm_bus_add_ram(struct vm_bus *bus, uint64_t base, uint64_t size, uint8_t *host, bool readonly,
		   const char *name, struct vs_err *err);
int vm_bus_add_mmio(struct vm_bus *bus, uint64_t base, uint64_t size, const struct vm_mmio_ops *ops,
		    void *opaque, const char *name, struct vs_err *err);

/* The RAM region containing [gpa, gpa+len), or NULL. */
const struct vm_ram_region *vm_bus_find_ram(const struct vm_bus *bus, uint64_t gpa, uint64_t len);
/* The MMIO region containing gpa, or NULL. */
const struct vm_mmio_region *vm_bus_find_mmio(const struct vm_bus *bus, uint64_t gpa);

/*
 * Host pointer for guest RAM [gpa, gpa+len) when it lies entirely inside one
 * RAM region, else NULL.  len 0 is allowed (checks gpa only).  A write
 * through the pointer must be followed by vm_bus_note_write().
 */
void *vm_bus_ram_ptr(const struct vm_bus *bus, uint64_t gpa, uint64_t len);
void vm_bus_note_write(const struct vm_bus *bus, uint64_t gpa, uint64_t len);

/* Checked copies between guest RAM and host buffers: 0 or -EFAULT. */
int vm_bus_dma_read(const struct vm_bus *bus, uint64_t gpa, void *buf, uint64_t len);
int vm_bus_dma_write(const struct vm_bus *bus, uint64_t gpa, const void *buf, uint64_t len);

/* Physical access for the CPU slow path and loaders: RAM or MMIO. 0 or -1. */
int vm_bus_read(const struct vm_bus *bus, uint64_t gpa, unsigned size, uint64_t *value);
int vm_bus_write(const struct vm_bus *bus, uint64_t gpa, unsigned size, uint64_t value);

/*
 * An interrupt line from a device to an interrupt controller (the PLIC).
 * Devices hold one and call vm_irq_set(line, level); unconnected lines are
 * ignored.
 */
struct vm_irq_line {
	void (*set)(void *opaque, unsigned irq, int level);
	void *opaque;
	unsigned irq;
};

static inline void vm_irq_set(const struct vm_irq_line *line, int level)
{
	if (line && line->set)
		line->set(line->opaque, line->irq, level);
}

#endif
