/*
 * convert.c - whole-image operations built on the image API: convert
 * (any format to qcow2 or raw, optionally compressed), commit (top layer
 * into its backing image) and rebase (change the backing file, copying
 * what differs first in safe mode).
 *
 * Invariants: the source is only read; block status drives every copy so
 * that holes stay holes; the destination is flushed before success.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "disk_internal.h"

#define COPY_CHUNK (1ULL << 20)

int disk_image_convert(struct disk_image *src, const char *out_path,
		       const struct disk_convert_options *o, struct vs_err *err)
{
	const char *fmt = o->out_format ? o->out_format : "qcow2";
	struct disk_create_options co = {
		.format = fmt,
		.size = src->size,
		.cluster_size = o->cluster_size,
		.compat_v2 = o->compat_v2,
		.extended_l2 = o->extended_l2,
		.compress = o->compression,
	};
	if (o->compress && strcmp(fmt, "qcow2"))
		return vs_errf(err, EINVAL, "compression needs the qcow2 output format");
	int r = disk_image_create(out_path, &co, err);
	if (r < 0)
		return r;
	struct disk_open_options oo = { .format = fmt, .flags = DISK_OPEN_NO_BACKING };
	struct disk_image *dst = disk_image_open(out_path, &oo, err);
	if (!dst)
		return -err->code;
	uint64_t cs = dst->fmt->cluster_size ? dst->fmt->cluster_size(dst) : 65536;
	uint64_t chunk = o->compress ? cs : (COPY_CHUNK > cs ? COPY_CHUNK : cs);
	uint8_t *buf = malloc(chunk);
	if (!buf) {
		disk_image_close(dst);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	uint64_t off = 0;
	while (off < src->size && r == 0) {
		struct disk_extent e;
		uint64_t want = src->size - off < chunk ? src->size - off : chunk;
		/* keep chunks aligned to the destination's clusters */
		if (off % cs && want > cs - off % cs)
			want = cs - off % cs;
		r = disk_image_block_status(src, off, want, &e, err);
		if (r < 0)
			break;
		uint64_t n = e.length;
		if (n > want)
			n = want;
		if ((e.flags & DISK_EXTENT_ZERO) && !(e.flags & DISK_EXTENT_DATA)) {
			off += n;
			continue;
		}
		/* round the piece to whole clusters so compression sees clusters */
		if (o->compress) {
			n = cs - off % cs;
			if (n > src->size - off)
				n = src->size - off;
		}
		r = disk_image_pread(src, buf, n, off, err);
		if (r < 0)
			break;
		if (disk_buf_is_zero(buf, n)) {
			off += n;
			continue;
		}
		if (o->compress && off % cs == 0) {
			if (n < cs)
				memset(buf + n, 0, cs - n);
			r = dst->fmt->write_compressed(dst, buf, off, err);
		} else {
			r = disk_image_pwrite(dst, buf, n, off, err);
		}
		off += n;
	}
	free(buf);
	if (r == 0)
		r = disk_image_flush(dst, err);
	disk_image_close(dst);
	if (r < 0)
		return vs_err_prefix(err, "convert to %s", out_path);
	return 0;
}

int disk_image_commit(struct disk_image *img, bool keep_top, struct vs_err *err)
{
	struct disk_image *base = img->backing;
	if (!base)
		return vs_errf(err, EINVAL, "%s has no backing file to commit into", img->path);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	/* the backing image was opened read-only: reopen it for writing */
	struct disk_open_options bo = { .format = base->fmt->name };
	struct disk_image *wbase = disk_image_open(base->path, &bo, err);
	if (!wbase)
		return vs_err_prefix(err, "reopen backing file for writing");
	int r = 0;
	if (img->size > wbase->size && (r = disk_image_resize(wbase, img->size, false, err)) < 0) {
		disk_image_close(wbase);
		return r;
	}
	uint8_t *buf = malloc(COPY_CHUNK);
	if (!buf) {
		disk_image_close(wbase);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	uint64_t off = 0;
	while (off < img->size && r == 0) {
		struct disk_extent e;
		uint64_t want = img->size - off < COPY_CHUNK ? img->size - off : COPY_CHUNK;
		r = img->fmt->block_status(img, off, want, &e, err);
		if (r < 0)
			break;
		uint64_t n = e.length < want ? e.length : want;
		if (e.flags & DISK_EXTENT_DATA) {
			r = disk_image_pread(img, buf, n, off, err);
			if (r == 0)
				r = disk_image_pwrite(wbase, buf, n, off, err);
		} else if (e.flags & DISK_EXTENT_ZERO) {
			r = disk_image_write_zeroes(wbase, off, n, err);
		}
		off += n;
	}
	free(buf);
	if (r == 0)
		r = disk_image_flush(wbase, err);
	disk_image_close(wbase);
	if (r == 0 && !keep_top) {
		r = img->fmt->zero_range(img, 0, img->size, true, true, err);
		if (r == 0)
			r = disk_image_flush(img, err);
	}
	/* our read-only handle on the backing image caches stale tables */
	disk_image_close(img->backing);
	img->backing = NULL;
	struct disk_open_options ro = { .flags = DISK_OPEN_RDONLY };
	int r2 = disk_image_open_backing(img, &ro, r < 0 ? NULL : err);
	return r < 0 ? r : r2;
}

int disk_image_rebase(struct disk_image *img, const char *backing_file, const char *backing_format,
		      bool unsafe, struct vs_err *err)
{
	if (!img->fmt->set_backing)
		return vs_errf(err, ENOTSUP, "format %s has no backing files", img->fmt->name);
	if (img->readonly)
		return vs_errf(err, EROFS, "%s is open read-only", img->path);
	if (!unsafe) {
		struct disk_image *nb = NULL;
		if (backing_file) {
			/* open the new backing file as the image would */
			struct disk_image tmp = { .path = img->path,
						  .backing_file = (char *)backing_file,
						  .backing_format = (char *)backing_format,
						  .fd = img->fd,
						  .depth = img->depth };
			struct disk_open_options bo = { 0 };
			int r = disk_image_open_backing(&tmp, &bo, err);
			if (r < 0)
				return r;
			nb = tmp.backing;
		}
		uint64_t cs = img->fmt->cluster_size ? img->fmt->cluster_size(img) : 65536;
		uint8_t *a = malloc(cs), *b = malloc(cs);
		int r = a && b ? 0 : vs_errf(err, ENOMEM, "out of memory");
		for (uint64_t off = 0; off < img->size && r == 0; off += cs) {
			uint64_t n = img->size - off < cs ? img->size - off : cs;
			struct disk_extent e;
			r = img->fmt->block_status(img, off, n, &e, err);
			if (r < 0)
				break;
			if (e.flags & (DISK_EXTENT_DATA | DISK_EXTENT_ZERO)) {
				if (e.length < n)
					n = e.length;
				off -= cs - n; /* continue right after this extent */
				continue;
			}
			if (e.length < n)
				n = e.length;
			r = disk_backing_read(img, a, n, off, err);
			if (r < 0)
				break;
			struct disk_image fake = { .backing = nb };
			r = disk_backing_read(&fake, b, n, off, err);
			if (r < 0)
				break;
			if (memcmp(a, b, n))
				r = disk_image_pwrite(img, a, n, off, err);
			off -= cs - n;
		}
		free(a);
		free(b);
		if (nb)
			disk_image_close(nb);
		if (r < 0)
			return r;
	}
	int r = img->fmt->set_backing(img, backing_file, backing_format, err);
	if (r < 0)
		return r;
	if (img->backing) {
		disk_image_close(img->backing);
		img->backing = NULL;
	}
	return 0;
}
