/*
 * qcow2_refcount.c - reference counts of host clusters (qcow2 spec:
 * "Cluster refcounts"): the refcount table, refcount blocks of
 * 2^refcount_order-bit entries (orders 0-6), cluster allocation and frees.
 *
 * Invariants:
 *   - every reftable entry in memory was validated (aligned, inside the
 *     file, not the header) when loaded or written by us;
 *   - a new refcount block is written and synced before the reftable entry
 *     that points to it; a grown reftable is written and synced before the
 *     header switches to it (one write of adjacent fields);
 *   - decrements never go straight to a refcount block: they are queued by
 *     qcow2_free_deferred() and applied by qcow2_flush_all() after the
 *     pointers were dropped on disk, so a crash can only leak.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

uint64_t qcow2_refcount_decode(const uint8_t *block, uint64_t index, unsigned order)
{
	switch (order) {
	case 0:
	case 1:
	case 2: {
		unsigned bits = 1U << order;
		uint64_t bit = index * bits;
		return (block[bit / 8] >> (bit % 8)) & ((1U << bits) - 1);
	}
	case 3: return block[index];
	case 4: return qcow2_be16(block + index * 2);
	case 5: return qcow2_be32(block + index * 4);
	default: return qcow2_be64(block + index * 8);
	}
}

void qcow2_refcount_encode(uint8_t *block, uint64_t index, unsigned order, uint64_t value)
{
	switch (order) {
	case 0:
	case 1:
	case 2: {
		unsigned bits = 1U << order;
		uint64_t bit = index * bits;
		uint8_t mask = (uint8_t)(((1U << bits) - 1) << (bit % 8));
		block[bit / 8] =
		    (uint8_t)((block[bit / 8] & ~mask) | ((value << (bit % 8)) & mask));
		break;
	}
	case 3: block[index] = (uint8_t)value; break;
	case 4: qcow2_put16(block + index * 2, (uint16_t)value); break;
	case 5: qcow2_put32(block + index * 4, (uint32_t)value); break;
	default: qcow2_put64(block + index * 8, value); break;
	}
}

int qcow2_refcount_load(struct qcow2 *q, struct vs_err *err)
{
	uint64_t bytes = (uint64_t)q->h.refcount_table_clusters << q->cluster_bits;
	uint64_t entries = bytes / 8;
	vs_cleanup_free uint8_t *raw = malloc(bytes);
	q->reftable = calloc(entries, sizeof(uint64_t));
	if (!raw || !q->reftable)
		return vs_errf(err, ENOMEM, "out of memory for the refcount table");
	int r = vs_pread_full(q->fd, raw, bytes, (off_t)q->h.refcount_table_offset);
	if (r < 0)
		return vs_syserrf(err, -r, "read refcount table");
	q->reftable_entries = entries;
	for (uint64_t i = 0; i < entries; i++) {
		uint64_t e = qcow2_be64(raw + i * 8);
		if (e & QCOW2_REFT_RESERVED || e % q->cluster_size)
			return vs_errf(err, EINVAL,
				       "refcount table entry %" PRIu64 " (0x%" PRIx64
				       ") is not cluster aligned",
				       i, e);
		if (e && (e >= q->file_size || q->file_size - e < q->cluster_size))
			return vs_errf(err, EINVAL,
				       "refcount block %" PRIu64 " at 0x%" PRIx64
				       " is outside the file",
				       i, e);
		if (e && e < q->cluster_size)
			return vs_errf(err, EINVAL,
				       "refcount block %" PRIu64 " overlaps the header", i);
		q->reftable[i] = e;
	}
	return 0;
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *refcount, struct vs_err *err)
{
	uint64_t b = cluster >> q->rb_bits;
	if (b >= q->reftable_entries || !q->reftable[b]) {
		*refcount = 0;
		return 0;
	}
	uint8_t *block;
	int r = qcow2_cache_get(q, &q->rb_cache, q->reftable[b], false, &block, err);
	if (r < 0)
		return r;
	*refcount =
	    qcow2_refcount_decode(block, cluster & ((1ULL << q->rb_bits) - 1), q->h.refcount_order);
	return 0;
}

int qcow2_extend_file(struct qcow2 *q, uint64_t end, struct vs_err *err)
{
	if (end <= q->file_size)
		return 0;
	if (ftruncate(q->fd, (off_t)end) < 0)
		return vs_syserrf(err, errno, "extend %s", q->img->path);
	q->file_size = end;
	return 0;
}

static bool block_present(const struct qcow2 *q, uint64_t b)
{
	return b < q->reftable_entries && q->reftable[b];
}

/* Does [off, off+len) touch the header, the refcount table or the L1 table? */
static bool overlaps_fixed_metadata(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t rt = q->h.refcount_table_offset;
	uint64_t rtl = (uint64_t)q->h.refcount_table_clusters << q->cluster_bits;
	uint64_t l1 = q->h.l1_table_offset, l1l = (uint64_t)q->h.l1_size * 8;
	return off < q->cluster_size || (rtl && off < rt + rtl && rt < off + len) ||
	       (l1l && off < l1 + l1l && l1 < off + len);
}

/*
 * First run of n clusters at or after *cluster whose refcounts are all 0
 * (a range without a refcount block is free).  Only looks: nothing is
 * counted.  A free run over the header, the refcount table or the L1 table
 * means the refcounts are wrong; writing there would destroy metadata.
 */
static int find_free(struct qcow2 *q, uint64_t n, uint64_t *cluster, struct vs_err *err)
{
	uint64_t c = *cluster, run = 0;
	uint64_t limit = QCOW2_OFFSET_MASK >> q->cluster_bits;
	while (run < n) {
		if (c + n > limit)
			return vs_errf(err, ENOSPC, "image file would exceed the format's limit");
		uint64_t x = c + run, b = x >> q->rb_bits;
		if (!block_present(q, b)) {
			run += ((b + 1) << q->rb_bits) - x;
			continue;
		}
		uint64_t rc;
		int r = qcow2_refcount_get(q, x, &rc, err);
		if (r < 0)
			return r;
		if (rc) {
			c = x + 1;
			run = 0;
		} else {
			run++;
		}
	}
	if (overlaps_fixed_metadata(q, c << q->cluster_bits, n << q->cluster_bits))
		return vs_errf(err, EIO,
			       "corrupt image: metadata near 0x%" PRIx64 " has refcount 0",
			       c << q->cluster_bits);
	*cluster = c;
	return 0;
}

/* Point reftable entry b at a refcount block already written and synced. */
static int reftable_set_entry(struct qcow2 *q, uint64_t b, uint64_t off, struct vs_err *err)
{
	uint8_t be[8];
	qcow2_put64(be, off);
	int r = vs_pwrite_full(q->fd, be, 8, (off_t)(q->h.refcount_table_offset + b * 8));
	if (r == 0 && fdatasync(q->fd) < 0)
		r = -errno;
	if (r < 0) {
		q->broken = true;
		return vs_syserrf(err, -r, "write refcount table");
	}
	q->reftable[b] = off;
	return 0;
}

/*
 * Layout of a refcount area starting at cluster s (see reftable_grow): a
 * table of at least want entries, which also covers the area itself, and
 * nb_new new refcount blocks for the ranges of the area that have none.
 */
static int area_layout(const struct qcow2 *q, uint64_t s, uint64_t want, uint64_t *entries,
		       uint64_t *nb_new, uint64_t *table_clusters, struct vs_err *err)
{
	uint64_t per_cluster = q->cluster_size / 8;
	for (;;) {
		want = (want + per_cluster - 1) / per_cluster * per_cluster;
		uint64_t tc = want / per_cluster;
		if (tc * q->cluster_size > QCOW2_MAX_REFT_BYTES)
			return vs_errf(err, EFBIG, "refcount table would exceed %llu bytes",
				       (unsigned long long)QCOW2_MAX_REFT_BYTES);
		uint64_t nb = 0;
		for (;;) { /* new blocks can cover themselves: a fixed point */
			uint64_t count = 0, last = (s + nb + tc - 1) >> q->rb_bits;
			for (uint64_t b = s >> q->rb_bits; b <= last; b++)
				count += !block_present(q, b);
			if (count == nb)
				break;
			nb = count;
		}
		uint64_t last = (s + nb + tc - 1) >> q->rb_bits;
		if (last < want) {
			*entries = want;
			*nb_new = nb;
			*table_clusters = tc;
			return 0;
		}
		want = last + 1;
	}
}

/*
 * Grow the refcount table to at least min_entries (QEMU's "refcount
 * area"): the new refcount blocks and the new table go to free clusters at
 * the end of the file, one contiguous area that describes itself (its
 * clusters are counted in the new blocks, or in existing blocks when their
 * ranges have one).  Blocks and table are written and synced before the
 * header switches to the new table in one write; the old table is freed
 * afterwards.  A crash before the switch leaves leaked clusters only.
 */
static int reftable_grow(struct qcow2 *q, uint64_t min_entries, struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	uint64_t want = q->reftable_entries * 2, cap = QCOW2_MAX_REFT_BYTES / 8;
	if (want > cap) /* doubling would pass the limit: take what is left */
		want = cap;
	if (want < min_entries)
		want = min_entries;
	uint64_t s = qcow2_size_to_clusters(q, q->file_size);
	uint64_t entries = 0, nb_new = 0, tc = 0;
	int r;
	for (bool busy = true; busy;) {
		if ((r = area_layout(q, s, want, &entries, &nb_new, &tc, err)) < 0)
			return r;
		/* clusters past the end of the file may be allocated but not yet
		 * written, or leaked: the area goes past them */
		busy = false;
		for (uint64_t x = s; x < s + nb_new + tc && !busy; x++) {
			uint64_t rc = 0;
			if (block_present(q, x >> q->rb_bits) &&
			    (r = qcow2_refcount_get(q, x, &rc, err)) < 0)
				return r;
			if (rc) {
				s = x + 1;
				busy = true;
			}
		}
	}
	uint64_t total = nb_new + tc;
	vs_cleanup_free uint64_t *nt = calloc(entries, sizeof(uint64_t));
	vs_cleanup_free uint8_t *blocks = calloc(nb_new ? nb_new : 1, cs);
	vs_cleanup_free uint8_t *raw = calloc(tc, cs);
	if (!nt || !blocks || !raw)
		return vs_errf(err, ENOMEM, "out of memory growing the refcount table");
	memcpy(nt, q->reftable, q->reftable_entries * sizeof(uint64_t));
	uint64_t k = 0;
	for (uint64_t b = s >> q->rb_bits; b <= (s + total - 1) >> q->rb_bits; b++)
		if (!block_present(q, b))
			nt[b] = (s + k++) << q->cluster_bits;
	for (uint64_t x = s; x < s + total; x++) {
		uint64_t b = x >> q->rb_bits;
		if (block_present(q, b)) {
			if ((r = qcow2_refcount_set(q, x, 1, err)) < 0)
				return r;
		} else {
			uint64_t j = (nt[b] >> q->cluster_bits) - s;
			qcow2_refcount_encode(blocks + j * cs, x & ((1ULL << q->rb_bits) - 1),
					      q->h.refcount_order, 1);
		}
	}
	for (uint64_t i = 0; i < entries; i++)
		qcow2_put64(raw + i * 8, nt[i]);
	r = vs_pwrite_full(q->fd, blocks, nb_new * cs, (off_t)(s << q->cluster_bits));
	if (r == 0)
		r = vs_pwrite_full(q->fd, raw, tc * cs, (off_t)((s + nb_new) << q->cluster_bits));
	if (r < 0)
		return vs_syserrf(err, -r, "write grown refcount table");
	if ((s + total) << q->cluster_bits > q->file_size)
		q->file_size = (s + total) << q->cluster_bits;
	r = qcow2_cache_write_rb(q, false, err);
	if (r == 0 && fdatasync(q->fd) < 0)
		r = vs_syserrf(err, errno, "sync");
	if (r < 0)
		return r;
	uint64_t old_off = q->h.refcount_table_offset;
	uint32_t old_clusters = q->h.refcount_table_clusters;
	q->h.refcount_table_offset = (s + nb_new) << q->cluster_bits;
	q->h.refcount_table_clusters = (uint32_t)tc;
	r = qcow2_write_header_fields(q, 48, 60, err);
	if (r < 0) {
		q->h.refcount_table_offset = old_off;
		q->h.refcount_table_clusters = old_clusters;
		q->broken = true;
		return r;
	}
	free(q->reftable);
	q->reftable = nt;
	nt = NULL;
	q->reftable_entries = entries;
	return qcow2_free_deferred(q, old_off, (uint64_t)old_clusters << q->cluster_bits, err);
}

/*
 * Make progress towards a refcount block for range b, which has none (as
 * QEMU's alloc_refcount_block): the block goes to the first free cluster,
 * wherever it is.  If that cluster's own range has no block either, the
 * new block describes itself and serves that range (the caller asks again
 * for b); if the cluster lies past what the table covers, the table grows
 * first.  Either way the caller must search its free run again: the new
 * metadata may sit in it.  Ordering: the new block and its own refcount
 * are written and synced (one sync) before the table entry is.
 */
static int refblock_add(struct qcow2 *q, uint64_t b, struct vs_err *err)
{
	if (b >= q->reftable_entries)
		return reftable_grow(q, b + 1, err);
	uint64_t p = q->free_hint;
	int r = find_free(q, 1, &p, err);
	if (r < 0)
		return r;
	uint64_t pb = p >> q->rb_bits, off = p << q->cluster_bits;
	if (pb >= q->reftable_entries)
		return reftable_grow(q, pb + 1, err);
	bool self = !q->reftable[pb];
	if (self)
		b = pb;
	else if ((r = qcow2_refcount_set(q, p, 1, err)) < 0)
		return r;
	uint8_t *block;
	if ((r = qcow2_cache_get(q, &q->rb_cache, off, true, &block, err)) < 0)
		return r;
	if (self)
		qcow2_refcount_encode(block, p & ((1ULL << q->rb_bits) - 1), q->h.refcount_order,
				      1);
	r = vs_pwrite_full(q->fd, block, q->cluster_size, (off_t)off);
	if (r < 0) {
		qcow2_cache_discard(&q->rb_cache, off);
		return vs_syserrf(err, -r, "write refcount block");
	}
	if (off + q->cluster_size > q->file_size)
		q->file_size = off + q->cluster_size;
	/* the new block, and its own refcount when block pb holds it, are
	 * on disk before the table entry: one sync for both */
	if ((r = qcow2_cache_write_rb(q, false, err)) < 0)
		return r;
	if (fdatasync(q->fd) < 0) {
		q->broken = true;
		return vs_syserrf(err, errno, "sync %s", q->img->path);
	}
	return reftable_set_entry(q, b, off, err);
}

int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t value, struct vs_err *err)
{
	uint64_t b = cluster >> q->rb_bits;
	if (!block_present(q, b))
		return vs_errf(err, EIO,
			       "corrupt image: cluster 0x%" PRIx64 " has no refcount block",
			       cluster << q->cluster_bits);
	uint8_t *block;
	int r = qcow2_cache_get(q, &q->rb_cache, q->reftable[b], false, &block, err);
	if (r < 0)
		return r;
	qcow2_refcount_encode(block, cluster & ((1ULL << q->rb_bits) - 1), q->h.refcount_order,
			      value);
	qcow2_cache_mark_dirty(&q->rb_cache, block);
	if (value == 0) {
		if (cluster < q->free_hint)
			q->free_hint = cluster;
		qcow2_cache_discard(&q->l2_cache, cluster << q->cluster_bits);
	}
	return 0;
}

int qcow2_refcount_update(struct qcow2 *q, uint64_t offset, uint64_t len, int addend,
			  struct vs_err *err)
{
	if (len == 0)
		return 0;
	uint64_t first = offset >> q->cluster_bits;
	uint64_t last = (offset + len - 1) >> q->cluster_bits;
	/* check every cluster first: a refused update changes nothing */
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t c = first; c <= last; c++) {
			uint64_t rc;
			int r = qcow2_refcount_get(q, c, &rc, err);
			if (r < 0)
				return r;
			if (pass == 1) {
				r = qcow2_refcount_set(q, c, rc + (uint64_t)(int64_t)addend, err);
				if (r < 0)
					return r;
			} else if (addend < 0 && rc < (uint64_t)-addend) {
				return vs_errf(err, EINVAL,
					       "refcount of cluster 0x%" PRIx64
					       " would drop below zero",
					       c << q->cluster_bits);
			} else if (addend > 0 && q->refcount_max - rc < (uint64_t)addend) {
				return vs_errf(err, EOVERFLOW,
					       "refcount of cluster 0x%" PRIx64
					       " would exceed %" PRIu64 " (the image has %u-bit "
					       "refcounts)",
					       c << q->cluster_bits, q->refcount_max,
					       q->refcount_bits);
			}
		}
	}
	return 0;
}

int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *offset, struct vs_err *err)
{
	uint64_t c = q->free_hint;
	for (;;) {
		int r = find_free(q, n, &c, err);
		if (r < 0)
			return r;
		/* every cluster of the run needs a refcount block before it is
		 * counted; making one may take clusters of the run, so search
		 * again from c (everything before c stays too short or used) */
		bool added = false;
		for (uint64_t b = c >> q->rb_bits; b <= (c + n - 1) >> q->rb_bits && !added; b++) {
			if (block_present(q, b))
				continue;
			if ((r = refblock_add(q, b, err)) < 0)
				return r;
			added = true;
		}
		if (added)
			continue;
		for (uint64_t i = 0; i < n; i++)
			if ((r = qcow2_refcount_set(q, c + i, 1, err)) < 0)
				return r;
		if (n == 1 || c == q->free_hint)
			q->free_hint = c + n;
		*offset = c << q->cluster_bits;
		return 0;
	}
}

int qcow2_alloc_bytes(struct qcow2 *q, uint64_t size, uint64_t *offset, struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	uint64_t cur = q->comp_next;
	uint64_t rc = 0;
	int r;
	/* share the last compressed cluster while its refcount has room (with
	 * 1-bit refcounts, never), as QEMU does */
	if (cur && cur % cs && (r = qcow2_refcount_get(q, cur >> q->cluster_bits, &rc, err)) < 0)
		return r;
	if (cur && cur % cs && rc && rc < q->refcount_max) {
		uint64_t remaining = cs - cur % cs;
		uint64_t first = cur >> q->cluster_bits;
		if (size <= remaining) {
			r = qcow2_refcount_update(q, cur, 1, 1, err);
			if (r < 0)
				return r;
			*offset = cur;
			q->comp_next = cur + size;
			return 0;
		}
		/* try to continue into the clusters right after */
		uint64_t extra = (size - remaining + cs - 1) / cs;
		bool free_run = true;
		for (uint64_t i = 1; i <= extra && free_run; i++) {
			r = qcow2_refcount_get(q, first + i, &rc, err);
			if (r < 0)
				return r;
			free_run = rc == 0 && block_present(q, (first + i) >> q->rb_bits);
		}
		if (free_run) {
			r = qcow2_refcount_update(q, cur, 1, 1, err);
			for (uint64_t i = 1; r == 0 && i <= extra; i++)
				r = qcow2_refcount_set(q, first + i, 1, err);
			if (r < 0)
				return r;
			*offset = cur;
			q->comp_next = cur + size;
			return 0;
		}
	}
	uint64_t off;
	r = qcow2_alloc_clusters(q, (size + cs - 1) / cs, &off, err);
	if (r < 0)
		return r;
	*offset = off;
	q->comp_next = off + size;
	return 0;
}

int qcow2_free_deferred(struct qcow2 *q, uint64_t offset, uint64_t len, struct vs_err *err)
{
	if (len == 0)
		return 0;
	if (q->npending &&
	    q->pending[q->npending - 1].offset + q->pending[q->npending - 1].len == offset &&
	    offset % q->cluster_size == 0 && len % q->cluster_size == 0 &&
	    q->pending[q->npending - 1].len % q->cluster_size == 0) {
		q->pending[q->npending - 1].len += len;
		return 0;
	}
	if (q->npending == q->pending_cap) {
		size_t cap = q->pending_cap ? q->pending_cap * 2 : 64;
		struct qcow2_free *n = realloc(q->pending, cap * sizeof(*n));
		if (!n)
			return vs_errf(err, ENOMEM, "out of memory");
		q->pending = n;
		q->pending_cap = cap;
	}
	q->pending[q->npending++] = (struct qcow2_free){ offset, len };
	if (q->comp_next && offset <= q->comp_next && q->comp_next < offset + len + q->cluster_size)
		q->comp_next = 0;
	return 0;
}

int qcow2_apply_pending_frees(struct qcow2 *q, struct vs_err *err)
{
	while (q->npending) {
		struct qcow2_free f = q->pending[q->npending - 1];
		int r = qcow2_refcount_update(q, f.offset, f.len, -1, err);
		if (r < 0)
			return r;
		q->npending--;
		for (uint64_t o = f.offset & ~(q->cluster_size - 1); o < f.offset + f.len;
		     o += q->cluster_size)
			qcow2_cache_discard(&q->l2_cache, o);
	}
	return 0;
}
