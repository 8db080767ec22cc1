/*
 * image.h - a disk image, whatever its format: the API the VMM (virtio-blk)
 * and vessel-img use.  Formats (raw, qcow2) sit behind one const table of
 * operations in lib/disk; callers never see the format's internals.
 *
 * I/O is at byte granularity: offsets and lengths need no alignment.  Reads
 * past the end of the virtual disk fail with -EINVAL; reads of unallocated
 * ranges return zeros (or the backing file's data).  A flush makes every
 * completed write durable (crash consistency: see lib/disk/qcow2*.c).
 */
#ifndef VESSEL_DISK_IMAGE_H
#define VESSEL_DISK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vessel/core/err.h"

struct disk_image;

enum disk_open_flags {
	DISK_OPEN_RDONLY = 1 << 0,
	DISK_OPEN_NO_BACKING = 1 << 1, /* do not open the backing chain */
};

struct disk_open_options {
	unsigned flags;		 /* enum disk_open_flags */
	const char *format;	 /* "qcow2", "raw" or NULL to probe */
	uint64_t l2_cache_bytes; /* 0 = default */
};

/* Open an image; NULL and err filled on failure (corrupt images included). */
struct disk_image *disk_image_open(const char *path, const struct disk_open_options *opts,
				   struct vs_err *err);
void disk_image_close(struct disk_image *img);

uint64_t disk_image_size(const struct disk_image *img); /* virtual size, bytes */
bool disk_image_readonly(const struct disk_image *img);
const char *disk_image_format(const struct disk_image *img);

int disk_image_preadv(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		      struct vs_err *err);
int disk_image_pwritev(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		       struct vs_err *err);
int disk_image_pread(struct disk_image *img, void *buf, uint64_t len, uint64_t offset,
		     struct vs_err *err);
int disk_image_pwrite(struct disk_image *img, const void *buf, uint64_t len, uint64_t offset,
		      struct vs_err *err);
int disk_image_flush(struct disk_image *img, struct vs_err *err);
/* Deallocate a range (reads return zeros afterwards, or backing data for
 * images without zero-cluster support); may round to whole clusters. */
int disk_image_discard(struct disk_image *img, uint64_t offset, uint64_t len, struct vs_err *err);
/* Make a range read as zeros, deallocating where the format allows. */
int disk_image_write_zeroes(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct vs_err *err);

#endif
