/*
 * loader.h - putting boot images into guest RAM: raw files at a fixed
 * address (firmware, kernel Image, initramfs, device tree), with every
 * range checked against the bus so a file never lands outside RAM.
 */
#ifndef VESSEL_VM_LOADER_H
#define VESSEL_VM_LOADER_H

#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

/*
 * Read file path into guest RAM at gpa; it must fit in [gpa, limit).
 * *size receives the file's size.  0 or -errno (-EFBIG when too large).
 */
int vm_load_file(const struct vm_bus *bus, const char *path, uint64_t gpa, uint64_t limit,
		 uint64_t *size, struct vs_err *err);
/* The same from an open file (path names it in errors): a reset under
 * --sandbox reloads the images from descriptors opened before the drop. */
int vm_load_fd(const struct vm_bus *bus, int fd, const char *path, uint64_t gpa, uint64_t limit,
	       uint64_t *size, struct vs_err *err);

/*
 * The size a RISC-V Linux Image occupies once running (header field
 * image_size, "RISCV\0\0\0" magic at offset 0x30), or file_size for other
 * images or when the header says less.
 */
uint64_t vm_linux_image_size(const struct vm_bus *bus, uint64_t gpa, uint64_t file_size);

/* True when the file starts with the ELF magic. */
int vm_file_is_elf(const char *path, struct vs_err *err);
int vm_fd_is_elf(int fd, const char *path, struct vs_err *err);

#endif
