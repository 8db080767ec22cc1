/*
 * qcow2.h - private state of the qcow2 driver, shared by qcow2_*.c.
 *
 * On-disk format: QEMU's docs/interop/qcow2.txt (header, header extensions,
 * L1/L2 tables, refcount table/blocks, snapshot table, compressed clusters,
 * extended L2 entries).  All on-disk integers are big-endian; the in-memory
 * copies of the L1 and refcount tables are host-endian, L2 tables and
 * refcount blocks stay in their on-disk (big-endian) form in the caches.
 *
 * Crash-consistency discipline (what a SIGKILL at any point may leave
 * behind is leaked clusters, never a dangling pointer):
 *   - a cluster's refcount is on disk before any pointer to it: the L2
 *     cache is only written back after the refcount cache was written and
 *     synced (qcow2_cache_write_l2);
 *   - a new L2 table is written and synced before the L1 entry pointing to
 *     it, and L1 entries are written synchronously;
 *   - frees drop the pointer first: decrements are queued (q->pending) and
 *     applied only after the L2 tables that dropped the pointer are synced;
 *   - header switches (L1 table, refcount table, snapshot table) are single
 *     small writes of adjacent fields, after the new structures are synced.
 * The dirty bit is never set: we do not implement lazy refcounts.
 */
#ifndef VESSEL_DISK_QCOW2_H
#define VESSEL_DISK_QCOW2_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>

#include "disk_internal.h"

#define QCOW2_MAGIC 0x514649fbU

#define QCOW2_INCOMPAT_DIRTY	   (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN                                                        \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DATA_FILE | \
	 QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
#define QCOW2_AUTOCLEAR_BITMAPS	    (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (1ULL << 1)

#define QCOW2_EXT_END		 0x00000000U
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE	 0x6803f857U
#define QCOW2_EXT_BITMAPS	 0x23852875U
#define QCOW2_EXT_CRYPTO	 0x0537be77U
#define QCOW2_EXT_DATA_FILE	 0x44415441U

#define QCOW2_OFLAG_COPIED     (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO       (1ULL << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED     0x7f000000000001ffULL
#define QCOW2_REFT_RESERVED    0x1ffULL
#define QCOW2_L2E_RESERVED     0x3f000000000001feULL

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES     (32ULL << 20) /* like QEMU: 32 MiB of L1 */
#define QCOW2_MAX_REFT_BYTES   (8ULL << 20)
#define QCOW2_MAX_SNAPSHOTS    65536
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_V2_HEADER	       72
#define QCOW2_V3_HEADER	       104
#define QCOW2_SUBCLUSTERS      32

struct qcow2_header {
	uint32_t magic, version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size, cluster_bits;
	uint64_t size;
	uint32_t crypt_method, l1_size;
	uint64_t l1_table_offset, refcount_table_offset;
	uint32_t refcount_table_clusters, nb_snapshots;
	uint64_t snapshots_offset;
	/* version 3 */
	uint64_t incompatible_features, compatible_features, autoclear_features;
	uint32_t refcount_order, header_length;
	uint8_t compression_type;
};

/* Parse and validate the fixed header in buf (len bytes, from offset 0)
 * against a file of file_size bytes.  Pure function: the fuzz target and
 * the unit tests call it directly. */
int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       struct vs_err *err);
/* Encode h (version 2 or 3) into buf, which must hold header_length bytes. */
void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf);

struct qcow2_ext {
	uint32_t type, len;
	uint8_t *data;
};

#define QCOW2_CACHE_NONE ((unsigned)-1) /* no slot */

struct qcow2_cache_entry {
	uint64_t offset;     /* 0 = free slot */
	unsigned hnext;	     /* next slot in the same hash bucket */
	unsigned prev, next; /* LRU list, most recently used first */
	bool dirty;
};

/* A cache of cluster-sized tables (L2 tables or refcount blocks). */
struct qcow2_cache {
	unsigned n;
	uint64_t table_size;
	struct qcow2_cache_entry *e;
	uint8_t *mem;
	unsigned *bucket;    /* hash of offset -> first slot, QCOW2_CACHE_NONE */
	unsigned hash_bits;  /* log2 of the bucket count */
	unsigned head, tail; /* LRU list ends; free slots are all at the tail */
	unsigned last;
	unsigned ndirty;
};

struct qcow2_snapshot {
	uint64_t l1_table_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount;
	bool has_icount;
	uint32_t extra_size; /* extra data as found (kept when rewriting) */
	uint8_t *extra;
};

struct qcow2_free {
	uint64_t offset, len; /* a byte range whose clusters lose one reference */
};

struct qcow2 {
	struct disk_image *img;
	int fd;
	struct qcow2_header h;
	unsigned cluster_bits;
	uint64_t cluster_size;
	bool extl2;
	unsigned l2_entry_bytes; /* 8, or 16 with extended L2 */
	unsigned l2_bits;	 /* log2 of entries per L2 table */
	uint64_t l2_entries;
	unsigned subcluster_bits;
	uint64_t subcluster_size;
	unsigned refcount_bits; /* 1 << refcount_order */
	unsigned rb_bits;	/* log2 of entries per refcount block */
	uint64_t refcount_max;
	unsigned csize_shift; /* compressed descriptor: offset bits */
	uint64_t csize_mask;
	uint64_t coffset_mask;

	uint64_t *l1; /* host-endian, l1_alloc entries (>= h.l1_size) */
	uint64_t *reftable;
	uint64_t reftable_entries;

	struct qcow2_cache l2_cache, rb_cache;
	uint64_t free_hint;  /* first cluster index that may be free */
	uint64_t file_size;  /* physical size of the image file */
	uint64_t fresh_from; /* clusters at or past this offset read as zeros */
	uint64_t comp_next;  /* next byte for compressed data, 0 = none */

	struct qcow2_free *pending;
	size_t npending, pending_cap;

	struct qcow2_snapshot *snaps;
	unsigned nb_snaps;
	uint64_t snap_table_len; /* bytes of the table on disk */

	struct qcow2_ext *exts; /* extensions we keep as found */
	unsigned nexts;

	uint64_t ccache_entry; /* L2 entry of the cluster in cbuf */
	uint8_t *cbuf;	       /* decompressed cluster */
	uint8_t *bounce;       /* one cluster */
	uint8_t *bounce2;      /* one cluster */
	bool broken;	       /* metadata write failed: refuse further writes */
};

static inline struct qcow2 *qcow2_of(struct disk_image *img)
{
	return img->priv;
}

static inline uint64_t qcow2_offset_to_cluster(const struct qcow2 *q, uint64_t off)
{
	return off >> q->cluster_bits;
}

static inline uint64_t qcow2_size_to_clusters(const struct qcow2 *q, uint64_t size)
{
	return (size + q->cluster_size - 1) >> q->cluster_bits;
}

/* Entries an L1 table needs for a virtual size. */
uint64_t qcow2_l1_entries_for(unsigned cluster_bits, unsigned l2_bits, uint64_t size);

/* ---- qcow2_header.c ---- */
int qcow2_read_extensions(struct qcow2 *q, struct vs_err *err);
/* Rewrite the header cluster (header, extensions, backing name). */
int qcow2_write_header(struct qcow2 *q, struct vs_err *err);
/* Write one field range of the header in place and sync. */
int qcow2_write_header_fields(struct qcow2 *q, size_t start, size_t end, struct vs_err *err);
/* Append our feature-name table to the extensions (images we create). */
int qcow2_add_feature_table(struct qcow2 *q);

/* ---- qcow2_cache.c ---- */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t table_size);
void qcow2_cache_destroy(struct qcow2_cache *c);
/* Get a table; reads it unless fresh (then zero-filled).  The pointer is
 * valid until the next cache call. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh,
		    uint8_t **table, struct vs_err *err);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *table);
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset);
/* Write dirty refcount blocks (then sync) / L2 tables (after refcounts). */
int qcow2_cache_write_rb(struct qcow2 *q, bool sync, struct vs_err *err);
int qcow2_cache_write_l2(struct qcow2 *q, bool sync, struct vs_err *err);
/* Everything on disk and synced, deferred frees applied. */
int qcow2_flush_all(struct qcow2 *q, struct vs_err *err);

/* ---- qcow2_refcount.c ---- */
uint64_t qcow2_refcount_decode(const uint8_t *block, uint64_t index, unsigned order);
void qcow2_refcount_encode(uint8_t *block, uint64_t index, unsigned order, uint64_t value);
int qcow2_refcount_load(struct qcow2 *q, struct vs_err *err);
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *refcount, struct vs_err *err);
/* Add addend (+1/-1) to the refcount of every cluster of [offset, +len). */
int qcow2_refcount_update(struct qcow2 *q, uint64_t offset, uint64_t len, int addend,
			  struct vs_err *err);
int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t value, struct vs_err *err);
/* Allocate n contiguous clusters (refcount 1); returns the host offset. */
int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *offset, struct vs_err *err);
/* Allocate bytes for a compressed cluster (may share host clusters). */
int qcow2_alloc_bytes(struct qcow2 *q, uint64_t size, uint64_t *offset, struct vs_err *err);
/* Queue the release of one reference to each cluster of a byte range. */
int qcow2_free_deferred(struct qcow2 *q, uint64_t offset, uint64_t len, struct vs_err *err);
int qcow2_apply_pending_frees(struct qcow2 *q, struct vs_err *err);
/* Make sure the file covers [0, end). */
int qcow2_extend_file(struct qcow2 *q, uint64_t end, struct vs_err *err);

/* ---- qcow2_cluster.c ---- */
/* L2 entry decoding (pure: unit-tested). */
enum qcow2_cluster_type {
	QCOW2_CLUSTER_UNALLOCATED,
	QCOW2_CLUSTER_ZERO_PLAIN,
	QCOW2_CLUSTER_ZERO_ALLOC,
	QCOW2_CLUSTER_NORMAL,
	QCOW2_CLUSTER_COMPRESSED,
};
/* Status of subcluster sc of an extended entry. */
enum qcow2_subcluster_status {
	QCOW2_SC_UNALLOCATED,
	QCOW2_SC_ZERO,
	QCOW2_SC_DATA,
};
void qcow2_compressed_decode(const struct qcow2 *q, uint64_t entry, uint64_t *host,
			     uint64_t *nbytes);
int qcow2_l2_get(struct qcow2 *q, uint64_t voff, uint64_t *entry, uint64_t *bitmap,
		 struct vs_err *err);
/* Get the L2 table for voff, allocating/COWing it when alloc; *table and
 * *index point at its entry for voff. */
int qcow2_l2_table(struct qcow2 *q, uint64_t voff, bool alloc, uint8_t **table, uint64_t *index,
		   struct vs_err *err);
void qcow2_l2_entry_write(struct qcow2 *q, uint8_t *table, uint64_t index, uint64_t entry,
			  uint64_t bitmap);
int qcow2_l1_write_entry(struct qcow2 *q, uint64_t index, struct vs_err *err);
int qcow2_grow_l1(struct qcow2 *q, uint64_t min_entries, struct vs_err *err);

/* ---- qcow2_io.c ---- */
int qcow2_preadv(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		 uint64_t len, struct vs_err *err);
int qcow2_pwritev(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		  uint64_t len, struct vs_err *err);
int qcow2_zero_range(struct disk_image *img, uint64_t offset, uint64_t len, bool discard,
		     bool unmap, struct vs_err *err);
int qcow2_block_status(struct disk_image *img, uint64_t offset, uint64_t len,
		       struct disk_extent *ext, struct vs_err *err);
int qcow2_write_compressed(struct disk_image *img, const void *buf, uint64_t offset,
			   struct vs_err *err);
/* Release the clusters an entry points to (deferred). */
int qcow2_free_entry(struct qcow2 *q, uint64_t entry, struct vs_err *err);

/* ---- compress.c ---- */
int qcow2_decompress(int type, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);
/* Returns compressed size, or -ENOSPC when it does not shrink below out_max. */
long qcow2_compress(int type, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_max);

/* ---- qcow2_snapshot.c ---- */
int qcow2_snapshots_load(struct qcow2 *q, struct vs_err *err);
void qcow2_snapshots_free(struct qcow2 *q);
int qcow2_snapshot_list(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
			struct vs_err *err);
int qcow2_snapshot_create(struct disk_image *img, const char *name, struct vs_err *err);
/* The same, recording a VM state of vm_state_size bytes (qcow2_vmstate.c). */
int qcow2_snapshot_create_vm(struct disk_image *img, const char *name, uint64_t vm_state_size,
			     uint64_t vm_clock_nsec, struct vs_err *err);
/* VM state inside internal snapshots (qcow2_vmstate.c). */
int qcow2_vmstate_save(struct disk_image *img, const char *name, int fd, uint64_t len,
		       uint64_t vm_clock_nsec, struct vs_err *err);
int qcow2_vmstate_load(struct disk_image *img, const char *name, int fd, uint64_t *len,
		       struct vs_err *err);
int qcow2_snapshot_apply(struct disk_image *img, const char *name, struct vs_err *err);
/* A snapshot's L1 table (host-endian, s->l1_size entries; free()). */
int qcow2_snapshot_l1(struct qcow2 *q, const struct qcow2_snapshot *s, uint64_t **out,
		      struct vs_err *err);
/* Unmap a VM state of len bytes from the active image (qcow2_vmstate.c). */
int qcow2_vmstate_discard(struct disk_image *img, uint64_t len, struct vs_err *err);
int qcow2_snapshot_delete(struct disk_image *img, const char *name, struct vs_err *err);
/* Add addend to the refcounts of an L1 table's L2 tables and clusters; when
 * l1 is the active table, recompute its COPIED flags. */
int qcow2_update_l1_refcounts(struct qcow2 *q, uint64_t l1_offset, uint32_t l1_size, int addend,
			      struct vs_err *err);
int qcow2_fix_copied_flags(struct qcow2 *q, struct vs_err *err);

/* ---- qcow2_check.c ---- */
int qcow2_check(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		struct vs_err *err);

/* ---- qcow2_create.c ---- */
void qcow2_setup_geometry(struct qcow2 *q);
int qcow2_create(const char *path, const struct disk_create_options *opts, struct vs_err *err);

/* big-endian access */
static inline uint64_t qcow2_be64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return be64toh(v);
}
static inline uint32_t qcow2_be32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return be32toh(v);
}
static inline uint16_t qcow2_be16(const uint8_t *p)
{
	uint16_t v;
	__builtin_memcpy(&v, p, 2);
	return be16toh(v);
}
static inline void qcow2_put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	__builtin_memcpy(p, &v, 8);
}
static inline void qcow2_put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	__builtin_memcpy(p, &v, 4);
}
static inline void qcow2_put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	__builtin_memcpy(p, &v, 2);
}

/* Type of an L2 entry (for extended entries, of the whole cluster; the
 * caller looks at the subcluster bitmap).  Inline: on every request. */
static inline enum qcow2_cluster_type qcow2_l2_entry_type(uint64_t entry, bool extl2,
							  uint64_t bitmap)
{
	(void)bitmap;
	if (entry & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_CLUSTER_COMPRESSED;
	uint64_t off = entry & QCOW2_OFFSET_MASK;
	if (!extl2 && (entry & QCOW2_OFLAG_ZERO))
		return off ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
	return off ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
}

/* Entry index of an L2 table (and its subcluster bitmap, 0 without
 * extended L2 entries, when bitmap is not NULL). */
static inline uint64_t qcow2_l2_entry_read(const struct qcow2 *q, const uint8_t *table,
					   uint64_t index, uint64_t *bitmap)
{
	if (q->extl2) {
		if (bitmap)
			*bitmap = qcow2_be64(table + index * 16 + 8);
		return qcow2_be64(table + index * 16);
	}
	if (bitmap)
		*bitmap = 0;
	return qcow2_be64(table + index * 8);
}

#endif
