/*
 * raw.c - the raw format: the file is the disk, byte for byte.
 *
 * Reads past the end of a short file return zeros; discard and
 * write-zeroes punch holes (FALLOC_FL_PUNCH_HOLE) where the file system
 * allows and write zeros otherwise.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "disk_internal.h"

static bool raw_probe(const uint8_t *buf, size_t len)
{
	return true;
}

static int raw_open(struct disk_image *img, const struct disk_open_options *opts,
		    struct vs_err *err)
{
	struct stat st;
	if (fstat(img->fd, &st) < 0)
		return vs_syserrf(err, errno, "stat");
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(img->fd, BLKGETSIZE64, &sz) < 0)
			return vs_syserrf(err, errno, "BLKGETSIZE64");
		img->size = sz;
	} else {
		img->size = (uint64_t)st.st_size;
	}
	img->priv = img; /* no private state */
	return 0;
}

static int raw_create(const char *path, const struct disk_create_options *opts, struct vs_err *err)
{
	if (opts->backing_file)
		return vs_errf(err, EINVAL, "raw images cannot have a backing file");
	vs_cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", path);
	if (ftruncate(fd, (off_t)opts->size) < 0)
		return vs_syserrf(err, errno, "truncate %s", path);
	if (opts->prealloc == DISK_PREALLOC_FALLOC && opts->size &&
	    fallocate(fd, 0, 0, (off_t)opts->size) < 0)
		return vs_syserrf(err, errno, "fallocate %s", path);
	if (fsync(fd) < 0)
		return vs_syserrf(err, errno, "fsync %s", path);
	return 0;
}

/* Copy the caller's iovec (the full-transfer loops advance it) and do the I/O. */
static int raw_transfer(struct disk_image *img, const struct iovec *iov, int iovcnt,
			uint64_t offset, bool write, struct vs_err *err)
{
	struct iovec local[64];
	struct iovec *v = local;
	vs_cleanup_free struct iovec *heap = NULL;
	if (iovcnt > 64) {
		heap = malloc(sizeof(*heap) * (size_t)iovcnt);
		if (!heap)
			return vs_errf(err, ENOMEM, "out of memory");
		v = heap;
	}
	memcpy(v, iov, sizeof(*v) * (size_t)iovcnt);
	int r = write ? disk_pwritev_full(img->fd, v, iovcnt, offset)
		      : disk_preadv_full(img->fd, v, iovcnt, offset);
	if (r < 0)
		return vs_syserrf(err, -r, "%s %s at %llu", write ? "write" : "read", img->path,
				  (unsigned long long)offset);
	return 0;
}

static int raw_preadv(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		      uint64_t len, struct vs_err *err)
{
	return raw_transfer(img, iov, iovcnt, offset, false, err);
}

static int raw_pwritev(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		       uint64_t len, struct vs_err *err)
{
	return raw_transfer(img, iov, iovcnt, offset, true, err);
}

static int raw_flush(struct disk_image *img, struct vs_err *err)
{
	if (fdatasync(img->fd) < 0)
		return vs_syserrf(err, errno, "fdatasync %s", img->path);
	return 0;
}

/* What was written reaches the disk before the image is closed, as with
 * qcow2 (whose close writes its caches and syncs) and QEMU's bdrv_close. */
static void raw_close(struct disk_image *img)
{
	if (!img->readonly && img->written)
		(void)fdatasync(img->fd);
}

static int raw_zero_range(struct disk_image *img, uint64_t offset, uint64_t len, bool discard,
			  bool unmap, struct vs_err *err)
{
	if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int r = vs_pwrite_full(img->fd, zeros, n, (off_t)offset);
		if (r < 0)
			return vs_syserrf(err, -r, "write zeros to %s", img->path);
		offset += n;
		len -= n;
	}
	return 0;
}

static int raw_block_status(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct disk_extent *ext, struct vs_err *err)
{
	ext->start = offset;
	ext->length = len;
	ext->host_offset = offset;
	ext->flags = DISK_EXTENT_DATA | DISK_EXTENT_OFFSET;
	off_t data = lseek(img->fd, (off_t)offset, SEEK_DATA);
	if (data < 0 && errno == ENXIO) { /* a hole up to the end of file */
		ext->flags = DISK_EXTENT_ZERO | DISK_EXTENT_OFFSET;
		return 0;
	}
	if (data < 0)
		return 0;
	if ((uint64_t)data > offset) {
		ext->flags = DISK_EXTENT_ZERO | DISK_EXTENT_OFFSET; /* a hole */
		if ((uint64_t)data - offset < len)
			ext->length = (uint64_t)data - offset;
		return 0;
	}
	off_t hole = lseek(img->fd, (off_t)offset, SEEK_HOLE);
	if (hole > (off_t)offset && (uint64_t)hole - offset < len)
		ext->length = (uint64_t)hole - offset;
	return 0;
}

static int raw_resize(struct disk_image *img, uint64_t new_size, bool shrink, struct vs_err *err)
{
	if (ftruncate(img->fd, (off_t)new_size) < 0)
		return vs_syserrf(err, errno, "truncate %s", img->path);
	img->size = new_size;
	return 0;
}

static uint32_t raw_cluster_size(struct disk_image *img)
{
	return 65536;
}

const struct disk_format disk_format_raw = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.create = raw_create,
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.close = raw_close,
	.zero_range = raw_zero_range,
	.block_status = raw_block_status,
	.resize = raw_resize,
	.cluster_size = raw_cluster_size,
};
