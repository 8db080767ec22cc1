/*
 * qcow2_snapshot.c - internal snapshots (qcow2 spec: "Snapshots"): the
 * snapshot table, and create/apply/delete with the refcount bookkeeping.
 *
 * A snapshot is a copy of the active L1 table; every L2 table and cluster
 * it reaches gains one reference, so the active image copies before it
 * writes (COPIED flags cleared).  Ordering:
 *   create: +1 refcounts (synced) -> COPIED cleared -> L1 copy and new
 *           snapshot table written and synced -> one header write
 *           (nb_snapshots + snapshots_offset) switches to the new table;
 *   delete: new table without the entry -> header switch -> -1 refcounts;
 *   apply:  +1 for the snapshot's clusters (synced) -> active L1 rewritten
 *           -> -1 for the old active clusters.
 * A crash anywhere leaves refcounts >= references: leaks, not corruption.
 * One window cannot be closed in this format (QEMU has it too): COPIED
 * flags and refcounts live in different clusters, so a crash between
 * raising a refcount to 2 and clearing COPIED (or lowering it to 1 and
 * setting COPIED) leaves flags that `check` reports; they are harmless
 * (the snapshot entry is published last / removed first, so no shared
 * cluster is ever written in place) and `check -r all` rewrites them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

#define SNAP_MAX_EXTRA 1024
#define SNAP_MAX_TABLE (64ULL << 20)
#define SNAP_FIXED     40

void qcow2_snapshots_free(struct qcow2 *q)
{
	for (unsigned i = 0; i < q->nb_snaps; i++) {
		free(q->snaps[i].id);
		free(q->snaps[i].name);
		free(q->snaps[i].extra);
	}
	free(q->snaps);
	q->snaps = NULL;
	q->nb_snaps = 0;
}

int qcow2_snapshots_load(struct qcow2 *q, struct vs_err *err)
{
	uint32_t n = q->h.nb_snapshots;
	if (!n)
		return 0;
	q->snaps = calloc(n, sizeof(*q->snaps));
	if (!q->snaps)
		return vs_errf(err, ENOMEM, "out of memory");
	uint64_t off = q->h.snapshots_offset;
	for (uint32_t i = 0; i < n; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		q->nb_snaps = i + 1;
		uint8_t h[SNAP_FIXED];
		if (off - q->h.snapshots_offset > SNAP_MAX_TABLE)
			return vs_errf(err, EFBIG, "snapshot table too large");
		if (off + SNAP_FIXED > q->file_size ||
		    vs_pread_full(q->fd, h, sizeof(h), (off_t)off) < 0)
			return vs_errf(err, EINVAL, "snapshot table truncated at entry %" PRIu32,
				       i);
		s->l1_table_offset = qcow2_be64(h);
		s->l1_size = qcow2_be32(h + 8);
		uint16_t id_len = qcow2_be16(h + 12), name_len = qcow2_be16(h + 14);
		s->date_sec = qcow2_be32(h + 16);
		s->date_nsec = qcow2_be32(h + 20);
		s->vm_clock_nsec = qcow2_be64(h + 24);
		s->vm_state_size = qcow2_be32(h + 32);
		s->extra_size = qcow2_be32(h + 36);
		if (s->extra_size > SNAP_MAX_EXTRA)
			return vs_errf(err, EINVAL, "snapshot %" PRIu32 ": extra data too large",
				       i);
		if (s->l1_size > QCOW2_MAX_L1_BYTES / 8)
			return vs_errf(err, EFBIG, "snapshot %" PRIu32 ": L1 table too large", i);
		if (s->l1_table_offset % q->cluster_size || (s->l1_size && !s->l1_table_offset) ||
		    s->l1_table_offset > q->file_size ||
		    (uint64_t)s->l1_size * 8 > q->file_size - s->l1_table_offset)
			return vs_errf(err, EINVAL,
				       "snapshot %" PRIu32 ": L1 table at 0x%" PRIx64
				       " is invalid or outside the file",
				       i, s->l1_table_offset);
		uint64_t var = (uint64_t)s->extra_size + id_len + name_len;
		vs_cleanup_free uint8_t *v = malloc(var + 1);
		if (!v)
			return vs_errf(err, ENOMEM, "out of memory");
		if (off + SNAP_FIXED + var > q->file_size ||
		    vs_pread_full(q->fd, v, var, (off_t)(off + SNAP_FIXED)) < 0)
			return vs_errf(err, EINVAL, "snapshot table truncated at entry %" PRIu32,
				       i);
		s->extra = malloc(s->extra_size ? s->extra_size : 1);
		s->id = strndup((char *)v + s->extra_size, id_len);
		s->name = strndup((char *)v + s->extra_size + id_len, name_len);
		if (!s->extra || !s->id || !s->name)
			return vs_errf(err, ENOMEM, "out of memory");
		memcpy(s->extra, v, s->extra_size);
		s->disk_size = q->h.size;
		if (s->extra_size >= 8)
			s->vm_state_size = qcow2_be64(v);
		if (s->extra_size >= 16)
			s->disk_size = qcow2_be64(v + 8);
		else if (q->h.version >= 3)
			return vs_errf(err, EINVAL, "snapshot %" PRIu32 ": extra data too short",
				       i);
		if (s->extra_size >= 24) {
			s->icount = qcow2_be64(v + 16);
			s->has_icount = true;
		}
		off += (SNAP_FIXED + var + 7) & ~7ULL;
	}
	q->snap_table_len = off - q->h.snapshots_offset;
	return 0;
}

static size_t snap_entry_size(const struct qcow2_snapshot *s)
{
	uint32_t extra = s->extra_size < 16 ? 16 : s->extra_size;
	return (SNAP_FIXED + extra + strlen(s->id) + strlen(s->name) + 7) & ~7UL;
}

/* Write q->snaps as a new table and switch the header to it. */
static int snapshot_table_write(struct qcow2 *q, struct vs_err *err)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < q->nb_snaps; i++)
		total += snap_entry_size(&q->snaps[i]);
	uint64_t new_off = 0;
	int r;
	if (total) {
		vs_cleanup_free uint8_t *buf = calloc(1, total);
		if (!buf)
			return vs_errf(err, ENOMEM, "out of memory");
		uint8_t *p = buf;
		for (unsigned i = 0; i < q->nb_snaps; i++) {
			struct qcow2_snapshot *s = &q->snaps[i];
			uint32_t extra = s->extra_size < 16 ? 16 : s->extra_size;
			size_t idl = strlen(s->id), nl = strlen(s->name);
			qcow2_put64(p, s->l1_table_offset);
			qcow2_put32(p + 8, s->l1_size);
			qcow2_put16(p + 12, (uint16_t)idl);
			qcow2_put16(p + 14, (uint16_t)nl);
			qcow2_put32(p + 16, s->date_sec);
			qcow2_put32(p + 20, s->date_nsec);
			qcow2_put64(p + 24, s->vm_clock_nsec);
			qcow2_put32(p + 32,
				    s->vm_state_size > UINT32_MAX ? 0 : (uint32_t)s->vm_state_size);
			qcow2_put32(p + 36, extra);
			memcpy(p + SNAP_FIXED, s->extra, s->extra_size);
			qcow2_put64(p + SNAP_FIXED, s->vm_state_size);
			qcow2_put64(p + SNAP_FIXED + 8, s->disk_size);
			memcpy(p + SNAP_FIXED + extra, s->id, idl);
			memcpy(p + SNAP_FIXED + extra + idl, s->name, nl);
			p += snap_entry_size(s);
		}
		uint64_t clusters = qcow2_size_to_clusters(q, total);
		if ((r = qcow2_alloc_clusters(q, clusters, &new_off, err)) < 0)
			return r;
		if ((r = vs_pwrite_full(q->fd, buf, total, (off_t)new_off)) < 0)
			return vs_syserrf(err, -r, "write snapshot table");
		if (new_off + clusters * q->cluster_size > q->file_size &&
		    (r = qcow2_extend_file(q, new_off + clusters * q->cluster_size, err)) < 0)
			return r;
	}
	if ((r = qcow2_flush_all(q, err)) < 0)
		return r;
	uint64_t old_off = q->h.nb_snapshots ? q->h.snapshots_offset : 0;
	uint64_t old_len = q->snap_table_len;
	q->h.nb_snapshots = q->nb_snaps;
	q->h.snapshots_offset = new_off;
	if ((r = qcow2_write_header_fields(q, 60, 72, err)) < 0) {
		q->broken = true;
		return r;
	}
	q->snap_table_len = total;
	if (old_off && old_len)
		return qcow2_free_deferred(
		    q, old_off, (old_len + q->cluster_size - 1) & ~(q->cluster_size - 1), err);
	return 0;
}

/* Read an L1 table (host-endian); the active one comes from memory. */
static int l1_read(struct qcow2 *q, uint64_t off, uint32_t size, uint64_t **out, struct vs_err *err)
{
	uint64_t *l1 = calloc(size ? size : 1, sizeof(uint64_t));
	if (!l1)
		return vs_errf(err, ENOMEM, "out of memory");
	if (off == q->h.l1_table_offset) {
		memcpy(l1, q->l1, (size_t)size * 8);
	} else if (size) {
		int r = vs_pread_full(q->fd, l1, (size_t)size * 8, (off_t)off);
		if (r < 0) {
			free(l1);
			return vs_syserrf(err, -r, "read L1 table at 0x%" PRIx64, off);
		}
		for (uint32_t i = 0; i < size; i++)
			l1[i] = be64toh(l1[i]);
	}
	*out = l1;
	return 0;
}

int qcow2_snapshot_l1(struct qcow2 *q, const struct qcow2_snapshot *s, uint64_t **out,
		      struct vs_err *err)
{
	return l1_read(q, s->l1_table_offset, s->l1_size, out, err);
}

static int entry_refcount(struct qcow2 *q, uint64_t entry, int addend, struct vs_err *err)
{
	enum qcow2_cluster_type t = qcow2_l2_entry_type(entry, q->extl2, 0);
	if (t == QCOW2_CLUSTER_COMPRESSED) {
		uint64_t host, nbytes;
		qcow2_compressed_decode(q, entry, &host, &nbytes);
		return qcow2_refcount_update(q, host & ~511ULL, nbytes + (host & 511), addend, err);
	}
	uint64_t off = entry & QCOW2_OFFSET_MASK;
	if (!off)
		return 0;
	if (off % q->cluster_size)
		return vs_errf(err, EIO, "corrupt image: unaligned cluster 0x%" PRIx64, off);
	return qcow2_refcount_update(q, off, q->cluster_size, addend, err);
}

/* Add addend to the refcounts an L1 table holds (its L2 tables and their
 * clusters), stopping after limit updates; *done counts the updates made. */
static int l1_refcounts_walk(struct qcow2 *q, const uint64_t *l1, uint32_t l1_size, int addend,
			     uint64_t limit, uint64_t *done, struct vs_err *err)
{
	int r = 0;
	*done = 0;
	for (uint32_t i = 0; i < l1_size && r == 0 && *done < limit; i++) {
		uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
		if (!l2off)
			continue;
		if (l2off % q->cluster_size || l2off + q->cluster_size > q->file_size)
			return vs_errf(err, EIO, "corrupt image: L2 table at 0x%" PRIx64, l2off);
		for (uint64_t j = 0; j < q->l2_entries && r == 0 && *done < limit; j++) {
			uint8_t *t;
			if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err)) < 0)
				break;
			uint64_t e = qcow2_l2_entry_read(q, t, j, NULL);
			if ((r = entry_refcount(q, e, addend, err)) == 0)
				(*done)++;
		}
		if (r == 0 && *done < limit &&
		    (r = qcow2_refcount_update(q, l2off, q->cluster_size, addend, err)) == 0)
			(*done)++;
	}
	return r;
}

int qcow2_update_l1_refcounts(struct qcow2 *q, uint64_t l1_offset, uint32_t l1_size, int addend,
			      struct vs_err *err)
{
	uint64_t *l1;
	int r = l1_read(q, l1_offset, l1_size, &l1, err);
	if (r < 0)
		return r;
	uint64_t done;
	r = l1_refcounts_walk(q, l1, l1_size, addend, UINT64_MAX, &done, err);
	if (r < 0 && addend > 0 && done) {
		/* a refcount that would overflow (or an I/O error): take back
		 * the references already added, so the image is as before.  If
		 * that fails too, the extra references are leaks, never harm:
		 * the first error is the one to report. */
		struct vs_err undo_err = VS_ERR_INIT;
		uint64_t undone;
		(void)l1_refcounts_walk(q, l1, l1_size, -addend, done, &undone, &undo_err);
	}
	free(l1);
	return r;
}

/* Set COPIED exactly where the refcount is 1 in the active tables.  The
 * refcounts must be on disk first (L2 writes wait for them; L1 entries are
 * written here after a full flush). */
int qcow2_fix_copied_flags(struct qcow2 *q, struct vs_err *err)
{
	int r = qcow2_flush_all(q, err);
	for (uint32_t i = 0; i < q->h.l1_size && r == 0; i++) {
		uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK;
		if (!l2off)
			continue;
		for (uint64_t j = 0; j < q->l2_entries && r == 0; j++) {
			uint8_t *t;
			uint64_t bitmap, rc;
			if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err)) < 0)
				break;
			uint64_t e = qcow2_l2_entry_read(q, t, j, &bitmap);
			enum qcow2_cluster_type ty = qcow2_l2_entry_type(e, q->extl2, bitmap);
			if (ty != QCOW2_CLUSTER_NORMAL && ty != QCOW2_CLUSTER_ZERO_ALLOC)
				continue;
			if ((r = qcow2_refcount_get(
				 q, qcow2_offset_to_cluster(q, e & QCOW2_OFFSET_MASK), &rc, err)) <
			    0)
				break;
			uint64_t ne = rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
			if (ne != e) {
				if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err)) <
				    0)
					break;
				qcow2_l2_entry_write(q, t, j, ne, bitmap);
			}
		}
		uint64_t rc;
		if (r == 0 &&
		    (r = qcow2_refcount_get(q, qcow2_offset_to_cluster(q, l2off), &rc, err)) == 0) {
			uint64_t ne = rc == 1 ? q->l1[i] | QCOW2_OFLAG_COPIED
					      : q->l1[i] & ~QCOW2_OFLAG_COPIED;
			if (ne != q->l1[i]) {
				/* the L2 table must be on disk before its L1 entry says COPIED */
				if ((r = qcow2_cache_write_l2(q, true, err)) < 0)
					break;
				q->l1[i] = ne;
				r = qcow2_l1_write_entry(q, i, err);
			}
		}
	}
	if (r == 0)
		r = qcow2_flush_all(q, err);
	return r;
}

/* Write the whole active L1 table from memory and sync. */
static int l1_write_all(struct qcow2 *q, struct vs_err *err)
{
	size_t n = q->h.l1_size;
	vs_cleanup_free uint8_t *raw = malloc(n ? n * 8 : 8);
	if (!raw)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		qcow2_put64(raw + i * 8, q->l1[i]);
	int r = vs_pwrite_full(q->fd, raw, n * 8, (off_t)q->h.l1_table_offset);
	if (r == 0 && fdatasync(q->fd) < 0)
		r = -errno;
	if (r < 0) {
		q->broken = true;
		return vs_syserrf(err, -r, "write L1 table");
	}
	return 0;
}

static int snapshot_find(struct qcow2 *q, const char *name)
{
	for (unsigned i = 0; i < q->nb_snaps; i++)
		if (!strcmp(q->snaps[i].id, name))
			return (int)i;
	for (unsigned i = 0; i < q->nb_snaps; i++)
		if (!strcmp(q->snaps[i].name, name))
			return (int)i;
	return -1;
}

int qcow2_snapshot_list(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
			struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	for (unsigned i = 0; i < q->nb_snaps && i < max; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].id, sizeof(out[i].id), "%s", s->id);
		snprintf(out[i].name, sizeof(out[i].name), "%s", s->name);
		out[i].vm_state_size = s->vm_state_size;
		out[i].date_sec = s->date_sec;
		out[i].date_nsec = s->date_nsec;
		out[i].vm_clock_nsec = s->vm_clock_nsec;
		out[i].disk_size = s->disk_size;
	}
	return (int)q->nb_snaps;
}

int qcow2_snapshot_create(struct disk_image *img, const char *name, struct vs_err *err)
{
	return qcow2_snapshot_create_vm(img, name, 0, 0, err);
}

int qcow2_snapshot_create_vm(struct disk_image *img, const char *name, uint64_t vm_state_size,
			     uint64_t vm_clock_nsec, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	if (!name[0] || strlen(name) > 255)
		return vs_errf(err, EINVAL, "invalid snapshot name");
	if (snapshot_find(q, name) >= 0)
		return vs_errf(err, EEXIST, "snapshot '%s' already exists", name);
	if (q->nb_snaps >= QCOW2_MAX_SNAPSHOTS)
		return vs_errf(err, EFBIG, "too many snapshots");
	unsigned long max_id = 0;
	for (unsigned i = 0; i < q->nb_snaps; i++) {
		unsigned long id = strtoul(q->snaps[i].id, NULL, 10);
		if (id > max_id)
			max_id = id;
	}
	int r = qcow2_flush_all(q, err);
	if (r < 0)
		return r;
	/* 1. every cluster reachable from the active L1 gains a reference */
	if ((r = qcow2_update_l1_refcounts(q, q->h.l1_table_offset, q->h.l1_size, 1, err)) < 0)
		return r;
	if ((r = qcow2_flush_all(q, err)) < 0)
		return r;
	/* 2. nothing is exclusively ours any more: clear COPIED */
	if ((r = qcow2_fix_copied_flags(q, err)) < 0)
		return r;
	/* 3. the snapshot's copy of the L1 table */
	uint64_t l1_bytes = (uint64_t)q->h.l1_size * 8, l1_off = 0;
	if (l1_bytes) {
		uint64_t clusters = qcow2_size_to_clusters(q, l1_bytes);
		if ((r = qcow2_alloc_clusters(q, clusters, &l1_off, err)) < 0)
			return r;
		vs_cleanup_free uint8_t *raw = calloc(clusters, q->cluster_size);
		if (!raw)
			return vs_errf(err, ENOMEM, "out of memory");
		for (uint32_t i = 0; i < q->h.l1_size; i++)
			qcow2_put64(raw + i * 8, q->l1[i]);
		if ((r = vs_pwrite_full(q->fd, raw, clusters * q->cluster_size, (off_t)l1_off)) < 0)
			return vs_syserrf(err, -r, "write snapshot L1 table");
		if (l1_off + clusters * q->cluster_size > q->file_size)
			q->file_size = l1_off + clusters * q->cluster_size;
	}
	/* 4. new table with the entry, one header write */
	struct qcow2_snapshot *ns = realloc(q->snaps, sizeof(*ns) * (q->nb_snaps + 1));
	if (!ns)
		return vs_errf(err, ENOMEM, "out of memory");
	q->snaps = ns;
	struct qcow2_snapshot *s = &q->snaps[q->nb_snaps];
	memset(s, 0, sizeof(*s));
	char id[32];
	snprintf(id, sizeof(id), "%lu", max_id + 1);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->l1_table_offset = l1_off;
	s->l1_size = q->h.l1_size;
	s->id = strdup(id);
	s->name = strdup(name);
	s->extra = calloc(1, 16);
	s->extra_size = 16;
	s->date_sec = (uint32_t)ts.tv_sec;
	s->date_nsec = (uint32_t)ts.tv_nsec;
	s->disk_size = q->h.size;
	s->vm_state_size = vm_state_size;
	s->vm_clock_nsec = vm_clock_nsec;
	if (!s->id || !s->name || !s->extra) {
		free(s->id);
		free(s->name);
		free(s->extra);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	q->nb_snaps++;
	r = snapshot_table_write(q, err);
	if (r < 0) {
		q->nb_snaps--;
		free(s->id);
		free(s->name);
		free(s->extra);
		return r;
	}
	return qcow2_flush_all(q, err);
}

int qcow2_snapshot_delete(struct disk_image *img, const char *name, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	int i = snapshot_find(q, name);
	if (i < 0)
		return vs_errf(err, ENOENT, "snapshot '%s' not found", name);
	int r = qcow2_flush_all(q, err);
	if (r < 0)
		return r;
	struct qcow2_snapshot gone = q->snaps[i];
	memmove(&q->snaps[i], &q->snaps[i + 1], sizeof(gone) * (q->nb_snaps - (unsigned)i - 1));
	q->nb_snaps--;
	r = snapshot_table_write(q, err);
	if (r < 0) {
		memmove(&q->snaps[i + 1], &q->snaps[i], sizeof(gone) * (q->nb_snaps - (unsigned)i));
		q->snaps[i] = gone;
		q->nb_snaps++;
		return r;
	}
	/* the entry is gone on disk: drop its references */
	r = qcow2_update_l1_refcounts(q, gone.l1_table_offset, gone.l1_size, -1, err);
	if (r == 0 && gone.l1_size)
		r = qcow2_refcount_update(q, gone.l1_table_offset, (uint64_t)gone.l1_size * 8, -1,
					  err);
	free(gone.id);
	free(gone.name);
	free(gone.extra);
	if (r == 0)
		r = qcow2_fix_copied_flags(q, err);
	return r;
}

int qcow2_snapshot_apply(struct disk_image *img, const char *name, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	int i = snapshot_find(q, name);
	if (i < 0)
		return vs_errf(err, ENOENT, "snapshot '%s' not found", name);
	struct qcow2_snapshot *s = &q->snaps[i];
	int r = qcow2_flush_all(q, err);
	if (r < 0)
		return r;
	uint64_t need = qcow2_l1_entries_for(q->cluster_bits, q->l2_bits, s->disk_size);
	if (need < s->l1_size)
		need = s->l1_size;
	if ((r = qcow2_grow_l1(q, need, err)) < 0)
		return r;
	/* 1. the snapshot's clusters gain the active image's reference */
	if ((r = qcow2_update_l1_refcounts(q, s->l1_table_offset, s->l1_size, 1, err)) < 0)
		return r;
	if ((r = qcow2_flush_all(q, err)) < 0)
		return r;
	/* 2. the active L1 becomes the snapshot's */
	uint64_t *old = malloc((size_t)q->h.l1_size * 8 + 8);
	uint64_t *snap_l1;
	if (!old)
		return vs_errf(err, ENOMEM, "out of memory");
	memcpy(old, q->l1, (size_t)q->h.l1_size * 8);
	if ((r = l1_read(q, s->l1_table_offset, s->l1_size, &snap_l1, err)) < 0) {
		free(old);
		return r;
	}
	memset(q->l1, 0, (size_t)q->h.l1_size * 8);
	memcpy(q->l1, snap_l1, (size_t)s->l1_size * 8);
	for (uint32_t k = 0; k < q->h.l1_size; k++)
		q->l1[k] &= ~QCOW2_OFLAG_COPIED;
	free(snap_l1);
	r = l1_write_all(q, err);
	uint64_t old_size = q->h.size;
	if (r == 0 && s->disk_size != q->h.size) {
		q->h.size = s->disk_size;
		r = qcow2_write_header_fields(q, 24, 32, err);
		if (r == 0)
			img->size = s->disk_size;
		else
			q->h.size = old_size;
	}
	/* 3. the old active clusters lose a reference */
	uint32_t n = q->h.l1_size;
	for (uint32_t k = 0; k < n && r == 0; k++) {
		uint64_t l2off = old[k] & QCOW2_OFFSET_MASK;
		if (!l2off)
			continue;
		for (uint64_t j = 0; j < q->l2_entries && r == 0; j++) {
			uint8_t *t;
			if ((r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &t, err)) < 0)
				break;
			r = entry_refcount(q, qcow2_l2_entry_read(q, t, j, NULL), -1, err);
		}
		if (r == 0)
			r = qcow2_refcount_update(q, l2off, q->cluster_size, -1, err);
	}
	free(old);
	q->ccache_entry = 0;
	if (r == 0)
		r = qcow2_fix_copied_flags(q, err);
	/* A savevm snapshot's VM state came back with its L1: drop it from the
	 * active image again (it stays in the snapshot), as savevm left it. */
	if (r == 0 && s->vm_state_size)
		r = qcow2_vmstate_discard(img, s->vm_state_size, err);
	return r;
}
