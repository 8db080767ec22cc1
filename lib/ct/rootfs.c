/*
 * rootfs.c - the container's root filesystem (runtime-spec 1.1 config.md
 * "Root", config-linux.md "Devices", "Default Devices", "Masked Paths",
 * "Readonly Paths", "Rootfs Mount Propagation", "Sysctl").
 *
 * Order, all inside the new mount namespace:
 *   1. make "/" rslave so nothing leaks back to the runtime's namespace;
 *   2. bind the rootfs onto itself so it is a mount point for pivot_root;
 *   3. config mounts (mounts.c), devices and /dev symlinks;
 *   4. pivot_root (or MS_MOVE + chroot with --no-pivot), detach the old root;
 *   5. masked paths, read-only paths, sysctls, read-only root;
 *   6. linux.rootfsPropagation on the new "/" (shared, slave, private,
 *      unbindable, each optionally recursive): only now, because pivot_root
 *      refuses a shared new root and nothing can be bound from an
 *      unbindable tree (masked and read-only paths are binds).
 *
 * Without a mount namespace (config-linux.md "Namespaces": a type left out
 * is inherited from the runtime) the container shares the runtime's mount
 * table, as with crun and runc: its mounts are made under the rootfs in
 * that namespace, and the process is chroot()ed into the rootfs.  Steps 1,
 * 2 and 6 are skipped (they would change the host's "/"), pivot_root is
 * never called (it would move the root of every process of the namespace),
 * and config.c refuses root.readonly and rootfsPropagation there instead of
 * ignoring them.  delete detaches the mounts left under the rootfs
 * (ct_rootfs_detach_shared).
 *
 * Invariant: before pivot_root every path inside the rootfs is resolved by
 * ct_rootfs_open_in_root() with RESOLVE_IN_ROOT, so rootfs symlinks can
 * only point inside the rootfs.  After pivot_root the rootfs is "/", and
 * plain paths are safe by construction.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux_internal.h"
#include "mounts_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)flags | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	long r = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return r < 0 ? -errno : (int)r;
}

static int open_in_root(int rootfd, const char *path, enum ct_resolve_create create, int depth,
			struct vs_err *err)
{
	while (*path == '/')
		path++;
	if (!*path) {
		int fd = openat2_in_root(rootfd, ".", O_PATH);
		return fd < 0 ? vs_syserrf(err, -fd, "open rootfs") : fd;
	}
	int fd = openat2_in_root(rootfd, path, O_PATH);
	if (fd >= 0 || fd != -ENOENT || create == CT_RESOLVE_NONE) {
		if (fd < 0)
			return vs_syserrf(err, -fd, "resolve %s in rootfs", path);
		return fd;
	}
	/* Create the missing components one by one, each under a parent
	 * that was itself resolved inside the root. */
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return vs_errf(err, ENAMETOOLONG, "path too long: %s", path);
	size_t len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = 0;
	for (char *p = buf;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		bool last = *p == 0;
		char saved = *p;
		*p = 0;
		int cfd = openat2_in_root(rootfd, buf, O_PATH);
		if (cfd == -ENOENT) {
			char *slash = strrchr(buf, '/');
			const char *name = slash ? slash + 1 : buf;
			int pfd;
			if (slash) {
				*slash = 0;
				pfd = openat2_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
				*slash = '/';
			} else {
				pfd = openat2_in_root(rootfd, ".", O_PATH | O_DIRECTORY);
			}
			if (pfd < 0)
				return vs_syserrf(err, -pfd, "resolve parent of %s in rootfs", buf);
			int e = 0;
			char target[PATH_MAX];
			ssize_t tl = readlinkat(pfd, name, target, sizeof(target) - 1);
			if (tl > 0) {
				/* a dangling symlink: create its target, still inside the root */
				close(pfd);
				if (depth >= 40)
					return vs_errf(err, ELOOP,
						       "resolve %s in rootfs: too many links",
						       path);
				target[tl] = 0;
				char next[PATH_MAX];
				int n = snprintf(next, sizeof(next), "%.*s/%s%s%s",
						 target[0] == '/' ? 0 : (int)(name - buf), buf,
						 target, last ? "" : "/", last ? "" : p + 1);
				if (n < 0 || n >= (int)sizeof(next))
					return vs_errf(err, ENAMETOOLONG, "path too long: %s",
						       path);
				return open_in_root(rootfd, next, create, depth + 1, err);
			}
			if (last && create == CT_RESOLVE_FILE) {
				int nfd = openat(
				    pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0644);
				if (nfd < 0)
					e = errno;
				else
					close(nfd);
			} else if (mkdirat(pfd, name, 0755) < 0) {
				e = errno;
			}
			close(pfd);
			if (e && e != EEXIST)
				return vs_syserrf(err, e, "create %s in rootfs", buf);
			cfd = openat2_in_root(rootfd, buf, O_PATH);
		}
		if (cfd < 0)
			return vs_syserrf(err, -cfd, "resolve %s in rootfs", buf);
		*p = saved;
		if (last)
			return cfd;
		close(cfd);
	}
}

int ct_rootfs_open_in_root(int rootfd, const char *path, enum ct_resolve_create create,
			   struct vs_err *err)
{
	return open_in_root(rootfd, path, create, 0, err);
}

struct default_device {
	const char *path;
	unsigned major, minor;
};

static const struct default_device default_devices[] = {
	{ "/dev/null", 1, 3 },	 { "/dev/zero", 1, 5 },	   { "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static int make_device(int rootfd, const char *path, char type, unsigned major, unsigned minor,
		       mode_t perm, uid_t uid, gid_t gid, bool userns, struct vs_err *err)
{
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	vs_cleanup_close int pfd =
	    ct_rootfs_open_in_root(rootfd, parent[0] ? parent : "/", CT_RESOLVE_DIR, err);
	if (pfd < 0)
		return pfd;
	vs_cleanup_close int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return vs_syserrf(err, errno, "open %s", parent);
	const char *name = slash + 1;
	mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
	if (!userns || type == 'p') {
		unlinkat(dfd, name, 0);
		if (mknodat(dfd, name, kind | (perm & 07777), makedev(major, minor)) < 0)
			return vs_syserrf(err, errno, "mknod %s", path);
		if (fchmodat(dfd, name, perm & 07777, 0) < 0) /* mknod obeys the umask */
			return vs_syserrf(err, errno, "chmod %s", path);
		if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return vs_syserrf(err, errno, "chown %s", path);
		return 0;
	}
	/* A user namespace cannot mknod: bind the host's node instead. */
	vs_cleanup_close int nfd =
	    openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (nfd < 0)
		return vs_syserrf(err, errno, "create %s", path);
	char target[64];
	snprintf(target, sizeof(target), "/proc/self/fd/%d", nfd);
	if (mount(path, target, NULL, MS_BIND, NULL) < 0)
		return vs_syserrf(err, errno, "bind device %s", path);
	return 0;
}

static bool has_mount_at(const struct ct_config *cfg, const char *dest)
{
	for (unsigned i = 0; i < cfg->nmounts; i++)
		if (strcmp(cfg->mounts[i].destination, dest) == 0)
			return true;
	return false;
}

static int setup_devices(int rootfd, const struct ct_config *cfg, bool userns, struct vs_err *err)
{
	int r;
	bool dev_mounted = has_mount_at(cfg, "/dev");
	if (dev_mounted) {
		for (size_t i = 0; i < VS_ARRAY_SIZE(default_devices); i++) {
			const struct default_device *d = &default_devices[i];
			bool overridden = false;
			for (unsigned k = 0; k < cfg->ndevices; k++)
				if (strcmp(cfg->devices[k].path, d->path) == 0)
					overridden = true;
			if (overridden)
				continue;
			if ((r = make_device(rootfd, d->path, 'c', d->major, d->minor, 0666, 0, 0,
					     userns, err)) < 0)
				return r;
		}
	}
	for (unsigned k = 0; k < cfg->ndevices; k++) {
		const struct ct_device *d = &cfg->devices[k];
		char type = d->type == 'u' ? 'c' : d->type;
		if ((r = make_device(rootfd, d->path, type, (unsigned)d->major, (unsigned)d->minor,
				     d->file_mode, d->uid, d->gid, userns, err)) < 0)
			return r;
	}
	if (!dev_mounted)
		return 0;
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },	 { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "/proc/kcore", "core" },
	};
	vs_cleanup_close int devfd = ct_rootfs_open_in_root(rootfd, "/dev", CT_RESOLVE_DIR, err);
	if (devfd < 0)
		return devfd;
	vs_cleanup_close int dfd = openat(devfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return vs_syserrf(err, errno, "open /dev");
	for (size_t i = 0; i < VS_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dfd, links[i][1]) < 0 && errno != EEXIST)
			return vs_syserrf(err, errno, "symlink /dev/%s", links[i][1]);
	if (symlinkat("pts/ptmx", dfd, "ptmx") < 0 && errno != EEXIST)
		return vs_syserrf(err, errno, "symlink /dev/ptmx");
	return 0;
}

int ct_rootfs_prepare(const struct ct_config *cfg, const char *rootfs, const char *bundle,
		      bool userns, struct vs_err *err)
{
	if (cfg->ns[CT_NS_MOUNT].enabled) {
		if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			return vs_syserrf(err, errno, "set propagation of /");
		if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			return vs_syserrf(err, errno, "bind rootfs %s", rootfs);
	}
	vs_cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return vs_syserrf(err, errno, "open rootfs %s", rootfs);
	int r;
	for (unsigned i = 0; i < cfg->nmounts; i++)
		if ((r = ct_mount_one(rootfd, &cfg->mounts[i], bundle,
				      cfg->ns[CT_NS_CGROUP].enabled, err)) < 0)
			return r;
	return setup_devices(rootfd, cfg, userns, err);
}

static int chroot_to(const char *rootfs, struct vs_err *err)
{
	if (chdir(rootfs) < 0)
		return vs_syserrf(err, errno, "chdir %s", rootfs);
	if (chroot(".") < 0)
		return vs_syserrf(err, errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		return vs_syserrf(err, errno, "chdir /");
	return 0;
}

static int pivot_to(const char *rootfs, bool no_pivot, struct vs_err *err)
{
	if (no_pivot) {
		if (chdir(rootfs) < 0)
			return vs_syserrf(err, errno, "chdir %s", rootfs);
		if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
			return vs_syserrf(err, errno, "move rootfs to /");
		if (chroot(".") < 0)
			return vs_syserrf(err, errno, "chroot");
		if (chdir("/") < 0)
			return vs_syserrf(err, errno, "chdir /");
		return 0;
	}
	vs_cleanup_close int oldroot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	vs_cleanup_close int newroot = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0)
		return vs_syserrf(err, errno, "open roots for pivot_root");
	if (fchdir(newroot) < 0)
		return vs_syserrf(err, errno, "chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return vs_syserrf(err, errno, "pivot_root %s", rootfs);
	if (fchdir(oldroot) < 0)
		return vs_syserrf(err, errno, "chdir old root");
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return vs_syserrf(err, errno, "make old root slave");
	if (umount2(".", MNT_DETACH) < 0)
		return vs_syserrf(err, errno, "detach old root");
	if (chdir("/") < 0)
		return vs_syserrf(err, errno, "chdir /");
	return 0;
}

static int mask_path(const char *path, int nullfd, struct vs_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return vs_syserrf(err, errno, "masked path %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=755") < 0)
			return vs_syserrf(err, errno, "mask %s", path);
		return 0;
	}
	/* the container's /dev/null, else the host's (held open across pivot) */
	struct stat nst;
	char src[64] = "/dev/null";
	if (stat(src, &nst) < 0 || !S_ISCHR(nst.st_mode) || nst.st_rdev != makedev(1, 3))
		snprintf(src, sizeof(src), "/proc/self/fd/%d", nullfd);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return vs_syserrf(err, errno, "mask %s", path);
	return 0;
}

static int readonly_path(const char *path, struct vs_err *err)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return vs_syserrf(err, errno, "read-only path %s", path);
	}
	int r = ct_mount_bind_remount(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
	return r < 0 ? vs_err_prefix(err, "read-only path %s", path) : 0;
}

static int write_sysctl(const struct ct_sysctl *s, struct vs_err *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "/proc/sys/%s", s->key);
	if (n < 0 || n >= (int)sizeof(path))
		return vs_errf(err, ENAMETOOLONG, "sysctl %s: name too long", s->key);
	for (char *p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	vs_cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return vs_syserrf(err, errno, "sysctl %s", s->key);
	size_t len = strlen(s->value);
	if (write(fd, s->value, len) != (ssize_t)len)
		return vs_syserrf(err, errno, "sysctl %s=%s", s->key, s->value);
	return 0;
}

int ct_rootfs_finish(const struct ct_config *cfg, const char *rootfs, bool no_pivot,
		     struct vs_err *err)
{
	/* /dev/null of the host, for masking files even when the container has none */
	vs_cleanup_close int nullfd = open("/dev/null", O_PATH | O_CLOEXEC);
	bool own_mntns = cfg->ns[CT_NS_MOUNT].enabled;
	int r = own_mntns ? pivot_to(rootfs, no_pivot, err) : chroot_to(rootfs, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < cfg->nsysctls; i++)
		if ((r = write_sysctl(&cfg->sysctls[i], err)) < 0)
			return r;
	for (unsigned i = 0; i < cfg->nmasked_paths; i++)
		if ((r = mask_path(cfg->masked_paths[i], nullfd, err)) < 0)
			return r;
	for (unsigned i = 0; i < cfg->nreadonly_paths; i++)
		if ((r = readonly_path(cfg->readonly_paths[i], err)) < 0)
			return r;
	if (cfg->root_readonly) {
		if ((r = ct_mount_bind_remount("/", MS_RDONLY, err)) < 0)
			return vs_err_prefix(err, "read-only root");
	}
	/* last: an (r)unbindable tree refuses the binds of masked and read-only paths */
	if (own_mntns && cfg->rootfs_propagation &&
	    mount(NULL, "/", NULL, cfg->rootfs_propagation, NULL) < 0)
		return vs_syserrf(err, errno, "linux.rootfsPropagation: set propagation of /");
	return 0;
}

/* Unescape a mountinfo field in place ("\040" is a space). */
static void mountinfo_unescape(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
}

int ct_rootfs_detach_shared(const char *rootfs)
{
	vs_cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f || !rootfs[0] || strcmp(rootfs, "/") == 0)
		return 0;
	size_t rlen = strlen(rootfs);
	char **points = NULL;
	size_t n = 0, cap = 0;
	vs_cleanup_free char *line = NULL;
	size_t lcap = 0;
	while (getline(&line, &lcap, f) > 0) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." */
		char *save = NULL, *mp = strtok_r(line, " ", &save);
		for (int i = 0; mp && i < 4; i++)
			mp = strtok_r(NULL, " ", &save);
		if (!mp)
			continue;
		mountinfo_unescape(mp);
		if (strncmp(mp, rootfs, rlen) != 0 || mp[rlen] != '/')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **grown = realloc(points, cap * sizeof(*points));
			if (!grown)
				break;
			points = grown;
		}
		if (!(points[n] = strdup(mp)))
			break;
		n++;
	}
	/* deepest first: a later mount over an earlier one goes first too */
	unsigned detached = 0;
	for (size_t i = n; i-- > 0;) {
		if (umount2(points[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			detached++;
		free(points[i]);
	}
	free(points);
	return (int)detached;
}
