/*
 * file_clone.c - a cheap, complete copy of one file into a new one
 * (fsutil.h), for storage-volume snapshots and their restore.
 *
 * Cheapest first: a reflink (ioctl FICLONE) shares the source's extents
 * where the file system can (btrfs, XFS with reflink=1, bcachefs): it
 * costs no data and is atomic with respect to writers of the source.
 * Elsewhere (ext4, tmpfs) only the source's data extents are copied:
 * lseek SEEK_DATA/SEEK_HOLE walks them, copy_file_range copies each in the
 * kernel (and may share blocks itself, e.g. on NFS), and a plain
 * pread/pwrite loop that skips zero blocks is the last resort.  Holes stay
 * holes, so a sparse 1 GiB volume with 20 MiB of data costs 20 MiB.
 *
 * The copy is fsync'ed before success is returned; the caller renames it
 * into place and fsyncs the directory, so that a crash leaves either the
 * old state or the complete new file, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/mgr/operation.h"

#define CHUNK (1u << 20)

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* [off, end) of sfd into dfd at the same offsets, by read and write;
 * blocks of zeros are skipped (dfd is already sized, so they read as 0). */
static int copy_rw(int sfd, int dfd, off_t off, off_t end, unsigned char *buf, struct vs_err *err)
{
	while (off < end) {
		size_t want = (size_t)(end - off < CHUNK ? end - off : CHUNK);
		ssize_t n = pread(sfd, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read");
		if (n == 0)
			return 0; /* the source shrank meanwhile */
		if (!all_zero(buf, (size_t)n)) {
			for (ssize_t done = 0; done < n;) {
				ssize_t w = pwrite(dfd, buf + done, (size_t)(n - done), off + done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					return vs_syserrf(err, errno, "write");
				done += w;
			}
		}
		off += n;
	}
	return 0;
}

/* The data extents of sfd (size bytes) into dfd, sized already. */
static int copy_extents(int sfd, int dfd, off_t size, struct vs_err *err)
{
	bool use_cfr = true;
	vs_cleanup_free unsigned char *buf = NULL;
	for (off_t pos = 0; pos < size;) {
		off_t data = lseek(sfd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole left */
		if (data < 0)  /* no SEEK_DATA here: everything is data */
			data = pos;
		off_t hole = lseek(sfd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		off_t off = data;
		while (use_cfr && off < hole) {
			loff_t in = off, out = off;
			ssize_t n = copy_file_range(sfd, &in, dfd, &out, (size_t)(hole - off), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP || errno == EBADF)) {
				use_cfr = false;
				break;
			}
			if (n < 0)
				return vs_syserrf(err, errno, "copy_file_range");
			if (n == 0)
				break; /* the source shrank meanwhile */
			off += n;
		}
		if (off < hole) {
			if (!buf && !(buf = malloc(CHUNK)))
				return vs_errf(err, ENOMEM, "out of memory");
			int r = copy_rw(sfd, dfd, off, hole, buf, err);
			if (r < 0)
				return r;
		}
		mgr_op_progress("copying", (unsigned)((double)hole * 100 / (double)size));
		pos = hole;
	}
	return 0;
}

int mgr_file_clone(const char *src, const char *dst, struct vs_err *err)
{
	vs_cleanup_close int sfd = open(src, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return vs_syserrf(err, errno, "open %s", src);
	struct stat st;
	if (fstat(sfd, &st) < 0)
		return vs_syserrf(err, errno, "stat %s", src);
	if (!S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "%s: not a regular file", src);
	vs_cleanup_close int dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dfd < 0)
		return vs_syserrf(err, errno, "create %s", dst);
	int r = 0;
	if (ioctl(dfd, FICLONE, sfd) < 0) {
		if (ftruncate(dfd, st.st_size) < 0)
			r = vs_syserrf(err, errno, "size %s", dst);
		else if ((r = copy_extents(sfd, dfd, st.st_size, err)) < 0)
			vs_err_prefix(err, "copy %s to %s", src, dst);
	}
	if (r == 0 && fsync(dfd) < 0)
		r = vs_syserrf(err, errno, "fsync %s", dst);
	if (r < 0)
		unlink(dst);
	return r;
}

int mgr_fsync_dir(const char *dir, struct vs_err *err)
{
	vs_cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", dir);
	if (fsync(fd) < 0)
		return vs_syserrf(err, errno, "fsync %s", dir);
	return 0;
}
