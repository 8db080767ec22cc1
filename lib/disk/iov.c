/*
 * iov.c - scatter/gather helpers shared by the formats: copying between an
 * iovec array and a flat buffer, slicing a byte range out of an iovec, and
 * full-length preadv/pwritev.
 *
 * Invariant: callers never ask for bytes beyond the iovec's total length
 * (image.c checks request lengths once, at the API boundary).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "disk_internal.h"
#include "vessel/core/util.h"

/* Walk [skip, skip+len) of the iovec segment by segment: copy it out to
 * `out`, or in from `in`, or (both NULL) fill it with c. */
static void iov_walk(const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len, uint8_t *out,
		     const uint8_t *in, int c)
{
	uint64_t done = 0;
	for (int i = 0; i < iovcnt && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		uint8_t *seg = (uint8_t *)iov[i].iov_base + skip;
		uint64_t n = iov[i].iov_len - skip;
		if (n > len - done)
			n = len - done;
		if (out)
			memcpy(out + done, seg, n);
		else if (in)
			memcpy(seg, in + done, n);
		else
			memset(seg, c, n);
		done += n;
		skip = 0;
	}
}

void disk_iov_to_buf(const struct iovec *iov, int iovcnt, uint64_t skip, void *buf, uint64_t len)
{
	iov_walk(iov, iovcnt, skip, len, buf, NULL, 0);
}

void disk_iov_from_buf(const struct iovec *iov, int iovcnt, uint64_t skip, const void *buf,
		       uint64_t len)
{
	iov_walk(iov, iovcnt, skip, len, NULL, buf, 0);
}

void disk_iov_memset(const struct iovec *iov, int iovcnt, uint64_t skip, int c, uint64_t len)
{
	iov_walk(iov, iovcnt, skip, len, NULL, NULL, c);
}

int disk_iov_slice(const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len,
		   struct iovec *out, int max)
{
	int n = 0;
	for (int i = 0; i < iovcnt && len > 0; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		if (n == max)
			return -1;
		uint64_t l = iov[i].iov_len - skip;
		if (l > len)
			l = len;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l;
		n++;
		len -= l;
		skip = 0;
	}
	return n;
}

static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (n > 0 && *iovcnt > 0) {
		if (n >= (*iov)->iov_len) {
			n -= (*iov)->iov_len;
			(*iov)++;
			(*iovcnt)--;
		} else {
			(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			n = 0;
		}
	}
	while (*iovcnt > 0 && (*iov)->iov_len == 0) {
		(*iov)++;
		(*iovcnt)--;
	}
}

/* One buffer (nearly every request): no iovec bookkeeping, and pread
 * spares the kernel the iovec import. */
static int pread_one(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) { /* end of file: the rest reads as zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Vectored transfer of the whole of iov at off; a read past the end of the
 * file fills the rest with zeros, a write that makes no progress is -EIO. */
static int rw_full(int fd, struct iovec *iov, int iovcnt, uint64_t off, bool write)
{
	while (iovcnt > 0 && iov->iov_len == 0) {
		iov++;
		iovcnt--;
	}
	while (iovcnt > 0) {
		int cnt = iovcnt > IOV_MAX ? IOV_MAX : iovcnt;
		ssize_t n =
		    write ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0 && write)
			return -EIO; /* no progress: never spin */
		if (n == 0) {	     /* end of file: the rest reads as zeros */
			for (int i = 0; i < iovcnt; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		off += (uint64_t)n;
		iov_advance(&iov, &iovcnt, (size_t)n);
	}
	return 0;
}

int disk_preadv_full(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	if (iovcnt == 1)
		return pread_one(fd, iov->iov_base, iov->iov_len, off);
	return rw_full(fd, iov, iovcnt, off, false);
}

int disk_pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	if (iovcnt == 1) /* one buffer: pwrite spares the kernel the iovec import */
		return vs_pwrite_full(fd, iov->iov_base, iov->iov_len, (off_t)off);
	return rw_full(fd, iov, iovcnt, off, true);
}

bool disk_buf_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0 && ((uintptr_t)p & 7)) {
		if (*p)
			return false;
		p++;
		len--;
	}
	const uint64_t *q = (const uint64_t *)(const void *)p;
	while (len >= 8) {
		if (*q)
			return false;
		q++;
		len -= 8;
	}
	p = (const uint8_t *)q;
	while (len > 0) {
		if (*p)
			return false;
		p++;
		len--;
	}
	return true;
}
