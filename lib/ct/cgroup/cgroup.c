/*
 * cgroup.c - container cgroups: host layout detection, path resolution,
 * interface-file helpers and the public ct_cgroup_* entry points, which
 * dispatch to cgroup_v1.c and cgroup_v2.c.
 *
 * Layouts (see include/vessel/ct/cgroup.h):
 *  - v2: cgroup2 mounted at the root; one hierarchy.
 *  - v1: a tmpfs at the root with one cgroup mount per controller set
 *    (e.g. "cpu,cpuacct", with "cpu" and "cpuacct" as symlinks to it).
 *  - hybrid: v1 plus cgroup2 at <root>/unified.  Limits go through v1; the
 *    process also joins the unified tree (systemd and cgroupns users look
 *    there), which normally has no controllers.
 *
 * Paths (runtime-spec config-linux.md "cgroupsPath"): an absolute path is
 * taken under each mount; a relative one under this process's own cgroup of
 * each hierarchy (/proc/self/cgroup), as runc does.  The resolved path is
 * recomputed by every call from ct_cgroup.path, so the runtime commands
 * that act on a container must run in the same cgroups as the one that
 * created it when the path is relative.  ".." components are refused, so a
 * config cannot name a directory outside the mounts.
 *
 * Invariants: creation is all-or-nothing (directories made are recorded and
 * removed again, and a process moved in is moved back, on any failure);
 * destroy removes only the container's own directory in each hierarchy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "cgroup_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/ct/cgroup_testing.h"

#define CG_DEFAULT_ROOT "/sys/fs/cgroup"

static char cg_test_root[256];
static char cg_test_self[256];

void ct_cgroup_testing_set_root(const char *root, const char *self_cgroup_file)
{
	snprintf(cg_test_root, sizeof(cg_test_root), "%s", root ? root : "");
	snprintf(cg_test_self, sizeof(cg_test_self), "%s",
		 root && self_cgroup_file ? self_cgroup_file : "");
}

const char *cg_root(void)
{
	return cg_test_root[0] ? cg_test_root : CG_DEFAULT_ROOT;
}

bool cg_fake(void)
{
	return cg_test_root[0] != '\0';
}

/* config-linux.md "Default Devices", plus mknod of anything (runc, crun). */
const struct ct_device_rule cg_default_devices[] = {
	{ true, 'c', -1, -1, "m" }, { true, 'b', -1, -1, "m" },	   { true, 'c', 1, 3, "rwm" },
	{ true, 'c', 1, 5, "rwm" }, { true, 'c', 1, 7, "rwm" },	   { true, 'c', 1, 8, "rwm" },
	{ true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },	   { true, 'c', 5, 1, "rwm" },
	{ true, 'c', 5, 2, "rwm" }, { true, 'c', 136, -1, "rwm" },
};
const unsigned cg_ndefault_devices = VS_ARRAY_SIZE(cg_default_devices);

/* ---- interface files ---- */

int cg_write(const char *dir, const char *file, const char *value, struct vs_err *err)
{
	char path[CG_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int flags = O_WRONLY | O_CLOEXEC | O_TRUNC | (cg_fake() ? O_CREAT : 0);
	vs_cleanup_close int fd = open(path, flags, 0644);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	if (n < 0)
		return vs_syserrf(err, errno, "write '%s' to %s", value, path);
	if ((size_t)n != len)
		return vs_errf(err, EIO, "write '%s' to %s: short write", value, path);
	return 0;
}

int cg_writef(const char *dir, const char *file, struct vs_err *err, const char *fmt, ...)
{
	char value[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	return cg_write(dir, file, value, err);
}

int cg_read(const char *dir, const char *file, char *buf, size_t size, struct vs_err *err)
{
	char path[CG_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *out, struct vs_err *err)
{
	char buf[64];
	int r = cg_read(dir, file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	if (strcmp(buf, "max") == 0 || strcmp(buf, "-1") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return vs_errf(err, EINVAL, "%s/%s: '%s' is not a number", dir, file, buf);
	return 0;
}

int cg_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char buf[8192];
	if (cg_read(dir, file, buf, sizeof(buf), NULL) < 0)
		return -ENOENT;
	size_t klen = strlen(key);
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*out = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
		line = next;
	}
	return -ENOENT;
}

bool cg_exists(const char *dir, const char *file)
{
	char path[CG_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* ---- directories ---- */

int cg_mkdir_p(const char *dir, struct cg_made *made, struct vs_err *err)
{
	char path[CG_PATH_MAX];
	snprintf(path, sizeof(path), "%s", dir);
	size_t len = strlen(path);
	/* find the deepest existing ancestor, then create downwards */
	size_t start = len;
	while (start > 1) {
		path[start] = '\0';
		struct stat st;
		if (stat(path, &st) == 0)
			break;
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			break;
		start = (size_t)(slash - path);
	}
	snprintf(path, sizeof(path), "%s", dir);
	for (size_t i = start; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		if (i == start)
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, 0755) == 0) {
			if (made->n >= VS_ARRAY_SIZE(made->dirs)) {
				rmdir(path);
				return vs_errf(err, E2BIG, "mkdir %s: cgroup path is too deep",
					       path);
			}
			snprintf(made->dirs[made->n++], sizeof(made->dirs[0]), "%s", path);
		} else if (errno != EEXIST) {
			return vs_syserrf(err, errno, "mkdir %s", path);
		}
		path[i] = saved;
	}
	return 0;
}

/* A fake tree's directories hold plain files that the kernel would not. */
static void cg_fake_empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_REG)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

void cg_made_undo(struct cg_made *made)
{
	while (made->n > 0) {
		const char *d = made->dirs[--made->n];
		if (cg_fake())
			cg_fake_empty_dir(d);
		if (rmdir(d) < 0 && errno != ENOENT)
			vs_log(VS_LOG_WARN, "cgroup: cannot remove %s: %s", d, strerror(errno));
	}
}

int cg_enter(const char *dir, pid_t pid, struct vs_err *err)
{
	return cg_writef(dir, "cgroup.procs", err, "%d", (int)pid);
}

int cg_read_pids(const char *dir, pid_t **pids, size_t *npids, struct vs_err *err)
{
	char path[CG_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	*pids = NULL;
	*npids = 0;
	vs_cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return vs_syserrf(err, errno, "open %s", path);
	size_t cap = 0, n = 0;
	vs_cleanup_free pid_t *out = NULL;
	long v;
	while (fscanf(f, "%ld", &v) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			pid_t *grown = realloc(out, cap * sizeof(*out));
			if (!grown)
				return vs_errf(err, ENOMEM, "read %s: out of memory", path);
			out = grown;
		}
		out[n++] = (pid_t)v;
	}
	*npids = n;
	*pids = vs_steal_ptr(&out);
	return 0;
}

static void cg_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int cg_rmdir(const char *dir, struct vs_err *err)
{
	if (cg_fake())
		cg_fake_empty_dir(dir);
	/* tasks that just exited may still be listed for a moment */
	for (unsigned i = 0;; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || i >= 200 || cg_fake())
			return vs_syserrf(err, errno, "remove cgroup %s", dir);
		cg_sleep_ms(i < 20 ? 1 : 10);
	}
}

/* ---- layout ---- */

static int cg_statfs_magic(const char *path, long *magic)
{
	struct statfs sfs;
	if (statfs(path, &sfs) < 0)
		return -errno;
	*magic = (long)sfs.f_type;
	return 0;
}

int ct_cgroup_detect(enum ct_cgroup_layout *layout, struct vs_err *err)
{
	const char *root = cg_root();
	char unified[300];
	snprintf(unified, sizeof(unified), "%s/unified", root);
	if (cg_fake()) {
		if (cg_exists(root, "cgroup.controllers"))
			*layout = CT_CGROUP_V2;
		else if (cg_exists(unified, "cgroup.controllers"))
			*layout = CT_CGROUP_HYBRID;
		else
			*layout = CT_CGROUP_V1;
		return 0;
	}
	long magic = 0;
	int r = cg_statfs_magic(root, &magic);
	if (r < 0)
		return vs_syserrf(err, -r, "cgroup detection: statfs %s", root);
	if (magic == CGROUP2_SUPER_MAGIC) {
		*layout = CT_CGROUP_V2;
		return 0;
	}
	if (magic != TMPFS_MAGIC)
		return vs_errf(err, ENOTSUP,
			       "cgroup detection: %s is neither cgroup2 nor a tmpfs of v1 "
			       "hierarchies (filesystem magic 0x%lx)",
			       root, (unsigned long)magic);
	if (cg_statfs_magic(unified, &magic) == 0 && magic == CGROUP2_SUPER_MAGIC)
		*layout = CT_CGROUP_HYBRID;
	else
		*layout = CT_CGROUP_V1;
	return 0;
}

/* This process's cgroup in the hierarchy with `controllers` ("" = cgroup2). */
static int cg_self_path(const char *controllers, char *out, size_t size, struct vs_err *err)
{
	snprintf(out, size, "/");
	if (cg_fake() && !cg_test_self[0])
		return 0;
	const char *file = cg_fake() ? cg_test_self : "/proc/self/cgroup";
	char buf[4096];
	int r = cg_read("", file[0] == '/' ? file + 1 : file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* "N:ctrl1,ctrl2:/path" or "0::/path" */
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2) {
			*c2 = '\0';
			const char *ctl = c1 + 1;
			bool match =
			    strcmp(ctl, controllers) == 0 ||
			    (strncmp(ctl, "name=", 5) == 0 && strcmp(ctl + 5, controllers) == 0);
			if (match) {
				if (strlen(c2 + 1) >= size)
					return vs_errf(err, ENAMETOOLONG,
						       "own cgroup path too long");
				snprintf(out, size, "%s", c2 + 1);
				return 0;
			}
		}
		line = next;
	}
	return 0; /* not listed: the hierarchy's root */
}

/* cgroupsPath must not climb out of the mount with "..". */
static int cg_check_path(const char *path, struct vs_err *err)
{
	if (!path || !*path)
		return vs_errf(err, EINVAL, "cgroupsPath is empty");
	if (strlen(path) >= sizeof(((struct ct_cgroup *)0)->path))
		return vs_errf(err, ENAMETOOLONG, "cgroupsPath '%.40s...' is too long", path);
	bool only_slashes = true;
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.'))
			return vs_errf(err, EINVAL,
				       "cgroupsPath '%s': '.' and '..' are not allowed", path);
		if (n)
			only_slashes = false;
		p = *end ? end + 1 : end;
	}
	if (only_slashes)
		return vs_errf(err, EINVAL, "cgroupsPath '%s' names the root cgroup", path);
	if (strchr(path, ':'))
		return vs_errf(err, EINVAL,
			       "cgroupsPath '%s' looks like a systemd slice:prefix:name; "
			       "only cgroupfs paths are supported",
			       path);
	return 0;
}

static int cg_hier_set_dir(struct cg_hier *h, const char *path, struct vs_err *err)
{
	char self[512] = "/";
	if (path[0] != '/') {
		int r = cg_self_path(h->controllers, self, sizeof(self), err);
		if (r < 0)
			return r;
	}
	int n = path[0] == '/' ? snprintf(h->dir, sizeof(h->dir), "%s%s", h->mount, path)
			       : snprintf(h->dir, sizeof(h->dir), "%s%s%s%s", h->mount,
					  strcmp(self, "/") ? self : "", "/", path);
	if (n < 0 || (size_t)n >= sizeof(h->dir))
		return vs_errf(err, ENAMETOOLONG, "cgroup path %s/%s is too long", h->mount, path);
	/* collapse a trailing slash */
	size_t len = strlen(h->dir);
	while (len > 1 && h->dir[len - 1] == '/')
		h->dir[--len] = '\0';
	return 0;
}

static int cg_add_hier(struct cg_hosts *hs, const char *mount, const char *controllers,
		       const char *path, struct vs_err *err)
{
	if (hs->n >= CG_MAX_HIER)
		return 0;
	struct cg_hier *h = &hs->h[hs->n];
	snprintf(h->mount, sizeof(h->mount), "%s", mount);
	snprintf(h->controllers, sizeof(h->controllers), "%s", controllers);
	int r = cg_hier_set_dir(h, path, err);
	if (r < 0)
		return r;
	hs->n++;
	return 0;
}

int cg_hosts_load(struct cg_hosts *hs, enum ct_cgroup_layout layout, const char *path,
		  struct vs_err *err)
{
	const char *root = cg_root();
	hs->n = 0;
	int r = cg_check_path(path, err);
	if (r < 0)
		return r;
	if (layout == CT_CGROUP_V2)
		return cg_add_hier(hs, root, "", path, err);
	if (layout != CT_CGROUP_V1 && layout != CT_CGROUP_HYBRID)
		return vs_errf(err, EINVAL, "unknown cgroup layout %d", (int)layout);

	DIR *d = opendir(root);
	if (!d)
		return vs_syserrf(err, errno, "open %s", root);
	struct dirent *de;
	char mount[CG_PATH_MAX];
	while ((de = readdir(d)) != NULL) {
		/* symlinks ("cpu" -> "cpu,cpuacct") alias a co-mounted hierarchy */
		if (de->d_name[0] == '.' || de->d_type != DT_DIR || !strcmp(de->d_name, "unified"))
			continue;
		snprintf(mount, sizeof(mount), "%s/%s", root, de->d_name);
		long magic = 0;
		if (!cg_fake() &&
		    (cg_statfs_magic(mount, &magic) < 0 || magic != CGROUP_SUPER_MAGIC))
			continue;
		if ((r = cg_add_hier(hs, mount, de->d_name, path, err)) < 0) {
			closedir(d);
			return r;
		}
	}
	closedir(d);
	if (hs->n == 0)
		return vs_errf(err, ENOENT, "no cgroup v1 hierarchy is mounted under %s", root);
	if (layout == CT_CGROUP_HYBRID) {
		snprintf(mount, sizeof(mount), "%s/unified", root);
		if (hs->n >= CG_MAX_HIER)
			return vs_errf(err, E2BIG, "too many cgroup hierarchies under %s", root);
		return cg_add_hier(hs, mount, "", path, err);
	}
	return 0;
}

struct cg_hier *cg_hosts_find(struct cg_hosts *hs, const char *name)
{
	size_t len = strlen(name);
	for (unsigned i = 0; i < hs->n; i++) {
		const char *c = hs->h[i].controllers;
		if (!*name) {
			if (!*c)
				return &hs->h[i];
			continue;
		}
		for (const char *p = c; *p;) {
			const char *end = strchrnul(p, ',');
			if ((size_t)(end - p) == len && strncmp(p, name, len) == 0)
				return &hs->h[i];
			p = *end ? end + 1 : end;
		}
	}
	return NULL;
}

/* ---- public entry points ---- */

/*
 * The hierarchies of one cgroup, scanned once per thread (a readdir and a
 * statfs per hierarchy: ~55 us on a v1 host): a `run` looks up the same
 * cgroup to create it, to join it (in the child, which inherits the copy)
 * and to destroy it.  *out is the thread's cached copy: callers do not free
 * it, and it is valid until the next cg_load() of the thread.
 */
static int cg_load(const struct ct_cgroup *cg, struct cg_hosts **out, struct vs_err *err)
{
	static _Thread_local struct cg_hosts *cache;
	static _Thread_local char cache_key[CG_PATH_MAX + 300];
	char key[sizeof(cache_key)];
	if (snprintf(key, sizeof(key), "%d:%s:%s", (int)cg->layout, cg_root(), cg->path) >=
	    (int)sizeof(key))
		return vs_errf(err, ENAMETOOLONG, "cgroup %s: path too long", cg->path);
	if (cache && strcmp(key, cache_key) == 0) {
		*out = cache;
		return 0;
	}
	if (!cache && !(cache = malloc(sizeof(*cache))))
		return vs_errf(err, ENOMEM, "cgroup: out of memory");
	cache_key[0] = '\0';
	int r = cg_hosts_load(cache, cg->layout, cg->path, err);
	if (r < 0)
		return r;
	memcpy(cache_key, key, sizeof(key));
	*out = cache;
	return 0;
}

/* Put pid back into this process's own cgroups (undo of a partial join). */
static void cg_leave(struct cg_hosts *hs, unsigned upto, pid_t pid)
{
	for (unsigned i = 0; i < upto; i++) {
		char self[512] = "/", dir[CG_PATH_MAX + 512];
		if (cg_self_path(hs->h[i].controllers, self, sizeof(self), NULL) < 0)
			continue;
		snprintf(dir, sizeof(dir), "%s%s", hs->h[i].mount, strcmp(self, "/") ? self : "");
		cg_enter(dir, pid, NULL);
	}
}

int ct_cgroup_create(struct ct_cgroup *cg, enum ct_cgroup_layout layout, const char *path,
		     const struct ct_resources *res, pid_t pid, struct vs_err *err)
{
	memset(cg, 0, sizeof(*cg));
	cg->layout = layout;
	int r = cg_check_path(path, err);
	if (r < 0)
		return r;
	snprintf(cg->path, sizeof(cg->path), "%s", path);

	struct cg_hosts *hs = NULL; /* cached: not freed */
	vs_cleanup_free struct cg_made *made = calloc(1, sizeof(*made));
	if (!made)
		return vs_errf(err, ENOMEM, "cgroup: out of memory");
	if ((r = cg_load(cg, &hs, err)) < 0)
		return r;
	struct ct_resources none;
	if (!res) {
		ct_resources_init(&none);
		res = &none;
	}
	unsigned entered = 0;
	if (layout == CT_CGROUP_V2) {
		r = cgroup_v2_prepare(&hs->h[0], made, err);
		if (r == 0)
			r = cgroup_v2_apply(&hs->h[0], res, true, err);
	} else {
		r = cgroup_v1_prepare(hs, made, err);
		if (r == 0)
			r = cgroup_v1_apply(hs, res, true, err);
	}
	for (; r == 0 && pid > 0 && entered < hs->n; entered++)
		r = cg_enter(hs->h[entered].dir, pid, err);
	if (r < 0) {
		if (pid > 0)
			cg_leave(hs, entered, pid);
		cg_made_undo(made);
		return vs_err_prefix(err, "cgroup %s", path);
	}
	return 0;
}

int ct_cgroup_update(const struct ct_cgroup *cg, const struct ct_resources *res, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < hs->n; i++)
		if (access(hs->h[i].dir, F_OK) < 0)
			return vs_syserrf(err, errno, "cgroup %s", hs->h[i].dir);
	r = cg->layout == CT_CGROUP_V2 ? cgroup_v2_apply(&hs->h[0], res, false, err)
				       : cgroup_v1_apply(hs, res, false, err);
	return r < 0 ? vs_err_prefix(err, "update cgroup %s", cg->path) : 0;
}

int ct_cgroup_add_pid(const struct ct_cgroup *cg, pid_t pid, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < hs->n; i++)
		if ((r = cg_enter(hs->h[i].dir, pid, err)) < 0)
			return r;
	return 0;
}

int ct_cgroup_open_unified(const struct ct_cgroup *cg, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	struct cg_hier *h = cg_hosts_find(hs, "");
	if (!h)
		return vs_errf(err, ENOENT, "cgroup %s: no cgroup2 hierarchy on a v1 host",
			       cg->path);
	int fd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", h->dir);
	return fd;
}

int ct_cgroup_enter_self(const struct ct_cgroup *cg, bool unified_too, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < hs->n; i++) {
		struct cg_hier *h = &hs->h[i];
		if (!h->controllers[0])
			r = unified_too ? cg_write(h->dir, "cgroup.procs", "0", err) : 0;
		else
			r = cg_write(h->dir, "tasks", "0", err);
		if (r < 0)
			return vs_err_prefix(err, "join cgroup %s", cg->path);
	}
	return 0;
}

int ct_cgroup_freeze(const struct ct_cgroup *cg, bool frozen, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	r = cg->layout == CT_CGROUP_V2 ? cgroup_v2_freeze(&hs->h[0], frozen, err)
				       : cgroup_v1_freeze(hs, frozen, err);
	return r;
}

/* The hierarchy whose cgroup.procs lists the container's processes. */
static struct cg_hier *cg_procs_hier(struct cg_hosts *hs)
{
	static const char *const prefer[] = { "pids", "memory", "freezer", "cpu", "devices" };
	for (unsigned i = 0; i < VS_ARRAY_SIZE(prefer); i++) {
		struct cg_hier *h = cg_hosts_find(hs, prefer[i]);
		if (h)
			return h;
	}
	return &hs->h[0];
}

int ct_cgroup_pids(const struct ct_cgroup *cg, pid_t **pids, size_t *npids, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	return cg_read_pids(cg_procs_hier(hs)->dir, pids, npids, err);
}

static int cg_signal_all(struct cg_hier *h, int sig, struct vs_err *err)
{
	vs_cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	int r = cg_read_pids(h->dir, &pids, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], sig) < 0 && errno != ESRCH)
			return vs_syserrf(err, errno, "kill %d", (int)pids[i]);
	return 0;
}

int ct_cgroup_kill(const struct ct_cgroup *cg, int sig, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	struct cg_hier *unified = cg_hosts_find(hs, "");
	if (sig == SIGKILL && unified && cg_exists(unified->dir, "cgroup.kill") && !cg_fake()) {
		r = cg_write(unified->dir, "cgroup.kill", "1", err);
		/* v2 kills frozen tasks; a v1 freezer (hybrid) must let them run to die */
		if (r == 0 && cg->layout == CT_CGROUP_HYBRID && cg_hosts_find(hs, "freezer"))
			r = cgroup_v1_freeze(hs, false, err);
		return r;
	}
	/* freeze first so that a fork bomb cannot outrun the loop; SIGKILL is
	 * delivered when the tasks are thawed */
	bool froze = sig == SIGKILL && ct_cgroup_freeze(cg, true, NULL) == 0;
	r = cg_signal_all(cg_procs_hier(hs), sig, err);
	if (froze)
		ct_cgroup_freeze(cg, false, NULL);
	return r;
}

int ct_cgroup_stats(const struct ct_cgroup *cg, struct ct_cgroup_stats *st, struct vs_err *err)
{
	memset(st, 0, sizeof(*st));
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	return cg->layout == CT_CGROUP_V2 ? cgroup_v2_stats(&hs->h[0], st, err)
					  : cgroup_v1_stats(hs, st, err);
}

/* Wait until no process is left (after SIGKILL), at most ~5 s. */
static int cg_wait_empty(struct cg_hier *h, struct vs_err *err)
{
	for (unsigned i = 0; i < 500; i++) {
		vs_cleanup_free pid_t *pids = NULL;
		size_t n = 0;
		if (cg_read_pids(h->dir, &pids, &n, NULL) < 0 || n == 0 || cg_fake())
			return 0;
		cg_sleep_ms(10);
	}
	return vs_errf(err, EBUSY, "cgroup %s: processes did not exit after SIGKILL", h->dir);
}

int ct_cgroup_destroy(const struct ct_cgroup *cg, bool force, struct vs_err *err)
{
	struct cg_hosts *hs = NULL; /* cached: not freed */
	int r = cg_load(cg, &hs, err);
	if (r < 0)
		return r;
	struct cg_hier *procs = cg_procs_hier(hs);
	vs_cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	/* the common case (container exited) needs neither freeze nor kill */
	if (cg_read_pids(procs->dir, &pids, &n, NULL) == 0 && n > 0 && !cg_fake()) {
		if (!force)
			return vs_errf(err, EBUSY,
				       "cgroup %s still has %zu process(es); "
				       "kill them or destroy with force",
				       cg->path, n);
		if ((r = ct_cgroup_kill(cg, SIGKILL, err)) < 0 ||
		    (r = cg_wait_empty(procs, err)) < 0)
			return r;
	}
	int first = 0;
	for (unsigned i = 0; i < hs->n; i++) {
		struct vs_err e = VS_ERR_INIT;
		if ((r = cg_rmdir(hs->h[i].dir, &e)) < 0 && first == 0) {
			first = r;
			if (err)
				*err = e;
		}
	}
	return first;
}
