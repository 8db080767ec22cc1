/*
 * fsutil.c - file-system and process helpers of the manager (fsutil.h).
 *
 * mgr_run uses posix_spawn (safe in the multi-threaded daemon: no code runs
 * in the child between fork and exec) and poll()s the pipes so that a
 * chatty child never blocks on a full pipe; output past the cap is read and
 * dropped.  Children get a clean signal mask and default dispositions.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"

extern char **environ;

int mgr_mkdir_p(const char *path, mode_t mode, struct vs_err *err)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return vs_errf(err, ENAMETOOLONG, "mkdir %s: path too long", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return vs_syserrf(err, errno, "mkdir %s", buf);
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	int r = flag == FTW_DP ? rmdir(path) : unlink(path);
	if (r < 0 && errno != ENOENT)
		return errno;
	return 0;
}

int mgr_rm_rf(const char *path, struct vs_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : vs_syserrf(err, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return vs_syserrf(err, errno, "remove %s", path);
		return 0;
	}
	int r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r > 0)
		return vs_syserrf(err, r, "remove %s", path);
	if (r < 0)
		return vs_syserrf(err, errno, "remove %s", path);
	if (lstat(path, &st) == 0)
		return vs_errf(err, EBUSY, "remove %s: something is mounted inside", path);
	return 0;
}

bool mgr_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool mgr_is_mountpoint(const char *path)
{
	char real[4096];
	if (!realpath(path, real))
		return false;
	vs_cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		char mp[4096];
		/* id parent major:minor root mountpoint ... (octal escapes) */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		char dec[4096];
		size_t j = 0;
		for (size_t i = 0; mp[i] && j + 1 < sizeof(dec); i++) {
			if (mp[i] == '\\' && mp[i + 1] && mp[i + 2] && mp[i + 3]) {
				dec[j++] = (char)((mp[i + 1] - '0') * 64 + (mp[i + 2] - '0') * 8 +
						  (mp[i + 3] - '0'));
				i += 3;
			} else {
				dec[j++] = mp[i];
			}
		}
		dec[j] = 0;
		found = strcmp(dec, real) == 0;
	}
	free(line);
	return found;
}

static void hex_of(const unsigned char *d, char hex[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + i * 2, 3, "%02x", d[i]);
}

int mgr_sha256_file(const char *path, char hex[65], uint64_t *size, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return vs_errf(err, EIO, "sha256: cannot initialise");
	vs_cleanup_free char *buf = malloc(1 << 20);
	if (!buf) {
		gnutls_hash_deinit(h, NULL);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			gnutls_hash_deinit(h, NULL);
			return vs_syserrf(err, e, "read %s", path);
		}
		if (n == 0)
			break;
		gnutls_hash(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	hex_of(d, hex);
	if (size)
		*size = total;
	return 0;
}

void mgr_sha256_buf(const void *buf, size_t len, char hex[65])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, d);
	hex_of(d, hex);
}

bool mgr_is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void mgr_run_free(struct mgr_run *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

struct capture {
	char *buf;
	size_t len, cap;
};

/* Read what is there; 0 at EOF, 1 while open. */
static int capture_read(int fd, struct capture *c, size_t limit)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	size_t keep = c->len < limit ? limit - c->len : 0;
	if ((size_t)n < keep)
		keep = (size_t)n;
	if (keep) {
		if (c->len + keep + 1 > c->cap) {
			size_t ncap = (c->len + keep + 1) * 2;
			char *nb = realloc(c->buf, ncap);
			if (!nb)
				return 1;
			c->buf = nb;
			c->cap = ncap;
		}
		memcpy(c->buf + c->len, tmp, keep);
		c->len += keep;
		c->buf[c->len] = 0;
	}
	return 1;
}

int mgr_run(char *const argv[], const char *in, size_t in_len, size_t cap, struct mgr_run *res,
	    struct vs_err *err)
{
	memset(res, 0, sizeof(*res));
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int r = 0, pidfd = -1;
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = vs_syserrf(err, errno, "pipe");
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		r = vs_syserrf(err, rc, "run %s", argv[0]);
		goto out;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	size_t written = 0;
	if (!in || !in_len) {
		close(pin[1]);
		pin[1] = -1;
	} else {
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
	}
	struct capture co = { 0 }, ce = { 0 };
	bool out_open = true, err_open = true;
	/* the child's exit ends the capture even when a grandchild it left
	 * behind still holds the pipes (drained without blocking then) */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool exited = false;
	while (out_open || err_open) {
		struct pollfd p[4] = { { out_open ? pout[0] : -1, POLLIN, 0 },
				       { err_open ? perr[0] : -1, POLLIN, 0 },
				       { pin[1], POLLOUT, 0 },
				       { exited ? -1 : pidfd, POLLIN, 0 } };
		if (poll(p, 4, exited ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (exited && !p[0].revents && !p[1].revents)
			break;
		if (p[3].revents) {
			exited = true;
			fcntl(pout[0], F_SETFL, O_NONBLOCK);
			fcntl(perr[0], F_SETFL, O_NONBLOCK);
		}
		if (p[0].revents)
			out_open = capture_read(pout[0], &co, res && cap ? cap : 0);
		if (p[1].revents)
			err_open = capture_read(perr[0], &ce, cap ? cap : 0);
		if (pin[1] >= 0 && p[2].revents) {
			ssize_t n = (p[2].revents & POLLOUT)
					? write(pin[1], in + written, in_len - written)
					: -1;
			if (n > 0)
				written += (size_t)n;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				written = in_len;
			if (written >= in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	res->out = co.buf;
	res->out_len = co.len;
	res->err = ce.buf;
	res->err_len = ce.len;
out:
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return r;
}

int mgr_run_logged(char *const argv[], int out_fd, int *status, struct vs_err *err)
{
	vs_cleanup_close int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0)
		return vs_syserrf(err, errno, "open /dev/null");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, null, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	/* its own session: a container must not share vesseld's terminal or
	 * process group (a ^C or a kill of the group would reach it) */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSID);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0)
		return vs_syserrf(err, rc, "run %s", argv[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}
