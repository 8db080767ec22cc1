/*
 * qcow2_io.c - guest reads and writes on a qcow2 image, cluster by cluster
 * (qcow2 spec: "Cluster mapping", "Extended L2 Entries", "Compressed
 * Clusters Descriptor").
 *
 * Reads: unallocated ranges come from the backing chain (or zeros), zero
 * clusters/subclusters read as zeros, compressed clusters are inflated into
 * a one-cluster cache, data is read straight into the caller's iovec (runs
 * of host-contiguous clusters in one preadv).
 *
 * Writes: a cluster whose L2 entry has COPIED (refcount 1) is written in
 * place; anything else (unallocated, zero, compressed, shared with a
 * snapshot) gets a new cluster filled with the old contents plus the new
 * bytes (copy-on-write) before its L2 entry changes; the old cluster loses
 * a reference through the deferred-free queue.  With extended L2 entries
 * only the touched subclusters are written and marked allocated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

#define IOV_LOCAL 32

struct io_slice {
	struct iovec local[IOV_LOCAL];
	struct iovec *v;
	struct iovec *heap;
	int cnt;
};

/* Sub-iovec for [skip, skip+len) of the request. */
static int slice(struct io_slice *s, const struct iovec *iov, int iovcnt, uint64_t skip,
		 uint64_t len, struct vs_err *err)
{
	s->v = s->local;
	if (iovcnt == 1) { /* the common case: one buffer, no walk */
		s->local[0].iov_base = (uint8_t *)iov[0].iov_base + skip;
		s->local[0].iov_len = len;
		s->cnt = 1;
		return 0;
	}
	s->cnt = disk_iov_slice(iov, iovcnt, skip, len, s->local, IOV_LOCAL);
	if (s->cnt >= 0)
		return 0;
	if (!s->heap) {
		s->heap = malloc(sizeof(struct iovec) * (size_t)iovcnt);
		if (!s->heap)
			return vs_errf(err, ENOMEM, "out of memory");
	}
	s->v = s->heap;
	s->cnt = disk_iov_slice(iov, iovcnt, skip, len, s->heap, iovcnt);
	return 0;
}

static int read_compressed(struct qcow2 *q, uint64_t entry, struct vs_err *err)
{
	if (q->ccache_entry == entry)
		return 0;
	uint64_t host, nbytes;
	qcow2_compressed_decode(q, entry, &host, &nbytes);
	if (nbytes > 2 * q->cluster_size + 512)
		return vs_errf(err, EIO, "corrupt image: compressed cluster size %" PRIu64, nbytes);
	vs_cleanup_free uint8_t *in = malloc(nbytes);
	if (!in)
		return vs_errf(err, ENOMEM, "out of memory");
	ssize_t n = pread(q->fd, in, nbytes, (off_t)host);
	if (n < 0)
		return vs_syserrf(err, errno, "read compressed cluster at 0x%" PRIx64, host);
	q->ccache_entry = 0;
	if (qcow2_decompress(q->h.compression_type, in, (size_t)n, q->cbuf, q->cluster_size) < 0)
		return vs_errf(
		    err, EIO,
		    "corrupt image: compressed cluster at 0x%" PRIx64 " does not decompress", host);
	q->ccache_entry = entry;
	return 0;
}

static int check_data_offset(struct qcow2 *q, uint64_t entry, uint64_t voff, struct vs_err *err)
{
	uint64_t host = entry & QCOW2_OFFSET_MASK;
	if ((host & (q->cluster_size - 1)) || host < q->cluster_size)
		return vs_errf(err, EIO,
			       "corrupt image: data cluster 0x%" PRIx64 " for offset 0x%" PRIx64
			       " is %s",
			       host, voff, host < q->cluster_size ? "the header" : "unaligned");
	return 0;
}

static enum qcow2_subcluster_status sc_status(uint64_t entry, uint64_t bitmap, unsigned sc)
{
	if (bitmap & (1ULL << (32 + sc)))
		return QCOW2_SC_ZERO;
	if ((bitmap & (1ULL << sc)) && (entry & QCOW2_OFFSET_MASK))
		return QCOW2_SC_DATA;
	return QCOW2_SC_UNALLOCATED;
}

/*
 * The extent at virtual offset voff: look up its L2 entry and, on images
 * with subclusters, shorten *n to the run of subclusters sharing one status
 * and fold that status into a plain cluster type.  Shared by reads and
 * block-status so both see the same extents.
 */
static int qcow2_extent_at(struct qcow2 *q, uint64_t voff, uint64_t *n, uint64_t *entry,
			   enum qcow2_cluster_type *type, struct vs_err *err)
{
	uint64_t bitmap;
	int r = qcow2_l2_get(q, voff, entry, &bitmap, err);
	if (r < 0)
		return r;
	enum qcow2_cluster_type t = qcow2_l2_entry_type(*entry, q->extl2, bitmap);
	if (q->extl2 && t != QCOW2_CLUSTER_COMPRESSED) {
		uint64_t inc = voff & (q->cluster_size - 1);
		unsigned sc = (unsigned)(inc >> q->subcluster_bits);
		enum qcow2_subcluster_status st = sc_status(*entry, bitmap, sc);
		uint64_t end = ((uint64_t)sc + 1) << q->subcluster_bits;
		while (end < inc + *n &&
		       sc_status(*entry, bitmap, (unsigned)(end >> q->subcluster_bits)) == st)
			end += q->subcluster_size;
		if (end < inc + *n)
			*n = end - inc;
		t = st == QCOW2_SC_DATA	  ? QCOW2_CLUSTER_NORMAL
		    : st == QCOW2_SC_ZERO ? QCOW2_CLUSTER_ZERO_PLAIN
					  : QCOW2_CLUSTER_UNALLOCATED;
	}
	*type = t;
	return 0;
}

/* Read len bytes of the backing chain at voff into the iovec at skip. */
static int read_backing(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t skip,
			uint64_t voff, uint64_t len, struct io_slice *s, struct vs_err *err)
{
	struct disk_image *b = q->img->backing;
	uint64_t avail = 0;
	if (b && voff < b->size)
		avail = b->size - voff < len ? b->size - voff : len;
	if (avail) {
		int r = slice(s, iov, iovcnt, skip, avail, err);
		if (r == 0)
			r = b->fmt->preadv(b, s->v, s->cnt, voff, avail, err);
		if (r < 0)
			return r;
	}
	if (avail < len)
		disk_iov_memset(iov, iovcnt, skip + avail, 0, len - avail);
	return 0;
}

int qcow2_preadv(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		 uint64_t len, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	struct io_slice s;
	s.heap = NULL; /* not the whole struct: zeroing local[] costs per request */
	uint64_t cs = q->cluster_size, pos = 0;
	int r = 0;
	while (pos < len && r == 0) {
		uint64_t voff = offset + pos;
		uint64_t inc = voff & (cs - 1);
		uint64_t n = cs - inc < len - pos ? cs - inc : len - pos;
		uint64_t entry;
		enum qcow2_cluster_type t;
		if ((r = qcow2_extent_at(q, voff, &n, &entry, &t, err)) < 0)
			break;
		switch (t) {
		case QCOW2_CLUSTER_UNALLOCATED:
			r = read_backing(q, iov, iovcnt, pos, voff, n, &s, err);
			break;
		case QCOW2_CLUSTER_ZERO_PLAIN:
		case QCOW2_CLUSTER_ZERO_ALLOC: disk_iov_memset(iov, iovcnt, pos, 0, n); break;
		case QCOW2_CLUSTER_COMPRESSED:
			r = read_compressed(q, entry, err);
			if (r == 0)
				disk_iov_from_buf(iov, iovcnt, pos, q->cbuf + inc, n);
			break;
		case QCOW2_CLUSTER_NORMAL: {
			if ((r = check_data_offset(q, entry, voff, err)) < 0)
				break;
			uint64_t host = (entry & QCOW2_OFFSET_MASK) + inc;
			/* extend over host-contiguous following clusters */
			uint64_t base = (entry & QCOW2_OFFSET_MASK), cstart = voff - inc;
			while (!q->extl2 && ((voff + n) & (cs - 1)) == 0 && pos + n < len) {
				uint64_t nv = voff + n, e2, b2;
				if ((r = qcow2_l2_get(q, nv, &e2, &b2, err)) < 0)
					break;
				if (qcow2_l2_entry_type(e2, false, 0) != QCOW2_CLUSTER_NORMAL ||
				    (e2 & QCOW2_OFFSET_MASK) != base + (nv - cstart))
					break;
				n += len - pos - n < cs ? len - pos - n : cs;
			}
			if (r < 0)
				break;
			r = slice(&s, iov, iovcnt, pos, n, err);
			if (r == 0 && (r = disk_preadv_full(q->fd, s.v, s.cnt, host)) < 0)
				r = vs_syserrf(err, -r, "read %s at 0x%" PRIx64, img->path, host);
			break;
		}
		}
		pos += n;
	}
	free(s.heap);
	return r;
}

/* Fill buf (len bytes) with what voff currently reads as, per entry. */
static int old_contents(struct qcow2 *q, uint64_t entry, uint64_t bitmap, uint64_t voff,
			uint8_t *buf, uint64_t len, struct vs_err *err)
{
	enum qcow2_cluster_type t = qcow2_l2_entry_type(entry, q->extl2, bitmap);
	uint64_t inc = voff & (q->cluster_size - 1);
	struct iovec iov = { buf, len };
	switch (t) {
	case QCOW2_CLUSTER_ZERO_PLAIN:
	case QCOW2_CLUSTER_ZERO_ALLOC: memset(buf, 0, len); return 0;
	case QCOW2_CLUSTER_COMPRESSED: {
		int r = read_compressed(q, entry, err);
		if (r == 0)
			memcpy(buf, q->cbuf + inc, len);
		return r;
	}
	case QCOW2_CLUSTER_UNALLOCATED:
		if (!q->extl2)
			return disk_backing_read(q->img, buf, len, voff, err);
		__attribute__((fallthrough)); /* subclusters decide */
	case QCOW2_CLUSTER_NORMAL:
		if (!q->extl2) {
			int r = check_data_offset(q, entry, voff, err);
			if (r == 0 && (r = disk_preadv_full(q->fd, &iov, 1,
							    (entry & QCOW2_OFFSET_MASK) + inc)) < 0)
				r = vs_syserrf(err, -r, "read %s", q->img->path);
			return r;
		}
		for (uint64_t done = 0; done < len;) {
			uint64_t o = inc + done;
			unsigned sc = (unsigned)(o >> q->subcluster_bits);
			uint64_t n = q->subcluster_size - (o & (q->subcluster_size - 1));
			if (n > len - done)
				n = len - done;
			int r = 0;
			switch (sc_status(entry, bitmap, sc)) {
			case QCOW2_SC_ZERO: memset(buf + done, 0, n); break;
			case QCOW2_SC_UNALLOCATED:
				r = disk_backing_read(q->img, buf + done, n, voff + done, err);
				break;
			case QCOW2_SC_DATA: {
				struct iovec v = { buf + done, n };
				r = check_data_offset(q, entry, voff, err);
				if (r == 0 &&
				    (r = disk_preadv_full(q->fd, &v, 1,
							  (entry & QCOW2_OFFSET_MASK) + o)) < 0)
					r = vs_syserrf(err, -r, "read %s", q->img->path);
				break;
			}
			}
			if (r < 0)
				return r;
			done += n;
		}
		return 0;
	}
	return 0;
}

int qcow2_free_entry(struct qcow2 *q, uint64_t entry, struct vs_err *err)
{
	enum qcow2_cluster_type t = qcow2_l2_entry_type(entry, q->extl2, 0);
	if (t == QCOW2_CLUSTER_COMPRESSED) {
		uint64_t host, nbytes;
		qcow2_compressed_decode(q, entry, &host, &nbytes);
		if (q->ccache_entry == entry)
			q->ccache_entry = 0;
		return qcow2_free_deferred(q, host & ~511ULL, nbytes + (host & 511), err);
	}
	uint64_t off = entry & QCOW2_OFFSET_MASK;
	if (off)
		return qcow2_free_deferred(q, off, q->cluster_size, err);
	return 0;
}

/* Write n bytes of the request (at skip) to one cluster at voff. */
static int write_cluster(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t skip,
			 uint64_t voff, uint64_t n, struct io_slice *s, struct vs_err *err)
{
	uint64_t cs = q->cluster_size, inc = voff & (cs - 1);
	uint8_t *table;
	uint64_t idx, bitmap;
	int r = qcow2_l2_table(q, voff, true, &table, &idx, err);
	if (r < 0)
		return r;
	uint64_t entry = qcow2_l2_entry_read(q, table, idx, &bitmap);
	enum qcow2_cluster_type t = qcow2_l2_entry_type(entry, q->extl2, bitmap);
	bool owned = (entry & QCOW2_OFLAG_COPIED) && t == QCOW2_CLUSTER_NORMAL;
	if (owned && (r = check_data_offset(q, entry, voff, err)) < 0)
		return r;

	if (!q->extl2 && owned) {
		uint64_t host = (entry & QCOW2_OFFSET_MASK) + inc;
		r = slice(s, iov, iovcnt, skip, n, err);
		if (r == 0 && (r = disk_pwritev_full(q->fd, s->v, s->cnt, host)) < 0)
			return vs_syserrf(err, -r, "write %s at 0x%" PRIx64, q->img->path, host);
		if (host + n > q->file_size)
			q->file_size = host + n;
		return r;
	}

	/* Range of the cluster to write: whole cluster, or touched subclusters
	 * when the cluster is ours or new with extended L2 entries. */
	uint64_t lo = 0, hi = cs;
	uint64_t host;
	bool fresh = false;
	bool keep = q->extl2 && (owned || t == QCOW2_CLUSTER_UNALLOCATED);
	if (keep) {
		lo = inc & ~(q->subcluster_size - 1);
		hi = (inc + n + q->subcluster_size - 1) & ~(q->subcluster_size - 1);
	}
	if (owned) {
		host = entry & QCOW2_OFFSET_MASK;
	} else {
		r = qcow2_alloc_clusters(q, 1, &host, err);
		if (r < 0)
			return r;
		fresh = host >= q->file_size;
		/* the allocation may have evicted our L2 table: get it again */
		r = qcow2_l2_table(q, voff, true, &table, &idx, err);
		if (r < 0)
			return r;
	}
	bool old_zero = !q->img->backing && !q->extl2 &&
			(t == QCOW2_CLUSTER_UNALLOCATED || t == QCOW2_CLUSTER_ZERO_PLAIN ||
			 t == QCOW2_CLUSTER_ZERO_ALLOC);
	if (lo == inc && hi == inc + n) {
		r = slice(s, iov, iovcnt, skip, n, err);
		if (r == 0 && (r = disk_pwritev_full(q->fd, s->v, s->cnt, host + inc)) < 0)
			return vs_syserrf(err, -r, "write %s", q->img->path);
	} else if (old_zero && fresh) {
		/* the new cluster lies past the end of file: it reads as zeros */
		r = slice(s, iov, iovcnt, skip, n, err);
		if (r == 0 && (r = disk_pwritev_full(q->fd, s->v, s->cnt, host + inc)) < 0)
			return vs_syserrf(err, -r, "write %s", q->img->path);
	} else {
		uint8_t *buf = q->bounce;
		uint64_t base = voff - inc;
		if (lo < inc &&
		    (r = old_contents(q, entry, bitmap, base + lo, buf + lo, inc - lo, err)) < 0)
			return r;
		if (inc + n < hi && (r = old_contents(q, entry, bitmap, base + inc + n,
						      buf + inc + n, hi - inc - n, err)) < 0)
			return r;
		disk_iov_to_buf(iov, iovcnt, skip, buf + inc, n);
		if ((r = vs_pwrite_full(q->fd, buf + lo, hi - lo, (off_t)(host + lo))) < 0)
			return vs_syserrf(err, -r, "write %s", q->img->path);
		/* old_contents may have used the cache: get the table again */
		if ((r = qcow2_l2_table(q, voff, true, &table, &idx, err)) < 0)
			return r;
	}
	uint64_t wend = host + ((lo == inc && hi == inc + n) || (old_zero && fresh) ? inc + n : hi);
	if (wend > q->file_size)
		q->file_size = wend;
	if (host + cs > q->file_size && (r = qcow2_extend_file(q, host + cs, err)) < 0)
		return r;
	uint64_t nbitmap = 0;
	if (q->extl2) {
		uint64_t bits = 0;
		for (uint64_t o = lo; o < hi; o += q->subcluster_size)
			bits |= 1ULL << (o >> q->subcluster_bits);
		if (keep)
			nbitmap = ((bitmap & 0xffffffffULL) | bits) | ((bitmap >> 32) & ~bits)
									  << 32;
		else
			nbitmap = 0xffffffffULL; /* whole cluster written */
	}
	qcow2_l2_entry_write(q, table, idx, host | QCOW2_OFLAG_COPIED, nbitmap);
	if (!owned && t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN)
		return qcow2_free_entry(q, entry, err);
	return 0;
}

static bool entry_owned(uint64_t e)
{
	return (e & QCOW2_OFLAG_COPIED) && qcow2_l2_entry_type(e, false, 0) == QCOW2_CLUSTER_NORMAL;
}

/*
 * Whole clusters from voff (at most max, within one L2 table): either a run
 * of clusters we own that are contiguous on the host (written in place), or
 * a run of clusters that need new space (allocated contiguously, written,
 * then pointed to; the old clusters are released).  Sets *done to the bytes
 * written, 0 when the first cluster fits neither (the caller falls back).
 */
static int write_run(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t skip,
		     uint64_t voff, uint64_t max, uint64_t *done, struct io_slice *s,
		     struct vs_err *err)
{
	uint64_t cs = q->cluster_size;
	uint8_t *table;
	uint64_t idx;
	*done = 0;
	int r = qcow2_l2_table(q, voff, true, &table, &idx, err);
	if (r < 0)
		return r;
	if (max > q->l2_entries - idx)
		max = q->l2_entries - idx;
	uint64_t e0 = qcow2_l2_entry_read(q, table, idx, NULL);
	bool owned = entry_owned(e0);
	uint64_t k = 1;
	if (owned) {
		if ((r = check_data_offset(q, e0, voff, err)) < 0)
			return r;
		uint64_t h0 = e0 & QCOW2_OFFSET_MASK;
		while (k < max) {
			uint64_t e = qcow2_l2_entry_read(q, table, idx + k, NULL);
			if (!entry_owned(e) || (e & QCOW2_OFFSET_MASK) != h0 + k * cs)
				break;
			k++;
		}
		r = slice(s, iov, iovcnt, skip, k * cs, err);
		if (r == 0 && (r = disk_pwritev_full(q->fd, s->v, s->cnt, h0)) < 0)
			return vs_syserrf(err, -r, "write %s at 0x%" PRIx64, q->img->path, h0);
		if (h0 + k * cs > q->file_size)
			q->file_size = h0 + k * cs;
		*done = k * cs;
		return r;
	}
	while (k < max && !entry_owned(qcow2_l2_entry_read(q, table, idx + k, NULL)))
		k++;
	uint64_t host;
	if ((r = qcow2_alloc_clusters(q, k, &host, err)) < 0)
		return r;
	r = slice(s, iov, iovcnt, skip, k * cs, err);
	if (r == 0 && (r = disk_pwritev_full(q->fd, s->v, s->cnt, host)) < 0)
		return vs_syserrf(err, -r, "write %s at 0x%" PRIx64, q->img->path, host);
	if (host + k * cs > q->file_size)
		q->file_size = host + k * cs;
	/* the allocation may have evicted the table: get it again */
	if ((r = qcow2_l2_table(q, voff, true, &table, &idx, err)) < 0)
		return r;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t old = qcow2_l2_entry_read(q, table, idx + i, NULL);
		qcow2_l2_entry_write(q, table, idx + i, (host + i * cs) | QCOW2_OFLAG_COPIED, 0);
		enum qcow2_cluster_type t = qcow2_l2_entry_type(old, false, 0);
		if (t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN &&
		    (r = qcow2_free_entry(q, old, err)) < 0)
			return r;
	}
	*done = k * cs;
	return 0;
}

int qcow2_pwritev(struct disk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset,
		  uint64_t len, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	if (q->broken)
		return vs_errf(err, EIO, "%s: an earlier metadata write failed", img->path);
	struct io_slice s;
	s.heap = NULL; /* not the whole struct: zeroing local[] costs per request */
	uint64_t cs = q->cluster_size, pos = 0;
	int r = 0;
	while (pos < len && r == 0) {
		uint64_t voff = offset + pos;
		uint64_t inc = voff & (cs - 1);
		uint64_t n = cs - inc < len - pos ? cs - inc : len - pos;
		if (!q->extl2 && inc == 0 && len - pos >= 2 * cs) {
			/* two or more whole clusters: one host write for the run */
			r = write_run(q, iov, iovcnt, pos, voff, (len - pos) / cs, &n, &s, err);
			if (r == 0 && n) {
				pos += n;
				continue;
			}
			n = cs - inc < len - pos ? cs - inc : len - pos;
		}
		if (r == 0)
			r = write_cluster(q, iov, iovcnt, pos, voff, n, &s, err);
		pos += n;
	}
	free(s.heap);
	if (q->ccache_entry)
		q->ccache_entry = 0;
	return r;
}

int qcow2_zero_range(struct disk_image *img, uint64_t offset, uint64_t len, bool discard,
		     bool unmap, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	if (q->broken)
		return vs_errf(err, EIO, "%s: an earlier metadata write failed", img->path);
	uint64_t cs = q->cluster_size, pos = 0;
	bool has_zero = q->h.version >= 3;
	static const uint8_t zeros[4096];
	while (pos < len) {
		uint64_t voff = offset + pos;
		uint64_t inc = voff & (cs - 1);
		uint64_t n = cs - inc < len - pos ? cs - inc : len - pos;
		pos += n;
		bool whole = n == cs || (inc == 0 && voff + n == img->size);
		/* zero flag if reads must be zeros despite a backing file */
		bool want_zero = !unmap && img->backing;
		if (!whole && q->extl2 && (inc & (q->subcluster_size - 1)) == 0 &&
		    (n & (q->subcluster_size - 1)) == 0) {
			/* whole subclusters: flip their bitmap bits */
			uint8_t *table;
			uint64_t idx, bitmap;
			int r = qcow2_l2_table(q, voff, true, &table, &idx, err);
			if (r < 0)
				return r;
			uint64_t entry = qcow2_l2_entry_read(q, table, idx, &bitmap);
			if (qcow2_l2_entry_type(entry, true, bitmap) == QCOW2_CLUSTER_COMPRESSED)
				goto write_zeros;
			if ((entry & QCOW2_OFFSET_MASK) && !(entry & QCOW2_OFLAG_COPIED))
				goto write_zeros; /* shared: copy first through the write path */
			uint64_t bits = 0;
			for (uint64_t o = inc; o < inc + n; o += q->subcluster_size)
				bits |= 1ULL << (o >> q->subcluster_bits);
			bitmap &= ~bits;
			bitmap &= ~(bits << 32);
			if (want_zero || !unmap)
				bitmap |= bits << 32;
			qcow2_l2_entry_write(q, table, idx, entry, bitmap);
			continue;
		}
		if (!whole) {
			if (discard)
				continue;
			goto write_zeros;
		}
		if (!has_zero && want_zero)
			goto write_zeros;
		{
			uint8_t *table;
			uint64_t idx, bitmap;
			int r = qcow2_l2_table(q, voff, false, &table, &idx, err);
			if (r < 0)
				return r;
			if (!table && !want_zero)
				continue; /* already unallocated, no backing */
			r = qcow2_l2_table(q, voff, true, &table, &idx, err);
			if (r < 0)
				return r;
			uint64_t entry = qcow2_l2_entry_read(q, table, idx, &bitmap);
			uint64_t ne = 0, nb = 0;
			if (want_zero || (!unmap && q->extl2)) {
				if (q->extl2)
					nb = 0xffffffffULL << 32;
				else
					ne = QCOW2_OFLAG_ZERO;
			}
			if (entry == ne && bitmap == nb)
				continue;
			qcow2_l2_entry_write(q, table, idx, ne, nb);
			enum qcow2_cluster_type t = qcow2_l2_entry_type(entry, q->extl2, bitmap);
			if (t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN &&
			    (r = qcow2_free_entry(q, entry, err)) < 0)
				return r;
			if (t == QCOW2_CLUSTER_COMPRESSED && q->ccache_entry == entry)
				q->ccache_entry = 0;
		}
		continue;
	write_zeros:
		for (uint64_t done = 0; done < n;) {
			uint64_t k = n - done < sizeof(zeros) ? n - done : sizeof(zeros);
			struct iovec v = { (void *)zeros, k };
			struct io_slice s;
			s.heap = NULL; /* not the whole struct: zeroing local[] costs per request */
			int r = write_cluster(q, &v, 1, 0, voff + done, k, &s, err);
			free(s.heap);
			if (r < 0)
				return r;
			done += k;
		}
	}
	return 0;
}

int qcow2_block_status(struct disk_image *img, uint64_t offset, uint64_t len,
		       struct disk_extent *ext, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	uint64_t cs = q->cluster_size;
	ext->start = offset;
	ext->length = 0;
	ext->flags = 0;
	ext->host_offset = 0;
	bool first = true;
	uint64_t pos = 0;
	while (pos < len) {
		uint64_t voff = offset + pos;
		uint64_t inc = voff & (cs - 1);
		uint64_t n = cs - inc < len - pos ? cs - inc : len - pos;
		uint64_t entry;
		enum qcow2_cluster_type t;
		int r = qcow2_extent_at(q, voff, &n, &entry, &t, err);
		if (r < 0)
			return r;
		unsigned flags = 0;
		uint64_t host = 0;
		switch (t) {
		case QCOW2_CLUSTER_UNALLOCATED: flags = 0; break;
		case QCOW2_CLUSTER_ZERO_PLAIN:
		case QCOW2_CLUSTER_ZERO_ALLOC: flags = DISK_EXTENT_ZERO; break;
		case QCOW2_CLUSTER_COMPRESSED: flags = DISK_EXTENT_DATA; break;
		case QCOW2_CLUSTER_NORMAL:
			flags = DISK_EXTENT_DATA | DISK_EXTENT_OFFSET;
			host = (entry & QCOW2_OFFSET_MASK) + inc;
			break;
		}
		if (first) {
			ext->flags = flags;
			ext->host_offset = host;
			first = false;
		} else if (flags != ext->flags || ((flags & DISK_EXTENT_OFFSET) &&
						   host != ext->host_offset + ext->length)) {
			break;
		}
		ext->length += n;
		pos += n;
	}
	return 0;
}

int qcow2_write_compressed(struct disk_image *img, const void *buf, uint64_t offset,
			   struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	uint64_t cs = q->cluster_size;
	if (offset % cs)
		return vs_errf(err, EINVAL, "compressed write not cluster aligned");
	vs_cleanup_free uint8_t *out = malloc(cs);
	if (!out)
		return vs_errf(err, ENOMEM, "out of memory");
	/* the compressed size must fit the descriptor: at most a cluster */
	long clen = qcow2_compress(q->h.compression_type, buf, cs, out, cs - 512);
	if (clen < 0) {
		struct iovec v = { (void *)buf, cs };
		uint64_t n = offset + cs > img->size ? img->size - offset : cs;
		v.iov_len = n;
		return qcow2_pwritev(img, &v, 1, offset, n, err);
	}
	uint64_t host;
	int r = qcow2_alloc_bytes(q, (uint64_t)clen, &host, err);
	if (r < 0)
		return r;
	if ((r = vs_pwrite_full(q->fd, out, (size_t)clen, (off_t)host)) < 0)
		return vs_syserrf(err, -r, "write %s", img->path);
	if (host + (uint64_t)clen > q->file_size)
		q->file_size = host + (uint64_t)clen;
	uint64_t end_sector = (host + (uint64_t)clen - 1) >> 9;
	uint64_t nb = end_sector - (host >> 9); /* additional sectors */
	uint64_t entry = QCOW2_OFLAG_COMPRESSED | (nb << q->csize_shift) | host;
	uint8_t *table;
	uint64_t idx, bitmap;
	if ((r = qcow2_l2_table(q, offset, true, &table, &idx, err)) < 0)
		return r;
	uint64_t old = qcow2_l2_entry_read(q, table, idx, &bitmap);
	qcow2_l2_entry_write(q, table, idx, entry, 0);
	enum qcow2_cluster_type t = qcow2_l2_entry_type(old, q->extl2, bitmap);
	if (t != QCOW2_CLUSTER_UNALLOCATED && t != QCOW2_CLUSTER_ZERO_PLAIN)
		return qcow2_free_entry(q, old, err);
	return 0;
}
