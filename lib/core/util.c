/*
 * util.c - size parsing, full reads/writes, small file helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

int vs_parse_u64(const char *text, uint64_t *out, struct vs_err *err)
{
	if (!text || !*text || *text == '-' || *text == '+' || *text == ' ')
		return vs_errf(err, EINVAL, "invalid number '%s'", text ? text : "");
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno == ERANGE)
		return vs_errf(err, ERANGE, "number '%s' is too large", text);
	if (*end != '\0')
		return vs_errf(err, EINVAL, "invalid number '%s'", text);
	*out = v;
	return 0;
}

int vs_parse_size(const char *text, uint64_t *out, struct vs_err *err)
{
	if (!text || !*text || *text == '-' || *text == '+' || *text == ' ')
		return vs_errf(err, EINVAL, "invalid size '%s'", text ? text : "");
	char *end = NULL;
	errno = 0;
	unsigned long long whole = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return vs_errf(err, ERANGE, "size '%s' is too large", text);
	if (end == text)
		return vs_errf(err, EINVAL, "invalid size '%s'", text);
	/* optional fraction, only meaningful with a unit */
	uint64_t frac_num = 0, frac_den = 1;
	if (*end == '.') {
		end++;
		while (*end >= '0' && *end <= '9') {
			if (frac_den < 1000000000ULL) {
				frac_num = frac_num * 10 + (uint64_t)(*end - '0');
				frac_den *= 10;
			}
			end++;
		}
	}
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'b':
	case 'B':
		shift = 0;
		end++;
		break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case 'p':
	case 'P':
		shift = 50;
		end++;
		break;
	case 'e':
	case 'E':
		shift = 60;
		end++;
		break;
	default: return vs_errf(err, EINVAL, "invalid size '%s': unknown unit", text);
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end != '\0')
		return vs_errf(err, EINVAL, "invalid size '%s': trailing characters", text);
	if (shift && whole > (UINT64_MAX >> shift))
		return vs_errf(err, ERANGE, "size '%s' is too large", text);
	uint64_t v = (uint64_t)whole << shift;
	if (frac_num) {
		if (shift == 0)
			return vs_errf(err, EINVAL, "invalid size '%s': fractional bytes", text);
		unsigned __int128 f = ((unsigned __int128)frac_num << shift) / frac_den;
		if (v + (uint64_t)f < v)
			return vs_errf(err, ERANGE, "size '%s' is too large", text);
		v += (uint64_t)f;
	}
	*out = v;
	return 0;
}

const char *vs_format_size(uint64_t size, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	double v = (double)size;
	while (v >= 1024.0 && u + 1 < VS_ARRAY_SIZE(units)) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", size);
	else
		snprintf(buf, len, "%.3g %s", v, units[u]);
	return buf;
}

int vs_pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int vs_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* no progress: never spin */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int vs_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vs_send_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vs_split_hostport(const char *address, char *host, size_t hostlen, const char **port)
{
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || !colon[1])
		return -EINVAL;
	const char *h = address;
	size_t n = (size_t)(colon - address);
	if (h[0] == '[' || h[n - 1] == ']') {
		if (n < 3 || h[0] != '[' || h[n - 1] != ']')
			return -EINVAL;
		h++;
		n -= 2;
	}
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = 0;
	*port = colon + 1;
	return 0;
}

int vs_read_file(const char *path, char **out, size_t *len, size_t max, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vs_syserrf(err, errno, "stat %s", path);
	size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	vs_cleanup_free char *buf = malloc(cap);
	if (!buf)
		return vs_errf(err, ENOMEM, "read %s: out of memory", path);
	size_t used = 0;
	for (;;) {
		if (used + 1 >= cap) {
			if (cap > max)
				return vs_errf(err, EFBIG, "read %s: larger than %zu bytes", path,
					       max);
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb)
				return vs_errf(err, ENOMEM, "read %s: out of memory", path);
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vs_syserrf(err, errno, "read %s", path);
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	if (len)
		*len = used;
	*out = vs_steal_ptr(&buf);
	return 0;
}

int vs_write_file_atomic(const char *path, const void *buf, size_t len, struct vs_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return vs_errf(err, ENAMETOOLONG, "path too long: %s", path);
	vs_cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", tmp);
	int r = vs_write_full(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return vs_syserrf(err, -r, "write %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return vs_syserrf(err, -r, "rename %s", path);
	}
	return 0;
}

uint64_t vs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void vs_stdio_ensure(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
			break;
}
