/*
 * qcow2_create.c - writing a new qcow2 image (qcow2 spec: "Header",
 * "Cluster refcounts"), with optional preallocation.
 *
 * Layout of a new image: cluster 0 the header (with the feature-name table,
 * the backing format and the backing file name), then the refcount table,
 * the refcount blocks describing every metadata cluster, then the L1 table.
 * Everything is written and synced before the header, so an interrupted
 * create leaves no valid-looking image.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

static int validate(const struct disk_create_options *o, unsigned *cluster_bits,
		    unsigned *refcount_order, struct vs_err *err)
{
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	if (cs < 512 || cs > (2U << 20) || (cs & (cs - 1)))
		return vs_errf(
		    err, EINVAL,
		    "cluster size %" PRIu64 " invalid: a power of two from 512 B to 2 MiB", cs);
	*cluster_bits = (unsigned)__builtin_ctzll(cs);
	unsigned rb = o->refcount_bits ? o->refcount_bits : 16;
	if (rb > 64 || (rb & (rb - 1)))
		return vs_errf(err, EINVAL, "refcount bits %u invalid: 1, 2, 4, 8, 16, 32 or 64",
			       rb);
	*refcount_order = (unsigned)__builtin_ctz(rb);
	if (o->compat_v2 && (rb != 16 || o->extended_l2 || o->compress == DISK_COMPRESSION_ZSTD))
		return vs_errf(err, EINVAL,
			       "compat=0.10 images support only 16-bit refcounts, "
			       "no extended L2 and no zstd");
	if (o->extended_l2 && cs < 16384)
		return vs_errf(err, EINVAL, "extended L2 entries need clusters of 16 KiB or more");
	if (o->size > (1ULL << 62))
		return vs_errf(err, EFBIG, "size %" PRIu64 " is too large", o->size);
	if (o->backing_format && !disk_format_by_name(o->backing_format))
		return vs_errf(err, EINVAL, "unknown backing format '%s'", o->backing_format);
	if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME)
		return vs_errf(err, ENAMETOOLONG, "backing file name too long");
	return 0;
}

static int preallocate(const char *path, const struct disk_create_options *o, struct vs_err *err)
{
	struct disk_open_options oo = { .flags = DISK_OPEN_NO_BACKING, .format = "qcow2" };
	struct disk_image *img = disk_image_open(path, &oo, err);
	if (!img)
		return -err->code;
	struct qcow2 *q = qcow2_of(img);
	uint64_t cs = q->cluster_size;
	int r = 0;
	uint64_t first_data = 0, last_end = 0;
	for (uint64_t v = 0; v < o->size && r == 0;) {
		uint8_t *table;
		uint64_t idx;
		if ((r = qcow2_l2_table(q, v, true, &table, &idx, err)) < 0)
			break;
		uint64_t n = q->l2_entries - idx;
		uint64_t left = (o->size - v + cs - 1) / cs;
		if (n > left)
			n = left;
		uint64_t host;
		if ((r = qcow2_alloc_clusters(q, n, &host, err)) < 0)
			break;
		if (!first_data)
			first_data = host;
		last_end = host + n * cs;
		if ((r = qcow2_l2_table(q, v, true, &table, &idx, err)) < 0)
			break;
		for (uint64_t i = 0; i < n; i++)
			qcow2_l2_entry_write(q, table, idx + i,
					     (host + i * cs) | QCOW2_OFLAG_COPIED,
					     q->extl2 ? 0xffffffffULL : 0);
		v += n * cs;
	}
	if (r == 0 && last_end)
		r = qcow2_extend_file(q, last_end, err);
	if (r == 0 && o->prealloc == DISK_PREALLOC_FALLOC && last_end &&
	    fallocate(q->fd, 0, (off_t)first_data, (off_t)(last_end - first_data)) < 0)
		r = vs_syserrf(err, errno, "fallocate");
	if (r == 0)
		r = qcow2_flush_all(q, err);
	disk_image_close(img);
	return r;
}

int qcow2_create(const char *path, const struct disk_create_options *o, struct vs_err *err)
{
	unsigned cluster_bits = 16, refcount_order = 4;
	int r = validate(o, &cluster_bits, &refcount_order, err);
	if (r < 0)
		return r;
	struct disk_image img = { .fd = -1, .path = (char *)path };
	struct qcow2 q = { .img = &img };
	q.h.magic = QCOW2_MAGIC;
	q.h.version = o->compat_v2 ? 2 : 3;
	q.h.cluster_bits = cluster_bits;
	q.h.size = o->size;
	q.h.refcount_order = refcount_order;
	if (q.h.version == 3) {
		q.h.header_length = 112;
		if (o->extended_l2)
			q.h.incompatible_features |= QCOW2_INCOMPAT_EXTL2;
		if (o->compress == DISK_COMPRESSION_ZSTD) {
			q.h.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
			q.h.compression_type = 1;
		}
	} else {
		q.h.header_length = QCOW2_V2_HEADER;
	}
	qcow2_setup_geometry(&q);
	uint64_t cs = q.cluster_size;
	uint64_t l1_entries = qcow2_l1_entries_for(cluster_bits, q.l2_bits, o->size);
	if (l1_entries * 8 > QCOW2_MAX_L1_BYTES)
		return vs_errf(err, EFBIG,
			       "size %" PRIu64 " needs an L1 table larger than 32 MiB; "
			       "use bigger clusters",
			       o->size);
	uint64_t L = (l1_entries * 8 + cs - 1) / cs;
	uint64_t N = 1ULL << q.rb_bits;
	uint64_t R = 1, B = 1;
	for (;;) {
		uint64_t total = 1 + R + B + L;
		uint64_t nb = (total + N - 1) / N, nr = (nb * 8 + cs - 1) / cs;
		if (nb == B && nr == R)
			break;
		B = nb;
		R = nr;
	}
	uint64_t total = 1 + R + B + L;
	q.h.refcount_table_offset = cs;
	q.h.refcount_table_clusters = (uint32_t)R;
	q.h.l1_size = (uint32_t)l1_entries;
	q.h.l1_table_offset = L ? (1 + R + B) * cs : 0;

	vs_cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", path);
	vs_cleanup_free uint8_t *meta = calloc(R + B + L, cs);
	if (!meta)
		return vs_errf(err, ENOMEM, "out of memory");
	for (uint64_t b = 0; b < B; b++)
		qcow2_put64(meta + b * 8, (1 + R + b) * cs);
	for (uint64_t c = 0; c < total; c++)
		qcow2_refcount_encode(meta + (R + c / N) * cs, c % N, refcount_order, 1);
	r = vs_pwrite_full(fd, meta, (R + B + L) * cs, (off_t)cs);
	if (r < 0)
		return vs_syserrf(err, -r, "write %s", path);
	q.fd = fd;
	img.fd = fd;
	img.backing_file = (char *)o->backing_file;
	img.backing_format = (char *)(o->backing_file ? o->backing_format : NULL);
	q.file_size = total * cs;
	if (q.h.version == 3 && qcow2_add_feature_table(&q) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	r = qcow2_write_header(&q, err); /* syncs */
	for (unsigned i = 0; i < q.nexts; i++)
		free(q.exts[i].data);
	free(q.exts);
	if (r < 0)
		return vs_err_prefix(err, "create %s", path);
	if (ftruncate(fd, (off_t)(total * cs)) < 0)
		return vs_syserrf(err, errno, "truncate %s", path);
	if (o->prealloc != DISK_PREALLOC_OFF && o->size)
		return preallocate(path, o, err);
	return 0;
}
