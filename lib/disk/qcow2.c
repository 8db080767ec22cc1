/*
 * qcow2.c - the qcow2 driver's entry points: open (validation of the header,
 * L1 and refcount tables), close, flush, info, resize, backing changes, and
 * the `disk_format_qcow2` operations table.
 *
 * Open refuses what it cannot honour (encryption, external data files,
 * unknown incompatible features, dirty or corrupt images opened for
 * writing) with one precise message; unknown autoclear bits are cleared on
 * a read-write open as the spec requires.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

static bool qcow2_probe(const uint8_t *buf, size_t len)
{
	return len >= 4 && qcow2_be32(buf) == QCOW2_MAGIC;
}

/* Append the names the image's feature-name table gives to unknown
 * incompatible bits to the message in err. */
static void qcow2_name_features(const uint8_t *buf, size_t len, uint64_t bits, struct vs_err *err)
{
	if (!bits || !err)
		return;
	size_t off = qcow2_be32(buf + 100);
	while (off + 8 <= len) {
		uint32_t type = qcow2_be32(buf + off), elen = qcow2_be32(buf + off + 4);
		off += 8;
		if (type == QCOW2_EXT_END || elen > len - off)
			return;
		if (type == QCOW2_EXT_FEATURE_TABLE) {
			for (size_t e = 0; e + 48 <= elen; e += 48) {
				const uint8_t *f = buf + off + e;
				if (f[0] != 0 || f[1] > 63 || !(bits & (1ULL << f[1])))
					continue;
				size_t used = strlen(err->msg);
				snprintf(err->msg + used, sizeof(err->msg) - used,
					 " (bit %u: %.46s)", f[1], (const char *)f + 2);
			}
			return;
		}
		off += (elen + 7) & ~7UL;
	}
}

static void qcow2_free_state(struct qcow2 *q)
{
	free(q->l1);
	free(q->reftable);
	qcow2_cache_destroy(&q->l2_cache);
	qcow2_cache_destroy(&q->rb_cache);
	free(q->pending);
	qcow2_snapshots_free(q);
	for (unsigned i = 0; i < q->nexts; i++)
		free(q->exts[i].data);
	free(q->exts);
	free(q->cbuf);
	free(q->bounce);
	free(q->bounce2);
	free(q);
}

/* Derived geometry from q->h. */
static void qcow2_geometry(struct qcow2 *q)
{
	q->cluster_bits = q->h.cluster_bits;
	q->cluster_size = 1ULL << q->cluster_bits;
	q->extl2 = (q->h.incompatible_features & QCOW2_INCOMPAT_EXTL2) != 0;
	q->l2_entry_bytes = q->extl2 ? 16 : 8;
	q->l2_bits = q->cluster_bits - (q->extl2 ? 4 : 3);
	q->l2_entries = 1ULL << q->l2_bits;
	q->subcluster_bits = q->extl2 ? q->cluster_bits - 5 : q->cluster_bits;
	q->subcluster_size = 1ULL << q->subcluster_bits;
	q->refcount_bits = 1U << q->h.refcount_order;
	q->rb_bits = q->cluster_bits + 3 - q->h.refcount_order;
	q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX : (1ULL << q->refcount_bits) - 1;
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ULL << (q->cluster_bits - 8)) - 1;
	q->coffset_mask = (1ULL << q->csize_shift) - 1;
}

static int qcow2_alloc_state(struct qcow2 *q, const struct disk_open_options *opts,
			     struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	uint64_t l2_tables = qcow2_l1_entries_for(q->cluster_bits, q->l2_bits, q->h.size);
	uint64_t n = opts && opts->l2_cache_bytes ? opts->l2_cache_bytes / cs : l2_tables;
	uint64_t max_default = (32ULL << 20) / cs;
	if (!(opts && opts->l2_cache_bytes) && n > max_default)
		n = max_default;
	if (n < 4)
		n = 4;
	if (n > 65536)
		n = 65536;
	if (qcow2_cache_init(&q->l2_cache, (unsigned)n, cs) < 0 ||
	    qcow2_cache_init(&q->rb_cache, 8, cs) < 0)
		return vs_errf(err, ENOMEM, "out of memory for the metadata caches");
	q->cbuf = malloc(cs);
	q->bounce = malloc(cs);
	q->bounce2 = malloc(cs);
	if (!q->cbuf || !q->bounce || !q->bounce2)
		return vs_errf(err, ENOMEM, "out of memory");
	return 0;
}

static int qcow2_open(struct disk_image *img, const struct disk_open_options *opts,
		      struct vs_err *err)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	if (!q)
		return vs_errf(err, ENOMEM, "out of memory");
	img->priv = q;
	q->img = img;
	q->fd = img->fd;
	struct stat st;
	if (fstat(q->fd, &st) < 0)
		return vs_syserrf(err, errno, "stat");
	q->file_size = (uint64_t)st.st_size;
	uint8_t buf[4096];
	ssize_t n = pread(q->fd, buf, sizeof(buf), 0);
	if (n < 0)
		return vs_syserrf(err, errno, "read header");
	int r = qcow2_header_parse(buf, (size_t)n, q->file_size, &q->h, err);
	/* a header longer than our buffer (but within its cluster): read it all */
	if (r == -EINVAL && n == (ssize_t)sizeof(buf) && q->h.header_length > sizeof(buf) &&
	    q->h.cluster_bits >= QCOW2_MIN_CLUSTER_BITS &&
	    q->h.cluster_bits <= QCOW2_MAX_CLUSTER_BITS &&
	    q->h.header_length <= (1U << q->h.cluster_bits)) {
		vs_cleanup_free uint8_t *big = malloc(q->h.header_length);
		if (!big)
			return vs_errf(err, ENOMEM, "out of memory");
		n = pread(q->fd, big, q->h.header_length, 0);
		if (n < 0)
			return vs_syserrf(err, errno, "read header");
		r = qcow2_header_parse(big, (size_t)n, q->file_size, &q->h, err);
	}
	if (r == -ENOTSUP && n >= 104 && qcow2_be32(buf) == QCOW2_MAGIC && qcow2_be32(buf + 4) == 3)
		qcow2_name_features(buf, (size_t)n, qcow2_be64(buf + 72) & ~QCOW2_INCOMPAT_KNOWN,
				    err);
	if (r < 0)
		return r;
	bool rw = !img->readonly;
	if (rw && (q->h.incompatible_features & QCOW2_INCOMPAT_CORRUPT))
		return vs_errf(err, EIO,
			       "image is marked corrupt; it can only be opened read-only "
			       "(or repaired with check -r all)");
	qcow2_geometry(q);
	img->size = q->h.size;
	if ((r = qcow2_read_extensions(q, err)) < 0)
		return r;
	/* L1 table */
	uint64_t l1_alloc = q->h.l1_size ? q->h.l1_size : 1;
	q->l1 = calloc(l1_alloc, sizeof(uint64_t));
	vs_cleanup_free uint8_t *raw = malloc(l1_alloc * 8);
	if (!q->l1 || !raw)
		return vs_errf(err, ENOMEM, "out of memory for the L1 table");
	if (q->h.l1_size) {
		r = vs_pread_full(q->fd, raw, (size_t)q->h.l1_size * 8,
				  (off_t)q->h.l1_table_offset);
		if (r < 0)
			return vs_syserrf(err, -r, "read L1 table");
		for (uint64_t i = 0; i < q->h.l1_size; i++)
			q->l1[i] = qcow2_be64(raw + i * 8);
	}
	if ((r = qcow2_refcount_load(q, err)) < 0)
		return r;
	if ((r = qcow2_snapshots_load(q, err)) < 0)
		return r;
	if ((r = qcow2_alloc_state(q, opts, err)) < 0)
		return r;
	if (rw && (q->h.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
		/* lazy refcounts left unsaved: rebuild them, as QEMU does */
		struct disk_check_result res;
		memset(&res, 0, sizeof(res));
		if ((r = qcow2_check(img, DISK_REPAIR_ALL, &res, err)) < 0)
			return vs_err_prefix(err, "repairing the dirty image");
		if (res.corruptions)
			return vs_errf(err, EIO, "dirty image could not be repaired: %s",
				       res.first_problem);
		q->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
		if ((r = qcow2_write_header_fields(q, 72, 80, err)) < 0)
			return r;
	}
	if (rw && q->h.version >= 3 && q->h.autoclear_features) {
		q->h.autoclear_features = 0; /* we maintain none of them */
		if ((r = qcow2_write_header_fields(q, 88, 96, err)) < 0)
			return r;
	}
	return 0;
}

static void qcow2_close(struct disk_image *img)
{
	struct qcow2 *q = qcow2_of(img);
	if (!img->readonly && !q->broken && q->l2_cache.e) {
		struct vs_err err = VS_ERR_INIT;
		qcow2_flush_all(q, &err);
	}
	qcow2_free_state(q);
	img->priv = NULL;
}

static int qcow2_flush(struct disk_image *img, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	if (q->broken)
		return vs_errf(err, EIO, "%s: an earlier metadata write failed", img->path);
	return qcow2_flush_all(q, err);
}

static int qcow2_info(struct disk_image *img, struct disk_info *info, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	info->cluster_size = (uint32_t)q->cluster_size;
	info->version = (int)q->h.version;
	info->refcount_bits = q->refcount_bits;
	info->extended_l2 = q->extl2;
	info->lazy_refcounts = q->h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->corrupt = q->h.incompatible_features & QCOW2_INCOMPAT_CORRUPT;
	info->compression = q->h.version >= 3 ? (q->h.compression_type ? "zstd" : "zlib") : NULL;
	info->nb_snapshots = q->nb_snaps;
	return 0;
}

static int qcow2_resize(struct disk_image *img, uint64_t new_size, bool shrink, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	int r = qcow2_flush_all(q, err);
	if (r < 0)
		return r;
	if (new_size > (1ULL << 62))
		return vs_errf(err, EFBIG, "size %" PRIu64 " is too large", new_size);
	if (new_size < q->h.size) {
		/* every cluster past the new end must be unallocated */
		uint64_t cs = q->cluster_size;
		uint64_t first = (new_size + cs - 1) & ~(cs - 1);
		for (uint64_t v = first; v < q->h.size; v += cs) {
			uint64_t e, b;
			if ((r = qcow2_l2_get(q, v, &e, &b, err)) < 0)
				return r;
			enum qcow2_cluster_type t = qcow2_l2_entry_type(e, q->extl2, b);
			if (t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN)
				return vs_errf(err, ENOTSUP,
					       "cannot shrink: offset 0x%" PRIx64
					       " past the new size holds data",
					       v);
			if (q->extl2 && (b & 0xffffffffULL))
				return vs_errf(err, ENOTSUP,
					       "cannot shrink: offset 0x%" PRIx64
					       " past the new size holds data",
					       v);
		}
		if (new_size % cs) {
			/* the tail of the last cluster must not hold data either */
			uint8_t *zero = calloc(1, cs);
			if (!zero)
				return vs_errf(err, ENOMEM, "out of memory");
			uint64_t tail = cs - new_size % cs;
			if (new_size + tail > q->h.size)
				tail = q->h.size - new_size;
			r = qcow2_preadv(img, &(struct iovec){ q->bounce, tail }, 1, new_size, tail,
					 err);
			bool clean = r == 0 && !memcmp(q->bounce, zero, tail);
			free(zero);
			if (r < 0)
				return r;
			if (!clean)
				return vs_errf(
				    err, ENOTSUP,
				    "cannot shrink: data past the new size at 0x%" PRIx64,
				    new_size);
		}
	} else {
		uint64_t need = qcow2_l1_entries_for(q->cluster_bits, q->l2_bits, new_size);
		if ((r = qcow2_grow_l1(q, need, err)) < 0)
			return r;
	}
	uint64_t old = q->h.size;
	q->h.size = new_size;
	if ((r = qcow2_write_header_fields(q, 24, 32, err)) < 0) {
		q->h.size = old;
		return r;
	}
	img->size = new_size;
	return qcow2_flush_all(q, err);
}

static int qcow2_set_backing(struct disk_image *img, const char *file, const char *format,
			     struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	int r = qcow2_flush_all(q, err);
	if (r < 0)
		return r;
	char *nf = file ? strdup(file) : NULL;
	char *nfmt = format && file ? strdup(format) : NULL;
	if ((file && !nf) || (format && file && !nfmt)) {
		free(nf);
		free(nfmt);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	char *of = img->backing_file, *ofmt = img->backing_format;
	img->backing_file = nf;
	img->backing_format = nfmt;
	r = qcow2_write_header(q, err);
	if (r < 0) {
		img->backing_file = of;
		img->backing_format = ofmt;
		free(nf);
		free(nfmt);
		return r;
	}
	free(of);
	free(ofmt);
	return 0;
}

static uint32_t qcow2_cluster_size_op(struct disk_image *img)
{
	return (uint32_t)qcow2_of(img)->cluster_size;
}

/* Used by qcow2_create to share the geometry code. */
void qcow2_setup_geometry(struct qcow2 *q)
{
	qcow2_geometry(q);
}

const struct disk_format disk_format_qcow2 = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.create = qcow2_create,
	.preadv = qcow2_preadv,
	.pwritev = qcow2_pwritev,
	.flush = qcow2_flush,
	.zero_range = qcow2_zero_range,
	.block_status = qcow2_block_status,
	.info = qcow2_info,
	.check = qcow2_check,
	.resize = qcow2_resize,
	.snapshot_list = qcow2_snapshot_list,
	.snapshot_create = qcow2_snapshot_create,
	.snapshot_apply = qcow2_snapshot_apply,
	.snapshot_delete = qcow2_snapshot_delete,
	.set_backing = qcow2_set_backing,
	.write_compressed = qcow2_write_compressed,
	.cluster_size = qcow2_cluster_size_op,
};
