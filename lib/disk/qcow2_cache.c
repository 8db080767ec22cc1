/*
 * qcow2_cache.c - write-back caches of L2 tables and refcount blocks.
 *
 * Each cache holds n cluster-sized tables in their on-disk (big-endian)
 * form, evicted least-recently-used.  Ordering (see qcow2.h): dirty L2
 * tables are written only after every dirty refcount block has been written
 * and synced, so an L2 entry on disk never points at a cluster whose
 * refcount is not on disk yet.  Refcount blocks may be written at any time:
 * decrements reach them only through qcow2_apply_pending_frees(), after the
 * L2 tables that dropped the pointers are synced.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/util.h"

#include "qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t table_size)
{
	memset(c, 0, sizeof(*c));
	if (n < 2)
		n = 2;
	c->e = calloc(n, sizeof(*c->e));
	if (posix_memalign((void **)&c->mem, 4096, (size_t)n * table_size))
		c->mem = NULL;
	if (!c->e || !c->mem) {
		free(c->e);
		free(c->mem);
		c->e = NULL;
		c->mem = NULL;
		return -ENOMEM;
	}
	c->n = n;
	c->table_size = table_size;
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
	free(c->e);
	free(c->mem);
	memset(c, 0, sizeof(*c));
}

static uint8_t *cache_table(const struct qcow2_cache *c, unsigned i)
{
	return c->mem + (size_t)i * c->table_size;
}

static int cache_write_entry(struct qcow2 *q, struct qcow2_cache *c, unsigned i, struct vs_err *err)
{
	int r = vs_pwrite_full(q->fd, cache_table(c, i), c->table_size, (off_t)c->e[i].offset);
	if (r < 0) {
		q->broken = true;
		return vs_syserrf(err, -r, "write metadata at 0x%" PRIx64, c->e[i].offset);
	}
	c->e[i].dirty = false;
	c->ndirty--;
	if (q->file_size < c->e[i].offset + c->table_size)
		q->file_size = c->e[i].offset + c->table_size;
	return 0;
}

static int cache_write_all(struct qcow2 *q, struct qcow2_cache *c, struct vs_err *err)
{
	for (unsigned i = 0; i < c->n && c->ndirty; i++) {
		if (!c->e[i].dirty)
			continue;
		int r = cache_write_entry(q, c, i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sync_file(struct qcow2 *q, struct vs_err *err)
{
	if (fdatasync(q->fd) < 0) {
		q->broken = true;
		return vs_syserrf(err, errno, "fdatasync %s", q->img->path);
	}
	return 0;
}

int qcow2_cache_write_rb(struct qcow2 *q, bool sync, struct vs_err *err)
{
	if (!q->rb_cache.ndirty)
		return 0;
	int r = cache_write_all(q, &q->rb_cache, err);
	if (r == 0 && sync)
		r = sync_file(q, err);
	return r;
}

int qcow2_cache_write_l2(struct qcow2 *q, bool sync, struct vs_err *err)
{
	if (!q->l2_cache.ndirty)
		return 0;
	int r = qcow2_cache_write_rb(q, true, err);
	if (r == 0)
		r = cache_write_all(q, &q->l2_cache, err);
	if (r == 0 && sync)
		r = sync_file(q, err);
	return r;
}

/* Make slot i writable for a new table: write it back if dirty. */
static int cache_evict(struct qcow2 *q, struct qcow2_cache *c, unsigned i, struct vs_err *err)
{
	if (!c->e[i].dirty)
		return 0;
	if (c == &q->l2_cache) {
		int r = qcow2_cache_write_rb(q, true, err);
		if (r < 0)
			return r;
	}
	return cache_write_entry(q, c, i, err);
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh,
		    uint8_t **table, struct vs_err *err)
{
	c->tick++;
	if (c->e[c->last].offset == offset) {
		c->e[c->last].lru = c->tick;
		if (fresh)
			memset(cache_table(c, c->last), 0, c->table_size);
		*table = cache_table(c, c->last);
		return 0;
	}
	unsigned victim = 0;
	uint64_t oldest = UINT64_MAX;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->e[i].offset == offset) {
			c->e[i].lru = c->tick;
			c->last = i;
			if (fresh)
				memset(cache_table(c, i), 0, c->table_size);
			*table = cache_table(c, i);
			return 0;
		}
		uint64_t age = c->e[i].offset ? c->e[i].lru : 0;
		if (age < oldest) {
			oldest = age;
			victim = i;
		}
	}
	int r = cache_evict(q, c, victim, err);
	if (r < 0)
		return r;
	uint8_t *t = cache_table(c, victim);
	c->e[victim].offset = 0;
	if (fresh) {
		memset(t, 0, c->table_size);
	} else {
		ssize_t n = pread(q->fd, t, c->table_size, (off_t)offset);
		if (n < 0)
			return vs_syserrf(err, errno, "read metadata at 0x%" PRIx64, offset);
		if ((uint64_t)n < c->table_size) /* short file: the rest reads as zeros */
			memset(t + n, 0, c->table_size - (uint64_t)n);
	}
	c->e[victim].offset = offset;
	c->e[victim].lru = c->tick;
	c->e[victim].dirty = false;
	c->last = victim;
	*table = t;
	return 0;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *table)
{
	unsigned i = (unsigned)((size_t)(table - c->mem) / c->table_size);
	if (!c->e[i].dirty) {
		c->e[i].dirty = true;
		c->ndirty++;
	}
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset)
{
	for (unsigned i = 0; i < c->n; i++) {
		if (c->e[i].offset == offset) {
			if (c->e[i].dirty)
				c->ndirty--;
			c->e[i].offset = 0;
			c->e[i].dirty = false;
			c->e[i].lru = 0;
		}
	}
}

int qcow2_flush_all(struct qcow2 *q, struct vs_err *err)
{
	int r = qcow2_cache_write_l2(q, true, err);
	if (r < 0)
		return r;
	if (q->npending) {
		r = qcow2_apply_pending_frees(q, err);
		if (r < 0)
			return r;
	}
	r = qcow2_cache_write_rb(q, false, err);
	if (r < 0)
		return r;
	return sync_file(q, err);
}
