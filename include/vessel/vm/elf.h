/*
 * elf.h - loading ELF64 RISC-V executables into guest RAM at their physical
 * addresses (bare-metal programs, firmware), and symbol lookup.
 *
 * The image is hostile input: every header, segment and table is checked
 * against the file size and the bus before anything is written; a refused
 * image leaves guest RAM untouched and err names the reason.
 */
#ifndef VESSEL_VM_ELF_H
#define VESSEL_VM_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

struct vm_elf_info {
	uint64_t entry;
	uint64_t lowest, highest; /* physical range covered by PT_LOAD segments [lowest, highest) */
};

/* Check an image (headers, segment bounds) without loading it. */
int vm_elf_check(const struct vm_bus *bus, const void *data, size_t size, struct vs_err *err);

/* Check, then copy every PT_LOAD segment to p_paddr (zero-filling bss). */
int vm_elf_load(struct vm_bus *bus, const void *data, size_t size, struct vm_elf_info *info,
		struct vs_err *err);

/*
 * Value of symbol `name` from the image's .symtab: 0, -ENOENT (no such
 * symbol or no symbol table) or -EINVAL (malformed tables, err filled).
 */
int vm_elf_symbol(const void *data, size_t size, const char *name, uint64_t *value,
		  struct vs_err *err);

#endif
