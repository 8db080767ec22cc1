/*
 * qcow2_cluster.c - guest-to-host translation (qcow2 spec: "Cluster
 * mapping", "Extended L2 Entries", "Compressed Clusters Descriptor"): L1
 * and L2 tables, L2 entry decoding, L2 allocation and copy-on-write of
 * shared L2 tables, L1 growth.
 *
 * Invariants: an L1 entry is written (and synced) only after the L2 table
 * it points to was written and synced; an L2 table reached through an L1
 * entry with the COPIED flag is owned by the active image alone (refcount
 * 1) and may be changed in place, otherwise it is copied first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

void qcow2_compressed_decode(const struct qcow2 *q, uint64_t entry, uint64_t *host,
			     uint64_t *nbytes)
{
	uint64_t off = entry & q->coffset_mask;
	uint64_t sectors = ((entry >> q->csize_shift) & q->csize_mask) + 1;
	*host = off;
	*nbytes = sectors * 512 - (off & 511);
}

void qcow2_l2_entry_write(struct qcow2 *q, uint8_t *table, uint64_t index, uint64_t entry,
			  uint64_t bitmap)
{
	if (q->extl2) {
		qcow2_put64(table + index * 16, entry);
		qcow2_put64(table + index * 16 + 8, bitmap);
	} else {
		qcow2_put64(table + index * 8, entry);
	}
	qcow2_cache_mark_dirty(&q->l2_cache, table);
}

int qcow2_l1_write_entry(struct qcow2 *q, uint64_t index, struct vs_err *err)
{
	uint8_t be[8];
	qcow2_put64(be, q->l1[index]);
	int r = vs_pwrite_full(q->fd, be, 8, (off_t)(q->h.l1_table_offset + index * 8));
	if (r == 0 && fdatasync(q->fd) < 0)
		r = -errno;
	if (r < 0) {
		q->broken = true;
		return vs_syserrf(err, -r, "write L1 entry %" PRIu64, index);
	}
	return 0;
}

static int l2_offset_check(struct qcow2 *q, uint64_t l1_index, uint64_t l2off, struct vs_err *err)
{
	if (l2off & (q->cluster_size - 1))
		return vs_errf(err, EIO,
			       "corrupt image: L2 table %" PRIu64 " at 0x%" PRIx64
			       " is not cluster aligned",
			       l1_index, l2off);
	if (l2off < q->cluster_size || l2off > q->file_size ||
	    q->file_size - l2off < q->cluster_size)
		return vs_errf(err, EIO,
			       "corrupt image: L2 table %" PRIu64 " at 0x%" PRIx64
			       " is outside the file or overlaps the header",
			       l1_index, l2off);
	return 0;
}

int qcow2_l2_table(struct qcow2 *q, uint64_t voff, bool alloc, uint8_t **table, uint64_t *index,
		   struct vs_err *err)
{
	uint64_t l1i = voff >> (q->cluster_bits + q->l2_bits);
	*index = (voff >> q->cluster_bits) & (q->l2_entries - 1);
	*table = NULL;
	if (l1i >= q->h.l1_size)
		return vs_errf(err, EIO, "offset 0x%" PRIx64 " beyond the L1 table", voff);
	uint64_t l1e = q->l1[l1i];
	uint64_t l2off = l1e & QCOW2_OFFSET_MASK;
	int r;
	if (l2off && (r = l2_offset_check(q, l1i, l2off, err)) < 0)
		return r;
	if (!alloc || (l2off && (l1e & QCOW2_OFLAG_COPIED))) {
		if (!l2off)
			return 0;
		return qcow2_cache_get(q, &q->l2_cache, l2off, false, table, err);
	}
	/* a new L2 table, or a copy of one shared with a snapshot */
	uint64_t nt;
	r = qcow2_alloc_clusters(q, 1, &nt, err);
	if (r < 0)
		return r;
	if (l2off) {
		uint8_t *old;
		r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &old, err);
		if (r < 0)
			return r;
		memcpy(q->bounce2, old, q->cluster_size);
	}
	uint8_t *t;
	r = qcow2_cache_get(q, &q->l2_cache, nt, true, &t, err);
	if (r < 0)
		return r;
	if (l2off)
		memcpy(t, q->bounce2, q->cluster_size);
	qcow2_cache_mark_dirty(&q->l2_cache, t);
	r = qcow2_cache_write_l2(q, true, err);
	if (r < 0)
		return r;
	q->l1[l1i] = nt | QCOW2_OFLAG_COPIED;
	r = qcow2_l1_write_entry(q, l1i, err);
	if (r < 0)
		return r;
	if (l2off && (r = qcow2_free_deferred(q, l2off, q->cluster_size, err)) < 0)
		return r;
	return qcow2_cache_get(q, &q->l2_cache, nt, false, table, err);
}

int qcow2_l2_get(struct qcow2 *q, uint64_t voff, uint64_t *entry, uint64_t *bitmap,
		 struct vs_err *err)
{
	uint8_t *t;
	uint64_t i;
	int r = qcow2_l2_table(q, voff, false, &t, &i, err);
	if (r < 0)
		return r;
	if (!t) {
		*entry = 0;
		*bitmap = 0;
		return 0;
	}
	*entry = qcow2_l2_entry_read(q, t, i, bitmap);
	return 0;
}

int qcow2_grow_l1(struct qcow2 *q, uint64_t min_entries, struct vs_err *err)
{
	if (min_entries <= q->h.l1_size)
		return 0;
	if (min_entries * 8 > QCOW2_MAX_L1_BYTES)
		return vs_errf(err, EFBIG, "L1 table of %" PRIu64 " entries would be too large",
			       min_entries);
	uint64_t cs = q->cluster_size;
	uint64_t bytes = (min_entries * 8 + cs - 1) / cs * cs;
	uint64_t *nl1 = calloc(bytes / 8, sizeof(uint64_t));
	vs_cleanup_free uint8_t *raw = calloc(1, bytes);
	if (!nl1 || !raw) {
		free(nl1);
		return vs_errf(err, ENOMEM, "out of memory for the L1 table");
	}
	memcpy(nl1, q->l1, (size_t)q->h.l1_size * 8);
	for (uint64_t i = 0; i < min_entries; i++)
		qcow2_put64(raw + i * 8, nl1[i]);
	uint64_t off;
	int r = qcow2_alloc_clusters(q, bytes / cs, &off, err);
	if (r == 0) {
		r = vs_pwrite_full(q->fd, raw, bytes, (off_t)off);
		if (r < 0)
			r = vs_syserrf(err, -r, "write L1 table");
		else if (off + bytes > q->file_size)
			q->file_size = off + bytes;
	}
	if (r == 0)
		r = qcow2_cache_write_rb(q, true, err);
	if (r < 0) {
		free(nl1);
		return r;
	}
	uint64_t old_off = q->h.l1_table_offset, old_len = (uint64_t)q->h.l1_size * 8;
	uint32_t old_size = q->h.l1_size;
	q->h.l1_size = (uint32_t)min_entries;
	q->h.l1_table_offset = off;
	r = qcow2_write_header_fields(q, 36, 48, err);
	if (r < 0) {
		q->h.l1_size = old_size;
		q->h.l1_table_offset = old_off;
		q->broken = true;
		free(nl1);
		return r;
	}
	free(q->l1);
	q->l1 = nl1;
	if (old_len)
		return qcow2_free_deferred(q, old_off, (old_len + cs - 1) / cs * cs, err);
	return 0;
}
