/*
 * mounts.c - the `mounts` array of config.json (runtime-spec 1.1 config.md
 * "Mounts", config-linux.md "Mount Propagation") applied inside the
 * container's mount namespace before pivot_root.
 *
 * Invariant: a destination is always resolved inside the rootfs with
 * openat2(RESOLVE_IN_ROOT) (ct_rootfs_open_in_root), and the mount targets
 * the resolved object through /proc/self/fd/N, so a symlink planted in the
 * rootfs can never redirect a mount onto a host path.  Bind mounts with
 * flags are remounted, keeping the flags the kernel locks (nosuid, nodev,
 * noexec) when inside a user namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "linux_internal.h"
#include "mounts_internal.h"
#include "vessel/core/cleanup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
	{ "ro", false, MS_RDONLY },
	{ "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID },
	{ "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV },
	{ "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC },
	{ "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS },
	{ "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC },
	{ "remount", false, MS_REMOUNT },
	{ "mand", false, MS_MANDLOCK },
	{ "nomand", true, MS_MANDLOCK },
	{ "atime", true, MS_NOATIME },
	{ "noatime", false, MS_NOATIME },
	{ "diratime", true, MS_NODIRATIME },
	{ "nodiratime", false, MS_NODIRATIME },
	{ "relatime", false, MS_RELATIME },
	{ "norelatime", true, MS_RELATIME },
	{ "strictatime", false, MS_STRICTATIME },
	{ "nostrictatime", true, MS_STRICTATIME },
	{ "bind", false, MS_BIND },
	{ "rbind", false, MS_BIND | MS_REC },
};

static const struct {
	const char *name;
	unsigned long flag;
} prop_flags[] = {
	{ "private", MS_PRIVATE },	 { "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED },	 { "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE },		 { "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int ct_mount_options_parse(const struct ct_mount *m, struct ct_mount_opts *o, struct vs_err *err)
{
	memset(o, 0, sizeof(*o));
	size_t used = 0;
	for (unsigned i = 0; i < m->noptions; i++) {
		const char *opt = m->options[i];
		bool known = false;
		for (size_t k = 0; k < VS_ARRAY_SIZE(mount_flags) && !known; k++)
			if (strcmp(opt, mount_flags[k].name) == 0) {
				if (mount_flags[k].clear)
					o->flags &= ~mount_flags[k].flag;
				else
					o->flags |= mount_flags[k].flag;
				known = true;
			}
		for (size_t k = 0; k < VS_ARRAY_SIZE(prop_flags) && !known; k++)
			if (strcmp(opt, prop_flags[k].name) == 0) {
				o->propagation = prop_flags[k].flag;
				known = true;
			}
		if (known)
			continue;
		if (strcmp(opt, "tmpcopyup") == 0 || strcmp(opt, "notmpcopyup") == 0 ||
		    strncmp(opt, "x-", 2) == 0)
			continue; /* runc/podman extensions that need no kernel flag */
		if (strcmp(opt, "idmap") == 0 || strcmp(opt, "ridmap") == 0)
			return vs_errf(err, ENOTSUP, "mount %s: idmapped mounts are not supported",
				       m->destination);
		size_t len = strlen(opt);
		if (used + len + 2 > sizeof(o->data))
			return vs_errf(err, E2BIG, "mount %s: options too long", m->destination);
		if (used)
			o->data[used++] = ',';
		memcpy(o->data + used, opt, len + 1);
		used += len;
	}
	if (m->type && strcmp(m->type, "bind") == 0)
		o->flags |= MS_BIND;
	return 0;
}

/* Flags of the mount at fd that a bind remount must keep. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	return sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME |
			    ST_RELATIME | ST_RDONLY);
}

int ct_mount_bind_remount(const char *target, unsigned long flags, struct vs_err *err)
{
	unsigned long keep = locked_flags(target) & ~(unsigned long)ST_RDONLY;
	unsigned long f = MS_BIND | MS_REMOUNT | keep | (flags & ~(MS_BIND | MS_REC | MS_REMOUNT));
	if (mount(NULL, target, NULL, f, NULL) < 0)
		return vs_syserrf(err, errno, "remount %s", target);
	return 0;
}

static int fd_path(char *buf, size_t size, int fd)
{
	return snprintf(buf, size, "/proc/self/fd/%d", fd) < (int)size ? 0 : -ENAMETOOLONG;
}

/* Our own cgroup path in the hierarchy with these controllers ("" = v2),
 * from /proc/self/cgroup; the parent has already moved us into it. */
static int own_cgroup_path(const char *controllers, char *out, size_t size)
{
	vs_cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		if (strcmp(c1 + 1, controllers) == 0) {
			snprintf(out, size, "%s", c2 + 1);
			return 0;
		}
	}
	return -ENOENT;
}

/* v1/hybrid hosts: a tmpfs with one mount per host hierarchy: a fresh
 * mount in a cgroup namespace (it shows the namespace root, our cgroup),
 * else a bind of our own cgroup directory, as runc does. */
static int mount_cgroup_v1(int rootfd, const struct ct_mount *m, unsigned long flags, bool cgroupns,
			   struct vs_err *err)
{
	vs_cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return vs_syserrf(err, errno, "open /proc/self/mountinfo");
	vs_cleanup_close int dst =
	    ct_rootfs_open_in_root(rootfd, m->destination, CT_RESOLVE_DIR, err);
	if (dst < 0)
		return dst;
	char target[64];
	fd_path(target, sizeof(target), dst);
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
		return vs_syserrf(err, errno, "mount tmpfs on %s", m->destination);
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64], super[1024];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (strncmp(mnt, "/sys/fs/cgroup/", 15) != 0 || strchr(mnt + 15, '/'))
			continue;
		bool v2 = strcmp(fstype, "cgroup2") == 0;
		if (!v2 && strcmp(fstype, "cgroup") != 0)
			continue;
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", m->destination, mnt + 15) >=
		    (int)sizeof(sub))
			continue;
		vs_cleanup_close int sfd = ct_rootfs_open_in_root(rootfd, sub, CT_RESOLVE_DIR, err);
		if (sfd < 0)
			return sfd;
		char st[64];
		fd_path(st, sizeof(st), sfd);
		/* keep only controller names from the super options */
		char data[1024] = "";
		size_t used = 0;
		for (char *tok = strtok(super, ","); tok; tok = strtok(NULL, ",")) {
			if (!strcmp(tok, "rw") || !strcmp(tok, "ro") || v2)
				continue;
			size_t l = strlen(tok);
			if (used + l + 2 > sizeof(data))
				break;
			if (used)
				data[used++] = ',';
			memcpy(data + used, tok, l + 1);
			used += l;
		}
		unsigned long cf = MS_NOSUID | MS_NODEV | MS_NOEXEC | (flags & MS_RDONLY);
		if (!cgroupns || mount(v2 ? "cgroup2" : "cgroup", st, v2 ? "cgroup2" : "cgroup", cf,
				       v2 ? NULL : data) < 0) {
			char own[PATH_MAX], host[PATH_MAX * 2];
			if (own_cgroup_path(v2 ? "" : data, own, sizeof(own)) < 0)
				snprintf(own, sizeof(own), "/");
			snprintf(host, sizeof(host), "%s%s", mnt, own);
			if (mount(host, st, NULL, MS_BIND | MS_REC, NULL) < 0)
				return vs_syserrf(err, errno, "mount cgroup %s", sub);
			close(sfd);
			sfd = ct_rootfs_open_in_root(rootfd, sub, CT_RESOLVE_NONE, err);
			if (sfd < 0)
				return sfd;
			fd_path(st, sizeof(st), sfd);
			int r = ct_mount_bind_remount(st, cf, err);
			if (r < 0)
				return r;
		}
	}
	if (flags & MS_RDONLY) {
		close(dst);
		dst = ct_rootfs_open_in_root(rootfd, m->destination, CT_RESOLVE_NONE, err);
		if (dst < 0)
			return dst;
		fd_path(target, sizeof(target), dst);
		if (mount(NULL, target, NULL,
			  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=755") < 0)
			return vs_syserrf(err, errno, "remount %s read-only", m->destination);
	}
	return 0;
}

static int mount_cgroup(int rootfd, const struct ct_mount *m, const struct ct_mount_opts *o,
			bool cgroupns, struct vs_err *err)
{
	struct statfs sfs;
	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
		vs_cleanup_close int dst =
		    ct_rootfs_open_in_root(rootfd, m->destination, CT_RESOLVE_DIR, err);
		if (dst < 0)
			return dst;
		char target[64];
		fd_path(target, sizeof(target), dst);
		if (cgroupns &&
		    mount("cgroup2", target, "cgroup2", o->flags & ~(MS_BIND | MS_REC), NULL) == 0)
			return 0;
		char own[PATH_MAX], host[PATH_MAX + 16];
		if (own_cgroup_path("", own, sizeof(own)) < 0)
			snprintf(own, sizeof(own), "/");
		snprintf(host, sizeof(host), "/sys/fs/cgroup%s", own);
		if (mount(host, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return vs_syserrf(err, errno, "mount cgroup2 on %s", m->destination);
		if (o->flags & MS_RDONLY) {
			close(dst);
			dst = ct_rootfs_open_in_root(rootfd, m->destination, CT_RESOLVE_NONE, err);
			if (dst < 0)
				return dst;
			fd_path(target, sizeof(target), dst);
			return ct_mount_bind_remount(
			    target, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
		}
		return 0;
	}
	return mount_cgroup_v1(rootfd, m, o->flags, cgroupns, err);
}

int ct_mount_one(int rootfd, const struct ct_mount *m, const char *bundle, bool cgroupns,
		 struct vs_err *err)
{
	struct ct_mount_opts o;
	int r = ct_mount_options_parse(m, &o, err);
	if (r < 0)
		return r;
	const char *type = m->type;
	if (type && (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) && !(o.flags & MS_BIND))
		return mount_cgroup(rootfd, m, &o, cgroupns, err);

	char source[PATH_MAX];
	const char *src = m->source ? m->source : (type ? type : "none");
	bool bind = o.flags & MS_BIND;
	enum ct_resolve_create create = CT_RESOLVE_DIR;
	if (bind) {
		if (!m->source)
			return vs_errf(err, EINVAL, "mount %s: bind mount without a source",
				       m->destination);
		if (m->source[0] != '/') {
			if (snprintf(source, sizeof(source), "%s/%s", bundle, m->source) >=
			    (int)sizeof(source))
				return vs_errf(err, ENAMETOOLONG, "mount %s: source too long",
					       m->destination);
			src = source;
		}
		struct stat st;
		if (stat(src, &st) < 0)
			return vs_syserrf(err, errno, "mount %s: source %s", m->destination, src);
		if (!S_ISDIR(st.st_mode))
			create = CT_RESOLVE_FILE;
	}
	vs_cleanup_close int dst = ct_rootfs_open_in_root(rootfd, m->destination, create, err);
	if (dst < 0)
		return dst;
	char target[64];
	fd_path(target, sizeof(target), dst);
	unsigned long flags = o.flags & ~(MS_REMOUNT);
	if (bind) {
		if (mount(src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			return vs_syserrf(err, errno, "bind mount %s on %s", src, m->destination);
	} else if (mount(src, target, type, flags, o.data[0] ? o.data : NULL) < 0) {
		int e = errno;
		/* sysfs/mqueue cannot be mounted from a user namespace without
		 * owning the net/ipc namespace: fall back to the host's, as runc does */
		if (e == EPERM && type && !strcmp(type, "sysfs")) {
			if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
				return vs_syserrf(err, errno, "mount sysfs on %s", m->destination);
			bind = true;
		} else if (e == EPERM && type && !strcmp(type, "mqueue")) {
			if (mount("/dev/mqueue", target, NULL, MS_BIND, NULL) < 0)
				return vs_syserrf(err, errno, "mount mqueue on %s", m->destination);
			bind = true;
		} else {
			return vs_syserrf(err, e, "mount %s (type %s, options \"%s\") on %s", src,
					  type ? type : "none", o.data, m->destination);
		}
	}
	if (bind || o.propagation) {
		/* reopen: the fd above names the covered directory, not the new mount */
		close(dst);
		dst = ct_rootfs_open_in_root(rootfd, m->destination, CT_RESOLVE_NONE, err);
		if (dst < 0)
			return dst;
		fd_path(target, sizeof(target), dst);
	}
	if (bind && (flags & ~(MS_BIND | MS_REC))) {
		if ((r = ct_mount_bind_remount(target, flags, err)) < 0)
			return vs_err_prefix(err, "mount %s", m->destination);
	}
	if (o.propagation && mount(NULL, target, NULL, o.propagation, NULL) < 0)
		return vs_syserrf(err, errno, "set propagation of %s", m->destination);
	return 0;
}
