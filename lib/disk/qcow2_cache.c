/*
 * qcow2_cache.c - write-back caches of L2 tables and refcount blocks.
 *
 * Each cache holds n cluster-sized tables in their on-disk (big-endian)
 * form, evicted least-recently-used.  A hash of host offset to slot and a
 * doubly linked LRU list (free slots at its tail) make a lookup, an eviction
 * and the discard of a freed cluster O(1): discards run once per freed
 * cluster, so a scan there made discarding 64 MiB of 512-byte clusters
 * take a minute.  Ordering (see qcow2.h): dirty L2
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
	unsigned bits = 1;
	while ((1U << bits) < n) /* at most one slot per bucket on average */
		bits++;
	c->e = calloc(n, sizeof(*c->e));
	c->bucket = malloc(sizeof(*c->bucket) << bits);
	if (posix_memalign((void **)&c->mem, 4096, (size_t)n * table_size))
		c->mem = NULL;
	if (!c->e || !c->mem || !c->bucket) {
		free(c->e);
		free(c->mem);
		free(c->bucket);
		memset(c, 0, sizeof(*c));
		return -ENOMEM;
	}
	for (size_t b = 0; b < (size_t)1 << bits; b++)
		c->bucket[b] = QCOW2_CACHE_NONE;
	for (unsigned i = 0; i < n; i++) {
		c->e[i].hnext = QCOW2_CACHE_NONE;
		c->e[i].prev = i ? i - 1 : QCOW2_CACHE_NONE;
		c->e[i].next = i + 1 < n ? i + 1 : QCOW2_CACHE_NONE;
	}
	c->head = 0;
	c->tail = n - 1;
	c->n = n;
	c->hash_bits = bits;
	c->table_size = table_size;
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
	free(c->e);
	free(c->mem);
	free(c->bucket);
	memset(c, 0, sizeof(*c));
}

static size_t cache_hash(const struct qcow2_cache *c, uint64_t offset)
{
	return (size_t)(((offset / c->table_size) * 0x9e3779b97f4a7c15ULL) >> (64 - c->hash_bits));
}

static unsigned cache_find(const struct qcow2_cache *c, uint64_t offset)
{
	unsigned i = c->bucket[cache_hash(c, offset)];
	while (i != QCOW2_CACHE_NONE && c->e[i].offset != offset)
		i = c->e[i].hnext;
	return i;
}

/* Give slot i the table at offset (nonzero), or none when offset is 0. */
static void cache_set_offset(struct qcow2_cache *c, unsigned i, uint64_t offset)
{
	if (c->e[i].offset) {
		unsigned *p = &c->bucket[cache_hash(c, c->e[i].offset)];
		while (*p != i)
			p = &c->e[*p].hnext;
		*p = c->e[i].hnext;
		c->e[i].hnext = QCOW2_CACHE_NONE;
	}
	c->e[i].offset = offset;
	if (offset) {
		size_t h = cache_hash(c, offset);
		c->e[i].hnext = c->bucket[h];
		c->bucket[h] = i;
	}
}

static void lru_unlink(struct qcow2_cache *c, unsigned i)
{
	struct qcow2_cache_entry *e = &c->e[i];
	if (e->prev != QCOW2_CACHE_NONE)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != QCOW2_CACHE_NONE)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void lru_to_head(struct qcow2_cache *c, unsigned i)
{
	if (c->head == i)
		return;
	lru_unlink(c, i);
	c->e[i].prev = QCOW2_CACHE_NONE;
	c->e[i].next = c->head;
	c->e[c->head].prev = i;
	c->head = i;
}

static void lru_to_tail(struct qcow2_cache *c, unsigned i)
{
	if (c->tail == i)
		return;
	lru_unlink(c, i);
	c->e[i].next = QCOW2_CACHE_NONE;
	c->e[i].prev = c->tail;
	c->e[c->tail].next = i;
	c->tail = i;
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
	unsigned i = c->e[c->last].offset == offset && offset ? c->last : cache_find(c, offset);
	if (i != QCOW2_CACHE_NONE) {
		lru_to_head(c, i);
		c->last = i;
		if (fresh)
			memset(cache_table(c, i), 0, c->table_size);
		*table = cache_table(c, i);
		return 0;
	}
	/* the least recently used slot; free slots sit at the tail */
	unsigned victim = c->tail;
	int r = cache_evict(q, c, victim, err);
	if (r < 0)
		return r;
	uint8_t *t = cache_table(c, victim);
	cache_set_offset(c, victim, 0);
	lru_to_tail(c, victim); /* stays free if the read fails */
	if (fresh) {
		memset(t, 0, c->table_size);
	} else {
		ssize_t n = pread(q->fd, t, c->table_size, (off_t)offset);
		if (n < 0)
			return vs_syserrf(err, errno, "read metadata at 0x%" PRIx64, offset);
		if ((uint64_t)n < c->table_size) /* short file: the rest reads as zeros */
			memset(t + n, 0, c->table_size - (uint64_t)n);
	}
	cache_set_offset(c, victim, offset);
	c->e[victim].dirty = false;
	lru_to_head(c, victim);
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
	if (!offset)
		return;
	unsigned i = cache_find(c, offset);
	if (i == QCOW2_CACHE_NONE)
		return;
	if (c->e[i].dirty)
		c->ndirty--;
	c->e[i].dirty = false;
	cache_set_offset(c, i, 0);
	lru_to_tail(c, i);
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
