/*
 * disk_internal.h - what lib/disk shares between image.c and the formats:
 * the format operations table (`disk_formats[]`) and struct disk_image.
 *
 * Invariants: a disk_image owns its fd, its format state (priv) and its
 * backing image (opened read-only).  Format read/write callbacks receive
 * requests already checked against the virtual size.
 */
#ifndef VESSEL_DISK_INTERNAL_H
#define VESSEL_DISK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"

struct disk_format {
	const char *name;
	/* Does this header belong to the format? (buf holds up to 512 bytes) */
	bool (*probe)(const uint8_t *buf, size_t len);
	int (*open)(struct disk_image *img, const struct disk_open_options *opts,
		    struct vs_err *err);
	void (*close)(struct disk_image *img);
	int (*create)(const char *path, const struct disk_create_options *opts, struct vs_err *err);
	int (*preadv)(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		      uint64_t len, struct vs_err *err);
	int (*pwritev)(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		       uint64_t len, struct vs_err *err);
	int (*flush)(struct disk_image *img, struct vs_err *err);
	/* unmap: false = keep reading zeros (discard/write-zeroes semantics),
	 * true = make unallocated so backing data shows (commit) */
	int (*zero_range)(struct disk_image *img, uint64_t offset, uint64_t len, bool discard,
			  bool unmap, struct vs_err *err);
	/* Status of this layer only; depth 0 and flags; DATA unset = not
	 * allocated here (caller follows the backing chain). */
	int (*block_status)(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct disk_extent *ext, struct vs_err *err);
	int (*info)(struct disk_image *img, struct disk_info *info, struct vs_err *err);
	int (*check)(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		     struct vs_err *err);
	int (*resize)(struct disk_image *img, uint64_t new_size, bool shrink, struct vs_err *err);
	int (*snapshot_list)(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
			     struct vs_err *err);
	int (*snapshot_create)(struct disk_image *img, const char *name, struct vs_err *err);
	int (*snapshot_apply)(struct disk_image *img, const char *name, struct vs_err *err);
	int (*snapshot_delete)(struct disk_image *img, const char *name, struct vs_err *err);
	int (*set_backing)(struct disk_image *img, const char *file, const char *format,
			   struct vs_err *err);
	/* Write one whole cluster compressed (convert -c); -ENOTSUP if not. */
	int (*write_compressed)(struct disk_image *img, const void *buf, uint64_t offset,
				struct vs_err *err);
	uint32_t (*cluster_size)(struct disk_image *img);
};

extern const struct disk_format *const disk_formats[];

struct disk_image {
	const struct disk_format *fmt;
	void *priv;
	int fd;
	char *path;
	uint64_t size;
	bool readonly;
	unsigned depth;			/* position in the backing chain, 0 = top */
	const struct disk_image *child; /* the image this one backs, while opening */
	struct disk_image *backing;
	char *backing_file;   /* as recorded in the image */
	char *backing_format; /* as recorded, may be NULL */
	bool written;	      /* written through the API since the last flush */
};

/* Formats implemented in raw.c and qcow2*.c. */
extern const struct disk_format disk_format_raw;
extern const struct disk_format disk_format_qcow2;

const struct disk_format *disk_format_by_name(const char *name);

/* Open the backing chain of img (img->backing_file set): resolves the name
 * relative to img, refuses loops and chains deeper than DISK_MAX_CHAIN. */
#define DISK_MAX_CHAIN 64
int disk_image_open_backing(struct disk_image *img, const struct disk_open_options *opts,
			    struct vs_err *err);

/* Read [offset, offset+len) of the backing chain into buf; zeros past the
 * backing file's end or without backing. */
int disk_backing_read(struct disk_image *img, void *buf, uint64_t len, uint64_t offset,
		      struct vs_err *err);

/* iovec helpers */
void disk_iov_to_buf(const struct iovec *iov, int iovcnt, uint64_t skip, void *buf, uint64_t len);
void disk_iov_from_buf(const struct iovec *iov, int iovcnt, uint64_t skip, const void *buf,
		       uint64_t len);
void disk_iov_memset(const struct iovec *iov, int iovcnt, uint64_t skip, int c, uint64_t len);
/* Describe [skip, skip+len) of iov in out (at most max entries); returns the
 * number of entries or -1 if more than max are needed. */
int disk_iov_slice(const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len,
		   struct iovec *out, int max);
/* preadv/pwritev of a full range, looping on short transfers; a read past
 * the end of file fills zeros. */
int disk_preadv_full(int fd, struct iovec *iov, int iovcnt, uint64_t off);
int disk_pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off);
bool disk_buf_is_zero(const void *buf, size_t len);

#endif
