/*
 * qcow2_check.c - consistency check and repair (qcow2 spec: "Cluster
 * refcounts", "Cluster mapping"), reporting like qemu-img check.
 *
 * The checker recounts every reference from scratch: the header cluster,
 * the refcount table and blocks, the active L1 table and every snapshot's
 * L1 table with the L2 tables and clusters they reach (once per L1 that
 * reaches them), and the snapshot table.  A stored refcount below the count
 * is a corruption (a cluster could be freed while in use); above it is a
 * leak.  Pointers that are unaligned or outside the file, and COPIED flags
 * that disagree with refcount 1, are corruptions too.  Repair rewrites
 * refcounts (leaks: only the too-high ones) and COPIED flags (all).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

struct check {
	struct qcow2 *q;
	uint32_t *counts;
	uint64_t nb_clusters;
	struct disk_check_result *res;
};

static void problem(struct check *c, bool leak, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct check *c, bool leak, const char *fmt, ...)
{
	if (leak)
		c->res->leaks++;
	else
		c->res->corruptions++;
	if (!c->res->first_problem[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->res->first_problem, sizeof(c->res->first_problem), fmt, ap);
		va_end(ap);
	}
}

static void inc(struct check *c, uint64_t off, uint64_t len, const char *what)
{
	if (!len)
		return;
	uint64_t first = off >> c->q->cluster_bits;
	uint64_t last = (off + len - 1) >> c->q->cluster_bits;
	for (uint64_t k = first; k <= last; k++) {
		if (k >= c->nb_clusters) {
			problem(c, false, "%s at 0x%" PRIx64 " is outside the image file", what,
				k << c->q->cluster_bits);
			return;
		}
		if (c->counts[k] < UINT32_MAX)
			c->counts[k]++;
	}
}

static int walk_l1(struct check *c, const uint64_t *l1, uint32_t l1_size, bool active,
		   struct vs_err *err)
{
	struct qcow2 *q = c->q;
	uint64_t cs = q->cluster_size;
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
		if (!l2off)
			continue;
		if (l2off % cs) {
			problem(c, false, "L1 entry %" PRIu32 ": L2 table 0x%" PRIx64 " unaligned",
				i, l2off);
			continue;
		}
		if (l2off >= q->file_size) {
			problem(c, false,
				"L1 entry %" PRIu32 ": L2 table 0x%" PRIx64
				" is outside the image file",
				i, l2off);
			continue;
		}
		if (l1[i] & QCOW2_L1E_RESERVED)
			problem(c, false,
				"L1 entry %" PRIu32 " has reserved bits set (0x%" PRIx64 ")", i,
				l1[i]);
		if (l2off < cs) {
			problem(c, false, "L1 entry %" PRIu32 ": L2 table overlaps the header", i);
			continue;
		}
		inc(c, l2off, cs, "L2 table");
		/* an L2 table is reachable from at most one L1 per snapshot plus
		 * the active one: more means a hostile image, do not walk it again */
		if (c->counts[l2off >> q->cluster_bits] > q->nb_snaps + 1) {
			problem(c, false, "L2 table 0x%" PRIx64 " referenced too often", l2off);
			continue;
		}
		for (uint64_t j = 0; j < q->l2_entries; j++) {
			uint8_t *t;
			int r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err);
			if (r < 0)
				return r;
			uint64_t bitmap;
			uint64_t e = qcow2_l2_entry_read(q, t, j, &bitmap);
			enum qcow2_cluster_type ty = qcow2_l2_entry_type(e, q->extl2, bitmap);
			uint64_t voff = (((uint64_t)i << q->l2_bits) + j) << q->cluster_bits;
			switch (ty) {
			case QCOW2_CLUSTER_UNALLOCATED:
				if (q->extl2 && (bitmap & 0xffffffffULL))
					problem(c, false,
						"offset 0x%" PRIx64 ": subclusters allocated "
						"without a cluster",
						voff);
				break;
			case QCOW2_CLUSTER_ZERO_PLAIN: break;
			case QCOW2_CLUSTER_COMPRESSED: {
				uint64_t host, nbytes;
				qcow2_compressed_decode(q, e, &host, &nbytes);
				inc(c, host & ~511ULL, nbytes + (host & 511), "compressed cluster");
				if (active)
					c->res->allocated_clusters++;
				break;
			}
			case QCOW2_CLUSTER_NORMAL:
			case QCOW2_CLUSTER_ZERO_ALLOC: {
				uint64_t host = e & QCOW2_OFFSET_MASK;
				uint64_t reserved = QCOW2_L2E_RESERVED | (q->extl2 ? 1 : 0);
				if (e & reserved) {
					problem(c, false,
						"offset 0x%" PRIx64
						": L2 entry has reserved bits set "
						"(0x%" PRIx64 ")",
						voff, e);
					break;
				}
				if (host < cs) {
					problem(c, false,
						"offset 0x%" PRIx64
						": data cluster overlaps the header",
						voff);
					break;
				}
				if (host % cs) {
					problem(c, false,
						"offset 0x%" PRIx64 ": data cluster 0x%" PRIx64
						" unaligned",
						voff, host);
					break;
				}
				inc(c, host, cs, "data cluster");
				if (active)
					c->res->allocated_clusters++;
				break;
			}
			}
		}
	}
	return 0;
}

/* Count every reference into c->counts. */
static int count_refs(struct check *c, struct vs_err *err)
{
	struct qcow2 *q = c->q;
	uint64_t cs = q->cluster_size;
	inc(c, 0, cs, "header");
	inc(c, q->h.refcount_table_offset, (uint64_t)q->h.refcount_table_clusters * cs,
	    "refcount table");
	for (uint64_t b = 0; b < q->reftable_entries; b++)
		if (q->reftable[b])
			inc(c, q->reftable[b], cs, "refcount block");
	inc(c, q->h.l1_table_offset, (uint64_t)q->h.l1_size * 8, "L1 table");
	int r = walk_l1(c, q->l1, q->h.l1_size, true, err);
	if (r < 0)
		return r;
	if (q->nb_snaps)
		inc(c, q->h.snapshots_offset, q->snap_table_len, "snapshot table");
	for (unsigned i = 0; i < q->nb_snaps; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		inc(c, s->l1_table_offset, (uint64_t)s->l1_size * 8, "snapshot L1 table");
		vs_cleanup_free uint64_t *l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
		if (!l1)
			return vs_errf(err, ENOMEM, "out of memory");
		if (s->l1_size && (r = vs_pread_full(q->fd, l1, (size_t)s->l1_size * 8,
						     (off_t)s->l1_table_offset)) < 0)
			return vs_syserrf(err, -r, "read snapshot L1 table");
		for (uint32_t k = 0; k < s->l1_size; k++)
			l1[k] = be64toh(l1[k]);
		if ((r = walk_l1(c, l1, s->l1_size, false, err)) < 0)
			return r;
	}
	return 0;
}

/* Compare counts with stored refcounts; fix per repair. */
static int compare_refcounts(struct check *c, enum disk_repair repair, struct vs_err *err)
{
	struct qcow2 *q = c->q;
	/* like qemu-img, only clusters inside the file are compared */
	for (uint64_t k = 0; k < c->nb_clusters; k++) {
		uint64_t b = k >> q->rb_bits;
		if (b >= q->reftable_entries || !q->reftable[b]) {
			if (c->counts[k])
				problem(c, false,
					"cluster 0x%" PRIx64 " in use has no refcount block",
					k << q->cluster_bits);
			continue;
		}
		uint64_t stored;
		int r = qcow2_refcount_get(q, k, &stored, err);
		if (r < 0)
			return r;
		uint64_t want = c->counts[k];
		if (stored == want)
			continue;
		bool leak = stored > want;
		bool fix = repair == DISK_REPAIR_ALL || (leak && repair == DISK_REPAIR_LEAKS);
		if (fix && want <= q->refcount_max) {
			if ((r = qcow2_refcount_set(q, k, want, err)) < 0)
				return r;
			if (leak)
				c->res->leaks_fixed++;
			else
				c->res->corruptions_fixed++;
			continue;
		}
		if (leak)
			problem(c, true,
				"leaked cluster 0x%" PRIx64 " refcount=%" PRIu64
				" reference=%" PRIu64,
				k << q->cluster_bits, stored, want);
		else
			problem(c, false,
				"cluster 0x%" PRIx64 " refcount=%" PRIu64 " reference=%" PRIu64,
				k << q->cluster_bits, stored, want);
	}
	return 0;
}

static int check_copied(struct check *c, enum disk_repair repair, struct vs_err *err)
{
	struct qcow2 *q = c->q;
	uint64_t bad = 0;
	for (uint32_t i = 0; i < q->h.l1_size; i++) {
		uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK;
		if (!l2off || l2off % q->cluster_size || l2off >= q->file_size)
			continue;
		uint64_t rc;
		int r = qcow2_refcount_get(q, qcow2_offset_to_cluster(q, l2off), &rc, err);
		if (r < 0)
			return r;
		if ((rc == 1) != ((q->l1[i] & QCOW2_OFLAG_COPIED) != 0)) {
			bad++;
			problem(c, false,
				"L1 entry %" PRIu32 ": COPIED flag wrong, refcount=%" PRIu64, i,
				rc);
		}
		for (uint64_t j = 0; j < q->l2_entries; j++) {
			uint8_t *t;
			if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err)) < 0)
				return r;
			uint64_t bitmap;
			uint64_t e = qcow2_l2_entry_read(q, t, j, &bitmap);
			enum qcow2_cluster_type ty = qcow2_l2_entry_type(e, q->extl2, bitmap);
			if (ty != QCOW2_CLUSTER_NORMAL && ty != QCOW2_CLUSTER_ZERO_ALLOC)
				continue;
			uint64_t host = e & QCOW2_OFFSET_MASK;
			if (host % q->cluster_size || host >= q->file_size)
				continue;
			if ((r = qcow2_refcount_get(q, qcow2_offset_to_cluster(q, host), &rc,
						    err)) < 0)
				return r;
			if ((rc == 1) != ((e & QCOW2_OFLAG_COPIED) != 0)) {
				bad++;
				problem(c, false,
					"data cluster 0x%" PRIx64
					": COPIED flag wrong, refcount=%" PRIu64,
					host, rc);
			}
		}
	}
	if (bad && repair == DISK_REPAIR_ALL) {
		int r = qcow2_fix_copied_flags(q, err);
		if (r < 0)
			return r;
		c->res->corruptions -= bad;
		c->res->corruptions_fixed += bad;
	}
	return 0;
}

static int check_pass(struct qcow2 *q, enum disk_repair repair, struct disk_check_result *res,
		      struct vs_err *err)
{
	struct check c = { .q = q, .res = res };
	c.nb_clusters = qcow2_size_to_clusters(q, q->file_size);
	if (c.nb_clusters > (1ULL << 32))
		return vs_errf(err, EFBIG, "image file too large to check");
	c.counts = calloc(c.nb_clusters ? c.nb_clusters : 1, sizeof(uint32_t));
	if (!c.counts)
		return vs_errf(err, ENOMEM, "out of memory for %" PRIu64 " refcounts",
			       c.nb_clusters);
	int r = count_refs(&c, err);
	if (r == 0)
		r = compare_refcounts(&c, repair, err);
	if (r == 0 && repair)
		r = qcow2_flush_all(q, err);
	if (r == 0)
		r = check_copied(&c, repair, err);
	uint64_t end = 0;
	for (uint64_t k = 0; k < c.nb_clusters; k++)
		if (c.counts[k])
			end = (k + 1) << q->cluster_bits;
	res->image_end_offset = end;
	res->total_clusters = qcow2_size_to_clusters(q, q->h.size);
	free(c.counts);
	return r;
}

int qcow2_check(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	if (!img->readonly) {
		int r = qcow2_flush_all(q, err);
		if (r < 0)
			return r;
	}
	int r = check_pass(q, repair, res, err);
	if (r < 0 || !repair || (!res->leaks_fixed && !res->corruptions_fixed))
		return r;
	/* double-check the repaired image */
	struct disk_check_result again;
	memset(&again, 0, sizeof(again));
	r = check_pass(q, DISK_REPAIR_NONE, &again, err);
	if (r < 0)
		return r;
	res->leaks = again.leaks;
	res->corruptions = again.corruptions;
	res->allocated_clusters = again.allocated_clusters;
	res->image_end_offset = again.image_end_offset;
	return 0;
}
