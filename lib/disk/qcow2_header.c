/*
 * qcow2_header.c - the qcow2 header and its extensions (qcow2 spec:
 * "Header", "Header extensions", "Feature name table").
 *
 * qcow2_header_parse() is a pure validator: every offset and size in the
 * header is checked against the file size and the format's limits before
 * anything else trusts it (hostile images end here with a precise message).
 * Extensions are kept as found and written back unchanged, so unknown ones
 * survive; the header is rewritten only as a whole cluster (create, rebase,
 * feature changes) or as adjacent fields in place (atomic switches).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

uint64_t qcow2_l1_entries_for(unsigned cluster_bits, unsigned l2_bits, uint64_t size)
{
	unsigned shift = cluster_bits + l2_bits;
	if (shift >= 64)
		return size ? 1 : 0;
	return (size >> shift) + ((size & ((1ULL << shift) - 1)) != 0);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       struct vs_err *err)
{
	memset(h, 0, sizeof(*h));
	if (len < QCOW2_V2_HEADER)
		return vs_errf(err, EINVAL, "qcow2 header truncated (%zu bytes)", len);
	h->magic = qcow2_be32(buf + 0);
	h->version = qcow2_be32(buf + 4);
	h->backing_file_offset = qcow2_be64(buf + 8);
	h->backing_file_size = qcow2_be32(buf + 16);
	h->cluster_bits = qcow2_be32(buf + 20);
	h->size = qcow2_be64(buf + 24);
	h->crypt_method = qcow2_be32(buf + 32);
	h->l1_size = qcow2_be32(buf + 36);
	h->l1_table_offset = qcow2_be64(buf + 40);
	h->refcount_table_offset = qcow2_be64(buf + 48);
	h->refcount_table_clusters = qcow2_be32(buf + 56);
	h->nb_snapshots = qcow2_be32(buf + 60);
	h->snapshots_offset = qcow2_be64(buf + 64);
	if (h->magic != QCOW2_MAGIC)
		return vs_errf(err, EINVAL, "not a qcow2 image (bad magic)");
	if (h->version != 2 && h->version != 3)
		return vs_errf(err, ENOTSUP, "qcow2 version %" PRIu32 " not supported", h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return vs_errf(err, EINVAL, "invalid cluster_bits %" PRIu32 " (must be 9-21)",
			       h->cluster_bits);
	uint64_t cs = 1ULL << h->cluster_bits;
	if (h->version == 2) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER;
	} else {
		if (len < QCOW2_V3_HEADER)
			return vs_errf(err, EINVAL, "qcow2 v3 header truncated (%zu bytes)", len);
		h->incompatible_features = qcow2_be64(buf + 72);
		h->compatible_features = qcow2_be64(buf + 80);
		h->autoclear_features = qcow2_be64(buf + 88);
		h->refcount_order = qcow2_be32(buf + 96);
		h->header_length = qcow2_be32(buf + 100);
		if (h->header_length < QCOW2_V3_HEADER || h->header_length > cs ||
		    h->header_length % 8)
			return vs_errf(err, EINVAL, "invalid header_length %" PRIu32,
				       h->header_length);
		if (len < h->header_length)
			return vs_errf(err, EINVAL,
				       "qcow2 header truncated (%zu of %" PRIu32 " bytes)", len,
				       h->header_length);
		if (h->header_length > 104)
			h->compression_type = buf[104];
	}
	if (h->crypt_method)
		return vs_errf(err, ENOTSUP, "encrypted qcow2 images are not supported");
	if (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE)
		return vs_errf(err, ENOTSUP,
			       "qcow2 images with an external data file are "
			       "not supported");
	uint64_t unknown = h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
	if (unknown)
		return vs_errf(err, ENOTSUP, "unsupported incompatible qcow2 features 0x%" PRIx64,
			       unknown);
	if (h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
		if (h->compression_type == 0)
			return vs_errf(err, EINVAL, "compression type bit set with type zlib");
	}
	if (h->compression_type > 1)
		return vs_errf(err, ENOTSUP, "unknown compression type %u", h->compression_type);
	if (h->compression_type && !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
		return vs_errf(err, EINVAL, "compression type %u without its incompatible bit",
			       h->compression_type);
	if (h->refcount_order > 6)
		return vs_errf(err, EINVAL, "invalid refcount_order %" PRIu32 " (max 6)",
			       h->refcount_order);
	if (h->size > (1ULL << 62))
		return vs_errf(err, EFBIG, "virtual size %" PRIu64 " is absurd", h->size);
	unsigned entry_bytes = (h->incompatible_features & QCOW2_INCOMPAT_EXTL2) ? 16 : 8;
	if ((h->incompatible_features & QCOW2_INCOMPAT_EXTL2) && h->cluster_bits < 14)
		return vs_errf(err, EINVAL, "extended L2 entries need clusters of 16 KiB or more");
	unsigned l2_bits = h->cluster_bits - (entry_bytes == 16 ? 4 : 3);
	uint64_t need = qcow2_l1_entries_for(h->cluster_bits, l2_bits, h->size);
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return vs_errf(err, EFBIG, "L1 table of %" PRIu32 " entries is too large",
			       h->l1_size);
	if (need > h->l1_size)
		return vs_errf(err, EINVAL,
			       "L1 table too small: %" PRIu32 " entries for %" PRIu64
			       " bytes (need %" PRIu64 ")",
			       h->l1_size, h->size, need);
	uint64_t l1_bytes = (uint64_t)h->l1_size * 8;
	if (h->l1_size) {
		if (h->l1_table_offset % cs)
			return vs_errf(err, EINVAL, "L1 table offset 0x%" PRIx64 " not aligned",
				       h->l1_table_offset);
		if (h->l1_table_offset > file_size || l1_bytes > file_size - h->l1_table_offset)
			return vs_errf(err, EINVAL, "L1 table at 0x%" PRIx64 " is outside the file",
				       h->l1_table_offset);
	}
	if (h->refcount_table_clusters == 0)
		return vs_errf(err, EINVAL, "image has no refcount table");
	uint64_t rt_bytes = (uint64_t)h->refcount_table_clusters << h->cluster_bits;
	if (rt_bytes > QCOW2_MAX_REFT_BYTES)
		return vs_errf(err, EFBIG, "refcount table of %" PRIu32 " clusters is too large",
			       h->refcount_table_clusters);
	if (h->refcount_table_offset % cs || h->refcount_table_offset == 0)
		return vs_errf(err, EINVAL, "refcount table offset 0x%" PRIx64 " invalid",
			       h->refcount_table_offset);
	if (h->refcount_table_offset > file_size || rt_bytes > file_size - h->refcount_table_offset)
		return vs_errf(err, EINVAL, "refcount table at 0x%" PRIx64 " is outside the file",
			       h->refcount_table_offset);
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return vs_errf(err, EFBIG, "too many snapshots (%" PRIu32 ")", h->nb_snapshots);
	if (h->nb_snapshots) {
		if (h->snapshots_offset % cs || h->snapshots_offset == 0)
			return vs_errf(err, EINVAL, "snapshot table offset 0x%" PRIx64 " invalid",
				       h->snapshots_offset);
		if (h->snapshots_offset >= file_size)
			return vs_errf(err, EINVAL,
				       "snapshot table at 0x%" PRIx64 " is outside the file",
				       h->snapshots_offset);
	}
	if (h->backing_file_offset) {
		if (h->backing_file_size > QCOW2_MAX_BACKING_NAME || h->backing_file_size == 0)
			return vs_errf(err, EINVAL, "invalid backing file name length %" PRIu32,
				       h->backing_file_size);
		if (h->backing_file_offset > cs ||
		    h->backing_file_size > cs - h->backing_file_offset)
			return vs_errf(err, EINVAL, "backing file name outside the header cluster");
	}
	/* metadata must not overlap: header cluster, L1, refcount table */
	if (ranges_overlap(0, cs, h->l1_table_offset, l1_bytes) ||
	    ranges_overlap(0, cs, h->refcount_table_offset, rt_bytes) ||
	    ranges_overlap(h->l1_table_offset, l1_bytes, h->refcount_table_offset, rt_bytes))
		return vs_errf(err, EINVAL,
			       "overlapping metadata: header, L1 table (0x%" PRIx64
			       ") and refcount table (0x%" PRIx64 ")",
			       h->l1_table_offset, h->refcount_table_offset);
	if (h->nb_snapshots &&
	    (ranges_overlap(0, cs, h->snapshots_offset, 1) ||
	     ranges_overlap(h->l1_table_offset, l1_bytes, h->snapshots_offset, 1) ||
	     ranges_overlap(h->refcount_table_offset, rt_bytes, h->snapshots_offset, 1)))
		return vs_errf(err, EINVAL, "overlapping metadata: snapshot table at 0x%" PRIx64,
			       h->snapshots_offset);
	return 0;
}

void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf)
{
	qcow2_put32(buf + 0, QCOW2_MAGIC);
	qcow2_put32(buf + 4, h->version);
	qcow2_put64(buf + 8, h->backing_file_offset);
	qcow2_put32(buf + 16, h->backing_file_size);
	qcow2_put32(buf + 20, h->cluster_bits);
	qcow2_put64(buf + 24, h->size);
	qcow2_put32(buf + 32, h->crypt_method);
	qcow2_put32(buf + 36, h->l1_size);
	qcow2_put64(buf + 40, h->l1_table_offset);
	qcow2_put64(buf + 48, h->refcount_table_offset);
	qcow2_put32(buf + 56, h->refcount_table_clusters);
	qcow2_put32(buf + 60, h->nb_snapshots);
	qcow2_put64(buf + 64, h->snapshots_offset);
	if (h->version < 3)
		return;
	qcow2_put64(buf + 72, h->incompatible_features);
	qcow2_put64(buf + 80, h->compatible_features);
	qcow2_put64(buf + 88, h->autoclear_features);
	qcow2_put32(buf + 96, h->refcount_order);
	qcow2_put32(buf + 100, h->header_length);
	if (h->header_length > 104)
		buf[104] = h->compression_type;
}

/* Our feature-name table, written into images we create. */
static const struct {
	uint8_t type, bit;
	const char *name;
} feature_names[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

static int ext_add(struct qcow2 *q, uint32_t type, const void *data, uint32_t len)
{
	struct qcow2_ext *n = realloc(q->exts, sizeof(*n) * (q->nexts + 1));
	if (!n)
		return -ENOMEM;
	q->exts = n;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	q->exts[q->nexts++] = (struct qcow2_ext){ type, len, copy };
	return 0;
}

int qcow2_read_extensions(struct qcow2 *q, struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	vs_cleanup_free uint8_t *buf = calloc(1, cs);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	ssize_t n = pread(q->fd, buf, cs, 0);
	if (n < 0)
		return vs_syserrf(err, errno, "read header");
	uint64_t end = q->h.backing_file_offset ? q->h.backing_file_offset : cs;
	uint64_t off = q->h.header_length;
	while (off + 8 <= end) {
		uint32_t type = qcow2_be32(buf + off);
		uint32_t len = qcow2_be32(buf + off + 4);
		off += 8;
		if (type == QCOW2_EXT_END)
			break;
		if (len > end - off)
			return vs_errf(err, EINVAL, "header extension 0x%08x overruns the header",
				       type);
		const uint8_t *data = buf + off;
		switch (type) {
		case QCOW2_EXT_BACKING_FORMAT:
			free(q->img->backing_format);
			q->img->backing_format = strndup((const char *)data, len);
			if (!q->img->backing_format)
				return vs_errf(err, ENOMEM, "out of memory");
			break;
		case QCOW2_EXT_CRYPTO:
			return vs_errf(err, ENOTSUP, "encrypted qcow2 images are not supported");
		case QCOW2_EXT_DATA_FILE:
			return vs_errf(err, ENOTSUP,
				       "qcow2 images with an external data file are not supported");
		default:
			if (ext_add(q, type, data, len) < 0)
				return vs_errf(err, ENOMEM, "out of memory");
		}
		off += (len + 7) & ~7ULL;
	}
	if (q->h.backing_file_offset) {
		q->img->backing_file =
		    strndup((const char *)buf + q->h.backing_file_offset, q->h.backing_file_size);
		if (!q->img->backing_file)
			return vs_errf(err, ENOMEM, "out of memory");
		if (strlen(q->img->backing_file) != q->h.backing_file_size)
			return vs_errf(err, EINVAL, "backing file name contains NUL bytes");
	}
	/* Name unknown incompatible features now that we know the table. */
	return 0;
}

static size_t ext_put(uint8_t *buf, size_t off, uint32_t type, const void *data, uint32_t len)
{
	qcow2_put32(buf + off, type);
	qcow2_put32(buf + off + 4, len);
	memcpy(buf + off + 8, data, len);
	return off + 8 + ((len + 7) & ~7U);
}

int qcow2_write_header(struct qcow2 *q, struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	vs_cleanup_free uint8_t *buf = calloc(1, cs);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	struct qcow2_header h = q->h;
	size_t need = h.header_length;
	const char *bfmt = q->img->backing_format;
	const char *bfile = q->img->backing_file;
	if (bfmt && bfile)
		need += 8 + ((strlen(bfmt) + 7) & ~7U);
	for (unsigned i = 0; i < q->nexts; i++)
		need += 8 + ((q->exts[i].len + 7) & ~7U);
	need += 8;
	size_t blen = bfile ? strlen(bfile) : 0;
	if (blen > QCOW2_MAX_BACKING_NAME)
		return vs_errf(err, ENAMETOOLONG, "backing file name too long");
	if (need + blen > cs)
		return vs_errf(err, ENOSPC,
			       "header, extensions and backing name do not fit in "
			       "one %" PRIu64 "-byte cluster",
			       cs);
	h.backing_file_offset = bfile ? need : 0;
	h.backing_file_size = (uint32_t)blen;
	/* keep unknown header bytes past the fields we know */
	ssize_t n = pread(q->fd, buf, h.header_length, 0);
	if (n < 0)
		return vs_syserrf(err, errno, "read header");
	qcow2_header_encode(&h, buf);
	size_t off = h.header_length;
	if (bfmt && bfile)
		off = ext_put(buf, off, QCOW2_EXT_BACKING_FORMAT, bfmt, (uint32_t)strlen(bfmt));
	for (unsigned i = 0; i < q->nexts; i++)
		off = ext_put(buf, off, q->exts[i].type, q->exts[i].data, q->exts[i].len);
	qcow2_put32(buf + off, 0);
	qcow2_put32(buf + off + 4, 0);
	off += 8;
	if (bfile)
		memcpy(buf + off, bfile, blen);
	size_t wlen = off + blen;
	if (wlen < 512)
		wlen = 512 < cs ? 512 : cs;
	int r = vs_pwrite_full(q->fd, buf, wlen, 0);
	if (r < 0)
		return vs_syserrf(err, -r, "write header");
	if (fdatasync(q->fd) < 0)
		return vs_syserrf(err, errno, "sync header");
	q->h = h;
	if (q->file_size < wlen)
		q->file_size = wlen;
	return 0;
}

int qcow2_write_header_fields(struct qcow2 *q, size_t start, size_t end, struct vs_err *err)
{
	uint8_t buf[QCOW2_V3_HEADER + 8];
	memset(buf, 0, sizeof(buf));
	struct qcow2_header h = q->h;
	if (h.header_length > QCOW2_V3_HEADER)
		h.header_length = QCOW2_V3_HEADER; /* do not encode byte 104 here */
	qcow2_header_encode(&h, buf);
	if (end > QCOW2_V3_HEADER || start >= end)
		return vs_errf(err, EINVAL, "bad header field range");
	int r = vs_pwrite_full(q->fd, buf + start, end - start, (off_t)start);
	if (r < 0)
		return vs_syserrf(err, -r, "write header");
	if (fdatasync(q->fd) < 0)
		return vs_syserrf(err, errno, "sync header");
	return 0;
}

int qcow2_add_feature_table(struct qcow2 *q)
{
	uint8_t table[48 * VS_ARRAY_SIZE(feature_names)];
	memset(table, 0, sizeof(table));
	for (size_t i = 0; i < VS_ARRAY_SIZE(feature_names); i++) {
		table[i * 48] = feature_names[i].type;
		table[i * 48 + 1] = feature_names[i].bit;
		strncpy((char *)table + i * 48 + 2, feature_names[i].name, 45);
	}
	return ext_add(q, QCOW2_EXT_FEATURE_TABLE, table, sizeof(table));
}
