/*
 * driver_container.c - instances of type container, run by vessel-runtime
 * (lib/ct) as OCI containers.
 *
 * vesseld spawns the vessel-runtime binary (--root STATE/runtime) for every
 * change rather than calling lib/ct in its own process: `create` clones the
 * container from the short-lived runtime process, so the container is never
 * a child of vesseld, shares nothing with it (not even a session: the
 * runtime runs in its own) and survives a `kill -9` of the daemon.  Reads
 * of the live state use lib/ct's state files directly (no process per
 * query).
 *
 * Console: the container's process runs on a terminal (process.terminal;
 * /dev/console is the pty too) whose master is held by a small supervisor
 * process started with the container (ct_console.c): the runtime passes
 * the master to it over --console-socket, and it outlives vesseld as the
 * container does.  It logs the terminal's output to
 * STATE/containers/ID/console.log and serves STATE/containers/ID/console.sock
 * (`vessel console`); stop and destroy end it.
 *
 * Files (`vessel file push|pull`): paths are resolved inside the root with
 * openat2(RESOLVE_IN_ROOT), so no symlink or ".." in the container can
 * reach the host; a stopped container's overlay root is mounted for the
 * copy and unmounted again (the caller holds the instance's busy mark, so
 * no start runs meanwhile).  Only the root filesystem is seen, not the
 * storage volumes bound into a running container.
 *
 * Host objects of one container, all named by its runtime ID (fixed at
 * creation, so rename is a database change only):
 *   STATE/containers/ID/        bundle: config.json, upper/, work/, rootfs/
 *   rootfs/                     an overlay mount (lower: the image layers,
 *                               top first; upper/work: the instance's own)
 *                               made by start, removed by stop
 *   STATE/runtime/ID            the runtime's state (create .. delete)
 *   cgroup /ID                  made by the runtime's create, removed by its delete
 *   console.{sock,pid,log}      the console supervisor's (start .. stop)
 * destroy removes the directory; reconcile removes any of these whose ID
 * no container instance has.
 */
#include <dirent.h>
#include <ftw.h>
#include <spawn.h>
#include <sys/wait.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/ct/container.h"
#include "vessel/ct/state.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/usage.h"
#include "vessel/mgr/volume.h"

#define OUT_CAP (1u << 20)

static char *ct_path(struct mgr *m, const struct mgr_instance *inst, const char *sub)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s%s%s", m->ct_dir, inst->runtime_id, sub ? "/" : "", sub ? sub : "") <
	    0)
		return NULL;
	return p;
}

/* Run the runtime with args; on failure its error message goes into err. */
static int runtime_run(struct mgr *m, const char *what, const char *const *args, const char *in,
		       size_t in_len, struct mgr_run *res, struct vs_err *err)
{
	const char *argv[48];
	size_t n = 0;
	argv[n++] = m->runtime;
	argv[n++] = "--root";
	argv[n++] = m->runtime_root;
	for (size_t i = 0; args[i] && n < VS_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct mgr_run local;
	struct mgr_run *r = res ? res : &local;
	int rc = mgr_run((char *const *)argv, in, in_len, OUT_CAP, r, err);
	if (rc < 0)
		return rc;
	if (r->status != 0 && !res) {
		const char *msg = r->err ? r->err : "";
		const char *p = strstr(msg, "error: ");
		p = p ? p + 7 : msg;
		size_t len = strcspn(p, "\n");
		rc = vs_errf(err, EIO, "%s: %.*s", what, (int)len, *p ? p : "runtime failed");
	}
	if (!res)
		mgr_run_free(&local);
	return rc;
}

/* The runtime's view: status and pid; ENOENT when it has no such container. */
static int live_status(struct mgr *m, const char *id, enum ct_status *s, pid_t *pid)
{
	struct vs_err e = VS_ERR_INIT;
	int dirfd = -1;
	int r = ct_state_dir_open(m->runtime_root, id, &dirfd, &e);
	if (r < 0)
		return r;
	struct ct_state st;
	r = ct_state_load(dirfd, &st, &e);
	close(dirfd);
	if (r < 0)
		return r;
	*s = ct_state_status(&st);
	*pid = *s == CT_STATUS_STOPPED ? 0 : st.pid;
	ct_state_free(&st);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Wait (up to timeout_ms) until the container's process is gone. */
static bool wait_stopped(struct mgr *m, const char *id, int timeout_ms)
{
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		enum ct_status s;
		pid_t pid;
		if (live_status(m, id, &s, &pid) < 0 || s == CT_STATUS_STOPPED)
			return true;
		if (vs_now_ns() >= deadline)
			return false;
		sleep_ms(20);
	}
}

static int unmount_rootfs(const char *rootfs, struct vs_err *err)
{
	for (int i = 0; mgr_is_mountpoint(rootfs); i++) {
		if (umount2(rootfs, i < 50 ? 0 : MNT_DETACH) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			break;
		if (errno != EBUSY || i >= 51)
			return vs_syserrf(err, errno, "umount %s", rootfs);
		sleep_ms(20);
	}
	return 0;
}

static int ct_create(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		     struct vs_err *err)
{
	static const char *const subs[] = { "upper", "work", "rootfs" };
	for (size_t i = 0; i < VS_ARRAY_SIZE(subs); i++) {
		vs_cleanup_free char *p = ct_path(m, inst, subs[i]);
		if (!p)
			return vs_errf(err, ENOMEM, "out of memory");
		int r = mgr_mkdir_p(p, 0755, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Mount the overlay root (lower dirs named relative to the layer store,
 * from a per-thread working directory, to keep the option string short). */
static int mount_rootfs(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
			struct vs_err *err)
{
	vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
	vs_cleanup_free char *upper = ct_path(m, inst, "upper");
	vs_cleanup_free char *work = ct_path(m, inst, "work");
	vs_cleanup_free char *layers = NULL;
	if (!rootfs || !upper || !work || asprintf(&layers, "%s/layers", m->images.dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (mgr_is_mountpoint(rootfs))
		return 0;
	int r = ct_create(m, inst, img, err); /* after a crash before create finished */
	if (r < 0)
		return r;
	if (!img || img->nlayers == 0)
		return vs_errf(err, EINVAL, "instance %s: its image has no layers", inst->name);
	char opts[4096];
	size_t off = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	for (size_t i = img->nlayers; i-- > 0;) {
		const char *hex = strchr(img->layers[i], ':');
		off += (size_t)snprintf(opts + off, off < sizeof(opts) ? sizeof(opts) - off : 0,
					"%s%s", i + 1 < img->nlayers ? ":" : "",
					hex ? hex + 1 : img->layers[i]);
	}
	off += (size_t)snprintf(opts + off, off < sizeof(opts) ? sizeof(opts) - off : 0,
				",upperdir=%s,workdir=%s", upper, work);
	if (off >= sizeof(opts))
		return vs_errf(err, E2BIG, "instance %s: overlay options too long (%zu layers)",
			       inst->name, img->nlayers);
	if (unshare(CLONE_FS) < 0)
		return vs_syserrf(err, errno, "unshare(CLONE_FS)");
	vs_cleanup_close int old = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (old < 0 || chdir(layers) < 0)
		return vs_syserrf(err, errno, "chdir %s", layers);
	r = 0;
	if (mount("overlay", rootfs, "overlay", MS_NOSUID, opts) < 0)
		r = vs_syserrf(err, errno, "mount overlay on %s", rootfs);
	if (fchdir(old) < 0 && r == 0)
		r = vs_syserrf(err, errno, "fchdir");
	return r;
}

static struct json_object *str_array(char **v)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* Look NAME up in the rootfs's /etc/passwd or /etc/group (inside the root). */
static long lookup_id(const char *rootfs, const char *file, const char *name)
{
	vs_cleanup_close int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	vs_cleanup_close int fd = (int)syscall(SYS_openat2, root, file, &how, sizeof(how));
	if (fd < 0)
		return -1;
	vs_cleanup_fclose FILE *f = fdopen(fd, "r");
	if (!f)
		return -1;
	fd = -1;
	char line[1024];
	size_t n = strlen(name);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) != 0 || line[n] != ':')
			continue;
		const char *p = strchr(line + n + 1, ':');
		return p ? strtol(p + 1, NULL, 10) : -1;
	}
	return -1;
}

/* OCI User ("uid", "uid:gid", "name", "name:group") to numbers. */
static int resolve_user(const char *rootfs, const char *user, long *uid, long *gid,
			struct vs_err *err)
{
	*uid = *gid = 0;
	if (!user || !*user)
		return 0;
	char u[256], g[256] = "";
	if (snprintf(u, sizeof(u), "%s", user) >= (int)sizeof(u))
		return vs_errf(err, EINVAL, "image User too long");
	char *colon = strchr(u, ':');
	if (colon) {
		*colon = 0;
		snprintf(g, sizeof(g), "%s", colon + 1);
	}
	char *end;
	*uid = strtol(u, &end, 10);
	if (*end || !*u) {
		*uid = lookup_id(rootfs, "/etc/passwd", u);
		if (*uid < 0)
			return vs_errf(err, ENOENT, "image User %s: no such user in the image", u);
		/* the user's primary group, field 4 */
		*gid = *uid ? *uid : 0;
	} else {
		*gid = *uid;
	}
	if (*g) {
		*gid = strtol(g, &end, 10);
		if (*end && (*gid = lookup_id(rootfs, "/etc/group", g)) < 0)
			return vs_errf(err, ENOENT, "image User %s: no such group in the image", g);
	}
	return 0;
}

/* linux.resources from the instance's limits (absent keys: no limit). */
static struct json_object *resources_json(const struct mgr_instance *inst, bool for_update)
{
	struct json_object *res = json_object_new_object();
	const char *mem = mgr_instance_config_get(inst, "limits.memory");
	const char *cpu = mgr_instance_config_get(inst, "limits.cpu");
	uint64_t bytes;
	struct vs_err e = VS_ERR_INIT;
	struct json_object *m = json_object_new_object(), *c = json_object_new_object();
	if (mem && vs_parse_size(mem, &bytes, &e) == 0)
		json_object_object_add(m, "limit", json_object_new_int64((int64_t)bytes));
	else if (for_update)
		json_object_object_add(m, "limit", json_object_new_int64(-1));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char all[32];
	snprintf(all, sizeof(all), ncpu > 1 ? "0-%ld" : "0", ncpu - 1);
	if (cpu && strpbrk(cpu, "-,")) {
		json_object_object_add(c, "cpus", json_object_new_string(cpu));
		if (for_update)
			json_object_object_add(c, "quota", json_object_new_int64(-1));
	} else if (cpu) {
		json_object_object_add(c, "period", json_object_new_int64(100000));
		json_object_object_add(c, "quota",
				       json_object_new_int64(strtoll(cpu, NULL, 10) * 100000));
		if (for_update)
			json_object_object_add(c, "cpus", json_object_new_string(all));
	} else if (for_update) {
		json_object_object_add(c, "quota", json_object_new_int64(-1));
		json_object_object_add(c, "cpus", json_object_new_string(all));
	}
	json_object_object_add(res, "memory", m);
	json_object_object_add(res, "cpu", c);
	return res;
}

static int write_config(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
			const struct mgr_volume_mount *vols, size_t nvols, struct vs_err *err)
{
	vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
	vs_cleanup_free char *path = ct_path(m, inst, "config.json");
	vs_cleanup_free char *base = ct_default_spec_json(false);
	if (!rootfs || !path || !base)
		return vs_errf(err, ENOMEM, "out of memory");
	struct json_object *spec = json_tokener_parse(base);
	struct json_object *icfg =
	    json_tokener_parse(img && img->config_json ? img->config_json : "{}");
	if (!spec || !icfg) {
		json_object_put(spec);
		json_object_put(icfg);
		return vs_errf(err, EINVAL, "image config: not JSON");
	}
	struct json_object *proc, *root, *linux_, *v;
	json_object_object_get_ex(spec, "process", &proc);
	json_object_object_get_ex(spec, "root", &root);
	json_object_object_get_ex(spec, "linux", &linux_);
	/* args: Entrypoint + Cmd (image-spec config.md) */
	struct json_object *args = json_object_new_array();
	const char *keys[] = { "Entrypoint", "Cmd" };
	for (int k = 0; k < 2; k++)
		if (json_object_object_get_ex(icfg, keys[k], &v) &&
		    json_object_is_type(v, json_type_array))
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_array_add(args,
						      json_object_new_string(json_object_get_string(
							  json_object_array_get_idx(v, i))));
	if (json_object_array_length(args) == 0)
		json_object_array_add(args, json_object_new_string("/bin/sh"));
	json_object_object_add(proc, "args", args);
	if (json_object_object_get_ex(icfg, "Env", &v) && json_object_is_type(v, json_type_array))
		json_object_object_add(proc, "env", json_object_get(v));
	if (json_object_object_get_ex(icfg, "WorkingDir", &v) &&
	    json_object_is_type(v, json_type_string) && *json_object_get_string(v) == '/')
		json_object_object_add(proc, "cwd", json_object_get(v));
	long uid = 0, gid = 0;
	int r = resolve_user(
	    rootfs, json_object_object_get_ex(icfg, "User", &v) ? json_object_get_string(v) : NULL,
	    &uid, &gid, err);
	if (r == 0) {
		struct json_object *user = json_object_new_object();
		json_object_object_add(user, "uid", json_object_new_int64(uid));
		json_object_object_add(user, "gid", json_object_new_int64(gid));
		json_object_object_add(proc, "user", user);
		json_object_object_add(proc, "terminal", json_object_new_boolean(true));
		json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(false));
		/* podman's default capability set */
		static char *caps[] = { "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FOWNER",
					"CAP_FSETID",  "CAP_KILL",	   "CAP_NET_BIND_SERVICE",
					"CAP_SETFCAP", "CAP_SETGID",	   "CAP_SETPCAP",
					"CAP_SETUID",  "CAP_SYS_CHROOT",   "CAP_AUDIT_WRITE",
					"CAP_MKNOD",   "CAP_NET_RAW",	   NULL };
		struct json_object *c = json_object_new_object();
		const char *sets[] = { "bounding", "effective", "permitted" };
		for (int i = 0; i < 3; i++)
			json_object_object_add(c, sets[i], str_array(caps));
		json_object_object_add(proc, "capabilities", c);
		json_object_object_add(root, "path", json_object_new_string(rootfs));
		json_object_object_add(root, "readonly", json_object_new_boolean(false));
		json_object_object_add(spec, "hostname", json_object_new_string(inst->name));
		char cg[64];
		snprintf(cg, sizeof(cg), "/%s", inst->runtime_id);
		json_object_object_add(linux_, "cgroupsPath", json_object_new_string(cg));
		json_object_object_add(linux_, "resources", resources_json(inst, false));
		/* storage volumes: bind mounts of their loop mounts (volumes/NAME) */
		struct json_object *mounts;
		if (nvols && !json_object_object_get_ex(spec, "mounts", &mounts)) {
			mounts = json_object_new_array();
			json_object_object_add(spec, "mounts", mounts);
		}
		for (size_t i = 0; i < nvols; i++) {
			vs_cleanup_free char *src = NULL;
			if (asprintf(&src, "%s/%s/volumes/%s", m->ct_dir, inst->runtime_id,
				     vols[i].name) < 0) {
				r = vs_errf(err, ENOMEM, "out of memory");
				break;
			}
			struct json_object *mo = json_object_new_object(),
					   *opts = json_object_new_array();
			json_object_object_add(mo, "destination",
					       json_object_new_string(vols[i].path));
			json_object_object_add(mo, "type", json_object_new_string("bind"));
			json_object_object_add(mo, "source", json_object_new_string(src));
			json_object_array_add(opts, json_object_new_string("rbind"));
			json_object_array_add(opts, json_object_new_string("rw"));
			json_object_object_add(mo, "options", opts);
			json_object_array_add(mounts, mo);
		}
	}
	if (r == 0) {
		const char *text = json_object_to_json_string_ext(
		    spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		r = vs_write_file_atomic(path, text, strlen(text), err);
	}
	json_object_put(spec);
	json_object_put(icfg);
	return r;
}

/*
 * Unmount every volume under the container's volumes/ (the loop device of
 * each goes with its unmount: mount(8) sets it to autoclear) and remove
 * the directories.  A mount that stays is an error: the container's
 * directory must never be removed over a mounted volume.
 */
static int unmount_volumes(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	vs_cleanup_free char *dir = ct_path(m, inst, "volumes");
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		vs_cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			break;
		}
		struct vs_err e2 = VS_ERR_INIT;
		if (unmount_rootfs(p, &e2) < 0 || mgr_is_mountpoint(p)) {
			if (r == 0)
				r = vs_errf(err, EBUSY, "volume %s stays mounted: %s", de->d_name,
					    e2.msg);
			continue;
		}
		rmdir(p);
	}
	closedir(d);
	if (r == 0)
		rmdir(dir);
	return r;
}

/* Loop-mount the instance's volumes under volumes/NAME. */
static int mount_volumes(struct mgr *m, const struct mgr_instance *inst,
			 const struct mgr_volume_mount *vols, size_t n, struct vs_err *err)
{
	vs_cleanup_free char *dir = ct_path(m, inst, "volumes");
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	if (n && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vs_syserrf(err, errno, "mkdir %s", dir);
	for (size_t i = 0; i < n; i++) {
		vs_cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, vols[i].name) < 0)
			return vs_errf(err, ENOMEM, "out of memory");
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return vs_syserrf(err, errno, "mkdir %s", p);
		if (mgr_is_mountpoint(p))
			return vs_errf(err, EBUSY, "volume %s is already mounted at %s",
				       vols[i].name, p);
		char *const argv[] = {
			"/bin/mount",	      "-t", "ext4", "-o", "loop,nosuid,nodev",
			(char *)vols[i].file, p,    NULL
		};
		struct mgr_run run = { 0 };
		int r = mgr_run(argv, NULL, 0, 4096, &run, err);
		if (r == 0 && run.status != 0) {
			const char *msg = run.err ? run.err : "";
			r = vs_errf(err, EIO, "mount volume %s: %.*s", vols[i].name,
				    (int)strcspn(msg, "\n"), msg);
		}
		mgr_run_free(&run);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Remove the runtime's container (killing what is left) and the mount. */
static int release(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	enum ct_status s;
	pid_t pid;
	int r = 0;
	if (live_status(m, inst->runtime_id, &s, &pid) == 0) {
		const char *args[] = { "delete", "--force", inst->runtime_id, NULL };
		r = runtime_run(m, "delete", args, NULL, 0, NULL, err);
	}
	vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
	vs_cleanup_free char *dir = ct_path(m, inst, NULL);
	if (!rootfs || !dir)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_ct_console_stop(dir);
	int r2 = unmount_rootfs(rootfs, r < 0 ? NULL : err);
	int r3 = unmount_volumes(m, inst, r < 0 || r2 < 0 ? NULL : err);
	return r < 0 ? r : r2 < 0 ? r2 : r3;
}

/* /etc/resolv.conf in the root (resolved inside it), naming the gateway. */
static int write_resolv_conf(const char *rootfs, const char *gateway, struct vs_err *err)
{
	vs_cleanup_close int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return vs_syserrf(err, errno, "open %s", rootfs);
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT };
	vs_cleanup_close int etc = (int)syscall(SYS_openat2, root, "/etc", &how, sizeof(how));
	if (etc < 0) {
		if (mkdirat(root, "etc", 0755) < 0 && errno != EEXIST)
			return vs_syserrf(err, errno, "mkdir /etc in the container");
		etc = openat(root, "etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (etc < 0)
			return vs_syserrf(err, errno, "open /etc in the container");
	}
	unlinkat(etc, "resolv.conf", 0); /* a symlink in the image is replaced, not followed */
	vs_cleanup_close int fd =
	    openat(etc, "resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return vs_syserrf(err, errno, "write /etc/resolv.conf in the container");
	char text[64];
	int n = snprintf(text, sizeof(text), "nameserver %s\n", gateway);
	return vs_write_full(fd, text, (size_t)n) < 0
		   ? vs_syserrf(err, errno, "write /etc/resolv.conf in the container")
		   : 0;
}

static int ct_start(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		    struct vs_err *err)
{
	struct mgr_nic nics[4];
	size_t nnics = 0;
	int nr = mgr_network_nics(m, inst->id, nics, 4, &nnics, err);
	if (nr < 0)
		return nr;
	enum ct_status s;
	pid_t pid;
	vs_cleanup_free char *dir = ct_path(m, inst, NULL);
	vs_cleanup_free char *log = ct_path(m, inst, "console.log");
	vs_cleanup_free char *rtlog = ct_path(m, inst, "runtime.log");
	if (!dir || !log || !rtlog)
		return vs_errf(err, ENOMEM, "out of memory");
	if (live_status(m, inst->runtime_id, &s, &pid) == 0) {
		if (s == CT_STATUS_RUNNING || s == CT_STATUS_PAUSED)
			return vs_errf(err, EALREADY, "instance %s is already running", inst->name);
		const char *args[] = { "delete", "--force", inst->runtime_id, NULL };
		int r = runtime_run(m, "delete stale container", args, NULL, 0, NULL, err);
		if (r < 0)
			return r;
	}
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t nvols = 0;
	int r = mgr_volume_mounts(m, inst->id, &vols, &nvols, err);
	if (r < 0)
		return r;
	if ((r = mount_rootfs(m, inst, img, err)) < 0)
		return r;
	if ((r = mount_volumes(m, inst, vols, nvols, err)) < 0)
		goto fail;
	if ((r = write_config(m, inst, img, vols, nvols, err)) < 0)
		goto fail;
	if (nnics) {
		vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
		if (!rootfs || (r = write_resolv_conf(rootfs, nics[0].gateway, err)) < 0) {
			if (!rootfs)
				r = vs_errf(err, ENOMEM, "out of memory");
			goto fail;
		}
	}
	unlink(rtlog);
	{
		vs_cleanup_close int fd =
		    open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0) {
			r = vs_syserrf(err, errno, "open %s", log);
			goto fail;
		}
		char setup[128];
		if ((r = mgr_ct_console_spawn(dir, setup, sizeof(setup), err)) < 0)
			goto fail;
		const char *argv[] = { m->runtime,
				       "--root",
				       m->runtime_root,
				       "--log",
				       rtlog,
				       "create",
				       "--bundle",
				       dir,
				       "--console-socket",
				       setup,
				       inst->runtime_id,
				       NULL };
		int status;
		if ((r = mgr_run_logged((char *const *)argv, fd, &status, err)) < 0)
			goto fail;
		if (status != 0) {
			vs_cleanup_free char *msg = NULL;
			size_t len;
			struct vs_err e2 = VS_ERR_INIT;
			if (vs_read_file(rtlog, &msg, &len, 65536, &e2) == 0) {
				char *p = strstr(msg, "level=error msg=\"");
				p = p ? p + 17 : msg;
				p[strcspn(p, "\"\n")] = 0;
				r = vs_errf(err, EIO, "start %s: %s", inst->name, p);
			} else {
				r = vs_errf(err, EIO, "start %s: runtime create failed (%d)",
					    inst->name, status);
			}
			goto fail;
		}
	}
	/* NICs go into the created container's network namespace before its
	 * process runs; the host end dies with the namespace */
	for (size_t i = 0; i < nnics; i++) {
		enum ct_status s2;
		pid_t cpid = 0;
		char host_if[16];
		snprintf(host_if, sizeof(host_if), "vv%.10s%u", inst->runtime_id + 7,
			 (unsigned)(i & 7));
		if (live_status(m, inst->runtime_id, &s2, &cpid) < 0 || !cpid) {
			r = vs_errf(err, EIO, "start %s: the container is gone", inst->name);
			goto fail;
		}
		if ((r = mgr_network_nic_attach(m, &nics[i], host_if, cpid, err)) < 0)
			goto fail;
	}
	const char *args[] = { "start", inst->runtime_id, NULL };
	if ((r = runtime_run(m, "start", args, NULL, 0, NULL, err)) < 0)
		goto fail;
	return 0;
fail : {
	struct vs_err e2 = VS_ERR_INIT;
	release(m, inst, &e2);
}
	return r;
}

static int ct_stop(struct mgr *m, const struct mgr_instance *inst, bool force, int timeout_s,
		   struct vs_err *err)
{
	enum ct_status s;
	pid_t pid;
	if (live_status(m, inst->runtime_id, &s, &pid) == 0 && s != CT_STATUS_STOPPED) {
		if (s == CT_STATUS_PAUSED) {
			const char *args[] = { "resume", inst->runtime_id, NULL };
			struct vs_err e2 = VS_ERR_INIT;
			runtime_run(m, "resume", args, NULL, 0, NULL, &e2);
		}
		bool stopped = false;
		if (!force && s == CT_STATUS_RUNNING) {
			const char *args[] = { "kill", inst->runtime_id, "TERM", NULL };
			struct vs_err e2 = VS_ERR_INIT;
			if (runtime_run(m, "kill", args, NULL, 0, NULL, &e2) == 0)
				stopped = wait_stopped(m, inst->runtime_id,
						       (timeout_s < 0 ? 30 : timeout_s) * 1000);
		}
		if (!stopped) {
			const char *args[] = { "kill", "--all", inst->runtime_id, "KILL", NULL };
			struct vs_err e2 = VS_ERR_INIT;
			runtime_run(m, "kill", args, NULL, 0, NULL, &e2);
			if (!wait_stopped(m, inst->runtime_id, 30000))
				return vs_errf(err, ETIMEDOUT,
					       "instance %s: still running 30 s after SIGKILL",
					       inst->name);
		}
	}
	return release(m, inst, err);
}

static int ct_freeze(struct mgr *m, const struct mgr_instance *inst, bool freeze,
		     struct vs_err *err)
{
	const char *args[] = { freeze ? "pause" : "resume", inst->runtime_id, NULL };
	return runtime_run(m, freeze ? "pause" : "resume", args, NULL, 0, NULL, err);
}

static int ct_state(struct mgr *m, const struct mgr_instance *inst, enum mgr_power *power,
		    pid_t *pid, struct vs_err *err)
{
	enum ct_status s;
	*power = MGR_POWER_STOPPED;
	*pid = 0;
	if (live_status(m, inst->runtime_id, &s, pid) < 0)
		return 0;
	if (s == CT_STATUS_RUNNING)
		*power = MGR_POWER_RUNNING;
	else if (s == CT_STATUS_PAUSED)
		*power = MGR_POWER_FROZEN;
	else
		*pid = 0; /* created but never started: a start that did not finish */
	return 0;
}

/* The runtime's container IDs (ct_state_list), malloc'd, sorted. */
struct id_set {
	char **v;
	size_t n, cap;
};

static int id_set_add(const char *id, void *opaque)
{
	struct id_set *s = opaque;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(id)))
		return -ENOMEM;
	s->n++;
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One readdir of the runtime's root: an instance whose ID is not there has
 * no container (stopped, as ct_state finds it, without a failed open per
 * instance); the others are looked at one by one, as ct_state does. */
static int ct_state_many(struct mgr *m, const struct mgr_instance *list, size_t n,
			 enum mgr_power *power, pid_t *pid, struct vs_err *err)
{
	struct id_set ids = { 0 };
	int r = ct_state_list(m->runtime_root, id_set_add, &ids, err);
	if (r == -ENOMEM)
		r = vs_errf(err, ENOMEM, "out of memory");
	if (r == 0) {
		if (ids.n) /* (no runtime state at all: ids.v is NULL) */
			qsort(ids.v, ids.n, sizeof(*ids.v), by_str);
		for (size_t i = 0; i < n; i++) {
			if (list[i].type != MGR_INSTANCE_CONTAINER)
				continue;
			const char *key = list[i].runtime_id;
			if (ids.n && bsearch(&key, ids.v, ids.n, sizeof(*ids.v), by_str)) {
				ct_state(m, &list[i], &power[i], &pid[i], err);
			} else {
				power[i] = MGR_POWER_STOPPED;
				pid[i] = 0;
			}
		}
	}
	for (size_t i = 0; i < ids.n; i++)
		free(ids.v[i]);
	free(ids.v);
	return r;
}

static int ct_update_limits(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	struct json_object *res = resources_json(inst, true);
	const char *text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
	const char *args[] = { "update", "--resources", "-", inst->runtime_id, NULL };
	int r = runtime_run(m, "update limits", args, text, strlen(text), NULL, err);
	json_object_put(res);
	return r;
}

static int ct_exec(struct mgr *m, const struct mgr_instance *inst, const struct mgr_exec_req *req,
		   struct mgr_exec_result *res, struct vs_err *err)
{
	const char *args[40];
	size_t n = 0;
	args[n++] = "exec";
	if (req->cwd) {
		args[n++] = "--cwd";
		args[n++] = req->cwd;
	}
	if (req->user) {
		args[n++] = "--user";
		args[n++] = req->user;
	}
	for (size_t i = 0; req->env && req->env[i]; i++) {
		if (n + 2 >= 20)
			return vs_errf(err, E2BIG,
				       "exec: too many environment variables (at most 8)");
		args[n++] = "--env";
		args[n++] = req->env[i];
	}
	args[n++] = inst->runtime_id;
	for (size_t i = 0; req->argv[i]; i++) {
		if (n + 1 >= VS_ARRAY_SIZE(args) - 4)
			return vs_errf(err, E2BIG, "exec: too many arguments");
		args[n++] = req->argv[i];
	}
	args[n] = NULL;
	struct mgr_run run;
	int r = runtime_run(m, "exec", args, req->stdin_data, req->stdin_len, &run, err);
	if (r < 0)
		return r;
	/* the runtime's own failure (not the command's): its message */
	if (run.status != 0 && run.err && strstr(run.err, "vessel-runtime: error: ")) {
		const char *p = strstr(run.err, "vessel-runtime: error: ") + 23;
		r = vs_errf(err, EIO, "exec in %s: %.*s", inst->name, (int)strcspn(p, "\n"), p);
		mgr_run_free(&run);
		return r;
	}
	res->exit_code = run.status;
	res->out = run.out;
	res->out_len = run.out_len;
	res->errout = run.err;
	res->err_len = run.err_len;
	return 0;
}

static int ct_destroy(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	int r = release(m, inst, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *dir = ct_path(m, inst, NULL);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	return mgr_rm_rf(dir, err);
}

static bool known(const struct mgr_instance *list, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].type == MGR_INSTANCE_CONTAINER && strcmp(list[i].runtime_id, id) == 0)
			return true;
	return false;
}

static int ct_reconcile(struct mgr *m, const struct mgr_instance *list, size_t n,
			struct vs_err *err)
{
	const char *dirs[] = { m->runtime_root, m->ct_dir };
	for (int k = 0; k < 2; k++) {
		DIR *d = opendir(dirs[k]);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || known(list, n, de->d_name))
				continue;
			if (strncmp(de->d_name, "vessel-", 7) != 0 || strlen(de->d_name) >= 40)
				continue;
			struct mgr_instance ghost = { 0 };
			snprintf(ghost.runtime_id, sizeof(ghost.runtime_id), "%.39s", de->d_name);
			snprintf(ghost.name, sizeof(ghost.name), "%.63s", de->d_name);
			vs_log(VS_LOG_INFO, "reconcile: removing container %s of no instance",
			       de->d_name);
			struct vs_err e2 = VS_ERR_INIT;
			if (ct_destroy(m, &ghost, &e2) < 0)
				vs_log(VS_LOG_WARN, "reconcile: %s", e2.msg);
		}
		closedir(d);
	}
	return 0;
}

static __thread uint64_t tree_acc;

static int tree_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_acc += (uint64_t)st->st_size;
	return 0;
}

/* Bytes in the regular files under dir (0 when it cannot be read). */
static uint64_t tree_bytes(const char *dir)
{
	tree_acc = 0;
	nftw(dir, tree_add, 32, FTW_PHYS);
	return tree_acc;
}

/*
 * cp -a (keeps owners, modes, times, xattrs such as trusted.overlay.*,
 * device nodes such as overlay whiteouts); --reflink where the fs can.
 * While it runs, the bytes already under `to` against the total of `from`
 * are the operation's progress (stage), about every 200 ms.
 */
static int copy_tree(const char *from, const char *to, const char *stage, struct vs_err *err)
{
	char *argv[] = { "/bin/cp", "-a", "--reflink=auto", "--", (char *)from, (char *)to, NULL };
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return vs_syserrf(err, errno, "pipe");
	uint64_t total = tree_bytes(from);
	mgr_op_progress(stage, 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawnattr_t at; /* vesseld's threads block SIGTERM & co.: cp must not */
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return vs_syserrf(err, rc, "run %s", argv[0]);
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	char msg[512] = "";
	size_t mlen = 0;
	int st = 0;
	for (;;) {
		ssize_t n;
		char drop[4096];
		while ((n = mlen < sizeof(msg) - 1
				? read(pfd[0], msg + mlen, sizeof(msg) - 1 - mlen)
				: read(pfd[0], drop, sizeof(drop))) > 0) /* keep the first lines */
			if (mlen < sizeof(msg) - 1)
				mlen += (size_t)n;
		msg[mlen] = 0;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		/* cp's stderr is the pipe's only writer: its exit (the pipe's
		 * hangup) or a message ends the wait at once, else 200 ms */
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		if (poll(&pf, 1, 200) > 0 && !(pf.revents & POLLIN) &&
		    (pf.revents & (POLLHUP | POLLERR))) {
			/* hung up with nothing left to read: cp is exiting */
			while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
				;
			break;
		}
		if (total)
			mgr_op_progress(stage, (unsigned)(tree_bytes(to) * 99 / total));
	}
	close(pfd[0]);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return vs_errf(err, EIO, "copy %s: %.*s", from, (int)strcspn(msg, "\n"),
			       mlen ? msg : "failed");
	mgr_op_progress(stage, 100);
	return 0;
}

static char *snap_path(struct mgr *m, const struct mgr_instance *inst, const char *snap)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s/snapshots/%s", m->ct_dir, inst->runtime_id, snap) < 0)
		return NULL;
	return p;
}

static int ct_snapshot_create(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			      struct vs_err *err)
{
	vs_cleanup_free char *dir = snap_path(m, inst, snap);
	vs_cleanup_free char *upper = ct_path(m, inst, "upper");
	vs_cleanup_free char *dst = NULL;
	if (!dir || !upper || asprintf(&dst, "%s/upper", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(dir, &e2); /* a half copy of a crashed attempt */
	int r = mgr_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	enum ct_status s;
	pid_t pid;
	bool thaw = false;
	if (live_status(m, inst->runtime_id, &s, &pid) == 0 && s == CT_STATUS_RUNNING) {
		/* a consistent copy: nothing writes while it is taken */
		if ((r = ct_freeze(m, inst, true, err)) < 0)
			return r;
		thaw = true;
	}
	r = copy_tree(upper, dst, "snapshot", err);
	if (thaw) {
		struct vs_err e3 = VS_ERR_INIT;
		if (ct_freeze(m, inst, false, r < 0 ? &e3 : err) < 0 && r == 0)
			r = -err->code;
	}
	if (r < 0)
		mgr_rm_rf(dir, &e2);
	return r;
}

static int ct_snapshot_restore(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			       struct vs_err *err)
{
	vs_cleanup_free char *dir = snap_path(m, inst, snap);
	vs_cleanup_free char *upper = ct_path(m, inst, "upper");
	vs_cleanup_free char *work = ct_path(m, inst, "work");
	vs_cleanup_free char *src = NULL, *tmp = NULL;
	if (!dir || !upper || !work || asprintf(&src, "%s/upper", dir) < 0 ||
	    asprintf(&tmp, "%s.restore", upper) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (!mgr_path_exists(src))
		return vs_errf(err, ENOENT, "snapshot %s of %s has no data", snap, inst->name);
	/* copy beside, then swap: a crash leaves the old or the new upper */
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e2);
	int r = copy_tree(src, tmp, "restore", err);
	if (r < 0)
		return r;
	vs_cleanup_free char *old = NULL;
	if (asprintf(&old, "%s.old", upper) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_rm_rf(old, &e2);
	if (rename(upper, old) < 0 || rename(tmp, upper) < 0)
		return vs_syserrf(err, errno, "restore %s", upper);
	if ((r = mgr_rm_rf(old, err)) < 0 || (r = mgr_rm_rf(work, err)) < 0)
		return r;
	return mgr_mkdir_p(work, 0755, err);
}

static int ct_snapshot_delete(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			      struct vs_err *err)
{
	vs_cleanup_free char *dir = snap_path(m, inst, snap);
	return dir ? mgr_rm_rf(dir, err) : vs_errf(err, ENOMEM, "out of memory");
}

static int ct_console(struct mgr *m, const struct mgr_instance *inst, int *fd, struct vs_err *err)
{
	vs_cleanup_free char *dir = ct_path(m, inst, NULL);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	return mgr_ct_console_connect(dir, inst->name, fd, err);
}

static int ct_console_resize(struct mgr *m, const struct mgr_instance *inst, unsigned width,
			     unsigned height, struct vs_err *err)
{
	vs_cleanup_free char *dir = ct_path(m, inst, NULL);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	return mgr_ct_console_resize(dir, inst->name, width, height, err);
}

/*
 * The container's root for a file copy: *root an O_PATH fd of the merged
 * root; *mounted when it was mounted for this (unmount with unmount_rootfs
 * afterwards).
 */
static int open_root(struct mgr *m, const struct mgr_instance *inst, int *root, bool *mounted,
		     struct vs_err *err)
{
	vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
	if (!rootfs)
		return vs_errf(err, ENOMEM, "out of memory");
	*mounted = false;
	if (!mgr_is_mountpoint(rootfs)) {
		struct mgr_image img = { 0 };
		int r = inst->image_id
			    ? mgr_image_get_by_id(&m->images, inst->image_id, &img, err)
			    : vs_errf(err, ENOENT, "instance %s has no image", inst->name);
		if (r < 0)
			return r;
		r = mount_rootfs(m, inst, &img, err);
		mgr_image_free(&img);
		if (r < 0)
			return r;
		*mounted = true;
	}
	*root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*root < 0) {
		int r = vs_syserrf(err, errno, "open %s", rootfs);
		if (*mounted)
			unmount_rootfs(rootfs, NULL);
		return r;
	}
	return 0;
}

static void close_root(struct mgr *m, const struct mgr_instance *inst, int root, bool mounted)
{
	close(root);
	vs_cleanup_free char *rootfs = ct_path(m, inst, "rootfs");
	if (mounted && rootfs) {
		struct vs_err e = VS_ERR_INIT;
		if (unmount_rootfs(rootfs, &e) < 0)
			vs_log(VS_LOG_WARN, "%s", e.msg);
	}
}

/* PATH inside the root (RESOLVE_IN_ROOT: symlinks and ".." stay inside). */
static int open_in_root(int root, const char *name, const char *path, int flags, mode_t mode,
			struct vs_err *err)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
				.mode = flags & O_CREAT ? mode : 0,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0)
		return vs_errf(err,
			       errno == ENOENT	 ? ENOENT
			       : errno == EISDIR ? EINVAL
						 : errno,
			       "%s:%s: %s", name, path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vs_errf(err, EINVAL, "%s:%s: not a regular file", name, path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int copy_fd(int from, int to, const char *what, struct vs_err *err)
{
	static const size_t chunk = 1u << 16;
	vs_cleanup_free char *buf = malloc(chunk);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(from, buf, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read %s", what);
		if (n == 0)
			return 0;
		if (vs_write_full(to, buf, (size_t)n) < 0)
			return vs_syserrf(err, errno, "write %s", what);
	}
}

static int ct_file_push(struct mgr *m, const struct mgr_instance *inst, const char *path,
			int src_fd, mode_t mode, uid_t uid, gid_t gid, struct vs_err *err)
{
	int root;
	bool mounted;
	int r = open_root(m, inst, &root, &mounted, err);
	if (r < 0)
		return r;
	int fd =
	    open_in_root(root, inst->name, path, O_WRONLY | O_CREAT | O_TRUNC, mode & 07777, err);
	r = fd;
	if (fd >= 0) {
		r = copy_fd(src_fd, fd, path, err);
		if (r == 0 && fchown(fd, uid, gid) < 0)
			r = vs_syserrf(err, errno, "%s:%s: chown", inst->name, path);
		if (r == 0 && fchmod(fd, mode & 07777) < 0)
			r = vs_syserrf(err, errno, "%s:%s: chmod", inst->name, path);
		if (close(fd) < 0 && r == 0)
			r = vs_syserrf(err, errno, "%s:%s: close", inst->name, path);
	}
	close_root(m, inst, root, mounted);
	return r < 0 ? r : 0;
}

static int ct_file_pull(struct mgr *m, const struct mgr_instance *inst, const char *path,
			int dst_fd, struct vs_err *err)
{
	int root;
	bool mounted;
	int r = open_root(m, inst, &root, &mounted, err);
	if (r < 0)
		return r;
	int fd = open_in_root(root, inst->name, path, O_RDONLY, 0, err);
	r = fd;
	if (fd >= 0) {
		r = copy_fd(fd, dst_fd, path, err);
		close(fd);
	}
	close_root(m, inst, root, mounted);
	return r < 0 ? r : 0;
}

const struct mgr_driver mgr_driver_container = {
	.console = ct_console,
	.file_push = ct_file_push,
	.file_pull = ct_file_pull,
	.snapshot_create = ct_snapshot_create,
	.snapshot_restore = ct_snapshot_restore,
	.snapshot_delete = ct_snapshot_delete,
	.type = MGR_INSTANCE_CONTAINER,
	.create = ct_create,
	.start = ct_start,
	.stop = ct_stop,
	.freeze = ct_freeze,
	.state = ct_state,
	.state_many = ct_state_many,
	.update_limits = ct_update_limits,
	.exec = ct_exec,
	.destroy = ct_destroy,
	.reconcile = ct_reconcile,
	.usage = mgr_usage_container,
	.console_resize = ct_console_resize,
};
