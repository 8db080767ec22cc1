/*
 * loader.c - raw boot images into guest RAM (see include/vessel/vm/loader.h).
 * Files are read straight into the host mapping of guest RAM after the
 * destination range was checked against the bus; a file larger than its
 * slot is refused before anything is written.
 * RISC-V Linux Image header (Documentation/riscv/boot-image-header.rst):
 *   0x08 le64 text_offset, 0x10 le64 image_size, 0x30 "RISCV\0\0\0" magic2
 *   (0x38 "RSC\x05" in newer kernels).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/vm/loader.h"

int vm_load_fd(const struct vm_bus *bus, int fd, const char *path, uint64_t gpa, uint64_t limit,
	       uint64_t *size, struct vs_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vs_syserrf(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "%s: not a regular file", path);
	uint64_t len = (uint64_t)st.st_size;
	if (gpa > limit || len > limit - gpa)
		return vs_errf(err, EFBIG,
			       "%s: %llu bytes do not fit at 0x%llx (room for %llu): add --mem",
			       path, (unsigned long long)len, (unsigned long long)gpa,
			       (unsigned long long)(limit > gpa ? limit - gpa : 0));
	void *dst = vm_bus_ram_ptr(bus, gpa, len);
	if (!dst)
		return vs_errf(err, EFAULT, "%s: 0x%llx+%llu is not guest RAM", path,
			       (unsigned long long)gpa, (unsigned long long)len);
	int r = vs_pread_full(fd, dst, len, 0);
	if (r < 0)
		return vs_syserrf(err, -r, "read %s", path);
	vm_bus_note_write(bus, gpa, len);
	*size = len;
	return 0;
}

int vm_load_file(const struct vm_bus *bus, const char *path, uint64_t gpa, uint64_t limit,
		 uint64_t *size, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	return vm_load_fd(bus, fd, path, gpa, limit, size, err);
}

uint64_t vm_linux_image_size(const struct vm_bus *bus, uint64_t gpa, uint64_t file_size)
{
	uint8_t hdr[0x40];
	uint64_t image_size;
	if (file_size < sizeof(hdr) || vm_bus_dma_read(bus, gpa, hdr, sizeof(hdr)) < 0 ||
	    memcmp(hdr + 0x30, "RISCV\0\0\0", 8) != 0)
		return file_size;
	memcpy(&image_size, hdr + 0x10, 8);
	return image_size > file_size ? image_size : file_size;
}

int vm_fd_is_elf(int fd, const char *path, struct vs_err *err)
{
	uint8_t magic[4];
	ssize_t n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0)
		return vs_syserrf(err, errno, "read %s", path);
	return n == 4 && memcmp(magic,
				"\x7f"
				"ELF",
				4) == 0;
}

int vm_file_is_elf(const char *path, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	return vm_fd_is_elf(fd, path, err);
}
