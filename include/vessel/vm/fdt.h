/*
 * fdt.h - the flattened device tree of the `virt` board, generated with
 * libfdt from the machine's configuration: it lists exactly the devices
 * present, at the addresses and interrupts QEMU's riscv64 virt board uses,
 * so OpenSBI's generic platform and Linux find them the same way.
 */
#ifndef VESSEL_VM_FDT_H
#define VESSEL_VM_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct virt_fdt_params {
	uint64_t ram_base, ram_size;
	unsigned ncpus;
	const char *bootargs;		   /* NULL: no bootargs */
	uint64_t initrd_start, initrd_end; /* both 0: no initrd */
	uint8_t virtio_slots;		   /* bit i: a device at VIRTIO_MMIO_BASE + i * 0x1000 */
	bool rtc;			   /* goldfish RTC at 0x101000 */
	const char *mmu_type;		   /* "riscv,sv39" / "riscv,sv48"; NULL: sv39 */
	const uint8_t *rng_seed;	   /* /chosen/rng-seed, may be NULL */
	size_t rng_seed_len;
};

/*
 * Build the tree into a malloc'd buffer of *size bytes (fdt_totalsize()).
 * 0 or -errno with err filled.
 */
int virt_fdt_build(const struct virt_fdt_params *p, void **blob, size_t *size, struct vs_err *err);

#endif
