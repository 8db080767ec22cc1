/*
 * image.c - the format-independent disk image: probing, opening (with the
 * backing chain), request validation and dispatch to the format table
 * `disk_formats[]`.
 *
 * Invariants: every request reaching a format lies within the virtual size;
 * a read-only image never reaches a format's write callbacks; backing images
 * are opened read-only, at most DISK_MAX_CHAIN deep, and never twice in one
 * chain (loops are refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "disk_internal.h"
#include "qcow2.h"

const struct disk_format *const disk_formats[] = {
	&disk_format_qcow2,
	&disk_format_raw, /* last: raw accepts anything */
	NULL,
};

const struct disk_format *disk_format_by_name(const char *name)
{
	for (unsigned i = 0; disk_formats[i]; i++)
		if (!strcmp(disk_formats[i]->name, name))
			return disk_formats[i];
	return NULL;
}

static struct disk_image *image_open_depth(const char *path, const struct disk_open_options *opts,
					   unsigned depth, const struct disk_image *child,
					   struct vs_err *err);

struct disk_image *disk_image_open(const char *path, const struct disk_open_options *opts,
				   struct vs_err *err)
{
	static const struct disk_open_options defaults = { 0 };
	return image_open_depth(path, opts ? opts : &defaults, 0, NULL, err);
}

static struct disk_image *image_open_depth(const char *path, const struct disk_open_options *opts,
					   unsigned depth, const struct disk_image *child,
					   struct vs_err *err)
{
	bool rdonly = opts->flags & DISK_OPEN_RDONLY;
	int fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		vs_syserrf(err, errno, "open %s", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		int e = errno;
		close(fd);
		if (e && e != ENOENT)
			vs_syserrf(err, e, "stat %s", path);
		else
			vs_errf(err, EINVAL, "%s: not a regular file or block device", path);
		return NULL;
	}
	const struct disk_format *fmt = NULL;
	if (opts->format) {
		fmt = disk_format_by_name(opts->format);
		if (!fmt) {
			close(fd);
			vs_errf(err, EINVAL, "unknown image format '%s'", opts->format);
			return NULL;
		}
	} else {
		uint8_t buf[512];
		ssize_t n = pread(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			vs_syserrf(err, errno, "read %s", path);
			close(fd);
			return NULL;
		}
		for (unsigned i = 0; disk_formats[i] && !fmt; i++)
			if (disk_formats[i]->probe(buf, (size_t)n))
				fmt = disk_formats[i];
	}
	struct disk_image *img = calloc(1, sizeof(*img));
	if (!img || !(img->path = strdup(path))) {
		free(img);
		close(fd);
		vs_errf(err, ENOMEM, "open %s: out of memory", path);
		return NULL;
	}
	img->fd = fd;
	img->fmt = fmt;
	img->readonly = rdonly;
	img->depth = depth;
	img->child = child;
	int r = fmt->open(img, opts, err);
	if (r == 0 && img->backing_file && !(opts->flags & DISK_OPEN_NO_BACKING))
		r = disk_image_open_backing(img, opts, err);
	img->child = NULL;
	if (r < 0) {
		if (depth == 0)
			vs_err_prefix(err, "%s", path);
		disk_image_close(img);
		return NULL;
	}
	return img;
}

void disk_image_close(struct disk_image *img)
{
	if (!img)
		return;
	if (img->priv && img->fmt->close)
		img->fmt->close(img);
	if (img->backing)
		disk_image_close(img->backing);
	if (img->fd >= 0)
		close(img->fd);
	free(img->backing_file);
	free(img->backing_format);
	free(img->path);
	free(img);
}

/* Resolve a backing file name relative to the directory of the image. */
static int backing_resolve(const struct disk_image *img, char *out, size_t len)
{
	const char *name = img->backing_file;
	if (name[0] == '/' || !strchr(img->path, '/')) {
		if ((size_t)snprintf(out, len, "%s", name) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	char dir[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s", img->path) >= sizeof(dir))
		return -ENAMETOOLONG;
	char *d = dirname(dir);
	if ((size_t)snprintf(out, len, "%s/%s", d, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int disk_image_open_backing(struct disk_image *img, const struct disk_open_options *opts,
			    struct vs_err *err)
{
	char path[PATH_MAX];
	if (backing_resolve(img, path, sizeof(path)) < 0)
		return vs_errf(err, ENAMETOOLONG, "backing file name too long");
	if (img->depth + 1 >= DISK_MAX_CHAIN)
		return vs_errf(err, ELOOP, "backing chain deeper than %d images", DISK_MAX_CHAIN);
	/* loop detection: compare the inode with every image above */
	struct stat st;
	if (stat(path, &st) < 0)
		return vs_syserrf(err, errno, "backing file %s", path);
	/* loop detection: the backing file must not be any image above it */
	for (const struct disk_image *a = img; a; a = a->child) {
		struct stat as;
		if (fstat(a->fd, &as) == 0 && as.st_dev == st.st_dev && as.st_ino == st.st_ino)
			return vs_errf(err, ELOOP, "backing file %s is %s", path,
				       a == img ? "the image itself"
						: "a loop in the backing chain");
	}
	struct disk_open_options bopts = *opts;
	bopts.flags |= DISK_OPEN_RDONLY;
	bopts.format = img->backing_format;
	if (bopts.format && !disk_format_by_name(bopts.format))
		return vs_errf(err, ENOTSUP, "backing format '%s' not supported", bopts.format);
	struct vs_err berr = VS_ERR_INIT;
	img->backing = image_open_depth(path, &bopts, img->depth + 1, img, &berr);
	if (!img->backing) {
		if (berr.code == ELOOP)
			return vs_errf(err, ELOOP, "%s", berr.msg);
		return vs_errf(err, berr.code, "backing file %s: %s", path, berr.msg);
	}
	return 0;
}

int disk_backing_read(struct disk_image *img, void *buf, uint64_t len, uint64_t offset,
		      struct vs_err *err)
{
	struct disk_image *b = img->backing;
	uint64_t avail = 0;
	if (b && offset < b->size)
		avail = b->size - offset < len ? b->size - offset : len;
	if (avail) {
		struct iovec iov = { buf, avail };
		int r = b->fmt->preadv(b, &iov, 1, offset, avail, err);
		if (r < 0)
			return r;
	}
	if (avail < len)
		memset((uint8_t *)buf + avail, 0, len - avail);
	return 0;
}

uint64_t disk_image_size(const struct disk_image *img)
{
	return img->size;
}

bool disk_image_readonly(const struct disk_image *img)
{
	return img->readonly;
}

const char *disk_image_format(const struct disk_image *img)
{
	return img->fmt->name;
}

const char *disk_image_path(const struct disk_image *img)
{
	return img->path;
}

struct disk_image *disk_image_backing(struct disk_image *img)
{
	return img->backing;
}

static int check_range(struct disk_image *img, uint64_t offset, uint64_t len, struct vs_err *err)
{
	if (offset > img->size || len > img->size - offset)
		return vs_errf(err, EINVAL, "request [%llu, +%llu) beyond the disk size %llu",
			       (unsigned long long)offset, (unsigned long long)len,
			       (unsigned long long)img->size);
	return 0;
}

/* The checks every write, discard and zeroing shares: the image takes
 * writes and [offset, offset+len) lies inside it.  Writes to an image opened
 * without the backing chain it names would copy zeros instead of backing
 * data into partly written clusters.  A non-empty request that passes marks
 * the image written (flushed at close). */
static int check_write(struct disk_image *img, uint64_t offset, uint64_t len, struct vs_err *err)
{
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	if (img->backing_file && !img->backing)
		return vs_errf(err, EINVAL,
			       "%s was opened without its backing file %s: writing "
			       "would lose backing data",
			       img->path, img->backing_file);
	int r = check_range(img, offset, len, err);
	if (r == 0 && len)
		img->written = true;
	return r;
}

static uint64_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t t = 0;
	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

int disk_image_preadv(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		      struct vs_err *err)
{
	if (iovcnt < 0)
		return vs_errf(err, EINVAL, "negative iovec count");
	uint64_t len = iov_total(iov, iovcnt);
	int r = check_range(img, offset, len, err);
	if (r < 0 || len == 0)
		return r;
	return img->fmt->preadv(img, iov, iovcnt, offset, len, err);
}

int disk_image_pwritev(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		       struct vs_err *err)
{
	if (iovcnt < 0)
		return vs_errf(err, EINVAL, "negative iovec count");
	uint64_t len = iov_total(iov, iovcnt);
	int r = check_write(img, offset, len, err);
	if (r < 0 || len == 0)
		return r;
	return img->fmt->pwritev(img, iov, iovcnt, offset, len, err);
}

int disk_image_pread(struct disk_image *img, void *buf, uint64_t len, uint64_t offset,
		     struct vs_err *err)
{
	struct iovec iov = { buf, len };
	return disk_image_preadv(img, &iov, 1, offset, err);
}

int disk_image_pwrite(struct disk_image *img, const void *buf, uint64_t len, uint64_t offset,
		      struct vs_err *err)
{
	struct iovec iov = { (void *)buf, len };
	return disk_image_pwritev(img, &iov, 1, offset, err);
}

int disk_image_flush(struct disk_image *img, struct vs_err *err)
{
	if (img->readonly)
		return 0;
	int r = img->fmt->flush(img, err);
	if (r == 0)
		img->written = false;
	return r;
}

int disk_image_discard(struct disk_image *img, uint64_t offset, uint64_t len, struct vs_err *err)
{
	int r = check_write(img, offset, len, err);
	if (r < 0 || len == 0)
		return r;
	return img->fmt->zero_range(img, offset, len, true, false, err);
}

int disk_image_write_zeroes(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct vs_err *err)
{
	int r = check_write(img, offset, len, err);
	if (r < 0 || len == 0)
		return r;
	return img->fmt->zero_range(img, offset, len, false, false, err);
}

/* ---- management dispatch ---- */

int disk_image_create(const char *path, const struct disk_create_options *opts, struct vs_err *err)
{
	const char *name = opts->format ? opts->format : "qcow2";
	const struct disk_format *fmt = disk_format_by_name(name);
	if (!fmt)
		return vs_errf(err, EINVAL, "unknown image format '%s'", name);
	struct disk_create_options o = *opts;
	if (o.size == 0 && o.backing_file) {
		/* take the size of the backing file */
		char resolved[PATH_MAX];
		struct disk_image tmp = { .path = (char *)path,
					  .backing_file = (char *)o.backing_file };
		if (backing_resolve(&tmp, resolved, sizeof(resolved)) < 0)
			return vs_errf(err, ENAMETOOLONG, "backing file name too long");
		struct disk_open_options bo = { .flags = DISK_OPEN_RDONLY,
						.format = o.backing_format };
		struct disk_image *b = disk_image_open(resolved, &bo, err);
		if (!b)
			return vs_err_prefix(err, "backing file");
		o.size = b->size;
		disk_image_close(b);
	}
	return fmt->create(path, &o, err);
}

int disk_image_info(struct disk_image *img, struct disk_info *info, struct vs_err *err)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->format, sizeof(info->format), "%s", img->fmt->name);
	info->virtual_size = img->size;
	struct stat st;
	if (fstat(img->fd, &st) == 0) {
		info->actual_size = (uint64_t)st.st_blocks * 512;
		info->file_length = (uint64_t)st.st_size;
	}
	if (img->backing_file)
		snprintf(info->backing_file, sizeof(info->backing_file), "%s", img->backing_file);
	if (img->backing_format)
		snprintf(info->backing_format, sizeof(info->backing_format), "%s",
			 img->backing_format);
	return img->fmt->info ? img->fmt->info(img, info, err) : 0;
}

#define FMT_OP(img, op, err)                                                                \
	do {                                                                                \
		if (!(img)->fmt->op)                                                        \
			return vs_errf(err, ENOTSUP, "%s: format %s does not support " #op, \
				       (img)->path, (img)->fmt->name);                      \
	} while (0)

int disk_image_check(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		     struct vs_err *err)
{
	memset(res, 0, sizeof(*res));
	FMT_OP(img, check, err);
	if (repair && img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	return img->fmt->check(img, repair, res, err);
}

int disk_image_block_status(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct disk_extent *ext, struct vs_err *err)
{
	int r = check_range(img, offset, len, err);
	if (r < 0)
		return r;
	if (len == 0)
		return vs_errf(err, EINVAL, "block status of an empty range");
	r = img->fmt->block_status(img, offset, len, ext, err);
	if (r < 0)
		return r;
	ext->depth = 0;
	ext->present = (ext->flags & (DISK_EXTENT_DATA | DISK_EXTENT_ZERO)) != 0;
	if (ext->present)
		return 0;
	/* not allocated here: ask the backing chain for the same range */
	struct disk_image *b = img->backing;
	if (!b || offset >= b->size) {
		ext->flags = DISK_EXTENT_ZERO;
		return 0;
	}
	uint64_t l = ext->length;
	if (l > b->size - offset)
		l = b->size - offset;
	struct disk_extent be;
	r = disk_image_block_status(b, offset, l, &be, err);
	if (r < 0)
		return r;
	*ext = be;
	ext->start = offset;
	ext->depth = be.depth + 1;
	return 0;
}

int disk_image_resize(struct disk_image *img, uint64_t new_size, bool shrink, struct vs_err *err)
{
	FMT_OP(img, resize, err);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	if (new_size < img->size && !shrink)
		return vs_errf(err, EINVAL, "shrinking from %llu to %llu bytes needs --shrink",
			       (unsigned long long)img->size, (unsigned long long)new_size);
	return img->fmt->resize(img, new_size, shrink, err);
}

int disk_snapshot_list(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
		       struct vs_err *err)
{
	FMT_OP(img, snapshot_list, err);
	return img->fmt->snapshot_list(img, out, max, err);
}

int disk_snapshot_create(struct disk_image *img, const char *name, struct vs_err *err)
{
	FMT_OP(img, snapshot_create, err);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	return img->fmt->snapshot_create(img, name, err);
}

int disk_snapshot_apply(struct disk_image *img, const char *name, struct vs_err *err)
{
	FMT_OP(img, snapshot_apply, err);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	return img->fmt->snapshot_apply(img, name, err);
}

int disk_snapshot_delete(struct disk_image *img, const char *name, struct vs_err *err)
{
	FMT_OP(img, snapshot_delete, err);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	return img->fmt->snapshot_delete(img, name, err);
}

int disk_snapshot_save_vmstate(struct disk_image *img, const char *name, int fd, uint64_t len,
			       uint64_t vm_clock_nsec, struct vs_err *err)
{
	if (img->fmt != &disk_format_qcow2)
		return vs_errf(err, ENOTSUP, "%s: only qcow2 images hold a VM state", img->path);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	return qcow2_vmstate_save(img, name, fd, len, vm_clock_nsec, err);
}

int disk_snapshot_load_vmstate(struct disk_image *img, const char *name, int fd, uint64_t *len,
			       struct vs_err *err)
{
	if (img->fmt != &disk_format_qcow2)
		return vs_errf(err, ENOTSUP, "%s: only qcow2 images hold a VM state", img->path);
	return qcow2_vmstate_load(img, name, fd, len, err); /* reads only */
}
