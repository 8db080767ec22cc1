/*
 * state.c - container state under the runtime root (runtime-spec 1.1
 * runtime.md "State"; see include/vessel/ct/state.h for the layout and the
 * locking rule).
 *
 * Invariants: state.json is always written atomically (temp + rename inside
 * the locked directory); a reader never sees a torn file.  The status a
 * caller gets is derived from the live process, never trusted blindly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_util.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/ct/state.h"

int ct_id_validate(const char *id, struct vs_err *err)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0)
		return vs_errf(err, EINVAL, "container ID must not be empty");
	if (n > CT_ID_MAX)
		return vs_errf(err, EINVAL, "container ID is longer than %d characters", CT_ID_MAX);
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strstr(id, ".."))
		return vs_errf(err, EINVAL, "invalid container ID \"%s\": must not contain \"..\"",
			       id);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '+'))
			return vs_errf(err, EINVAL,
				       "invalid container ID \"%s\": character '%c' not allowed "
				       "(use letters, digits, _ + - .)",
				       id, c);
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode, struct vs_err *err)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return vs_errf(err, ENAMETOOLONG, "path too long: %s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char saved = *p;
			*p = 0;
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return vs_syserrf(err, errno, "mkdir %s", buf);
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

static int lock_dir(int fd, const char *id, struct vs_err *err)
{
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return vs_syserrf(err, errno, "lock container %s", id);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vs_syserrf(err, errno, "stat container %s", id);
	if (st.st_nlink == 0)
		return vs_errf(err, ENOENT, "container %s does not exist", id);
	return 0;
}

int ct_state_dir_create(const char *root, const char *id, int *dirfd, struct vs_err *err)
{
	int r = mkdir_p(root, 0700, err);
	if (r < 0)
		return r;
	vs_cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return vs_syserrf(err, errno, "open %s", root);
	if (mkdirat(rootfd, id, 0700) < 0) {
		if (errno == EEXIST)
			return vs_errf(err, EEXIST, "container %s already exists", id);
		return vs_syserrf(err, errno, "create state directory %s/%s", root, id);
	}
	vs_cleanup_close int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = vs_syserrf(err, errno, "open %s/%s", root, id);
		unlinkat(rootfd, id, AT_REMOVEDIR);
		return r;
	}
	if ((r = lock_dir(fd, id, err)) < 0) {
		unlinkat(rootfd, id, AT_REMOVEDIR);
		return r;
	}
	*dirfd = vs_steal_fd(&fd);
	return 0;
}

int ct_state_dir_open(const char *root, const char *id, int *dirfd, struct vs_err *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", root, id) >= (int)sizeof(path))
		return vs_errf(err, ENAMETOOLONG, "path too long: %s/%s", root, id);
	vs_cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return vs_errf(err, ENOENT, "container %s does not exist", id);
		return vs_syserrf(err, errno, "open %s", path);
	}
	int r = lock_dir(fd, id, err);
	if (r < 0)
		return r;
	*dirfd = vs_steal_fd(&fd);
	return 0;
}

int ct_state_dir_remove(const char *root, const char *id, int dirfd, struct vs_err *err)
{
	vs_cleanup_close int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return vs_syserrf(err, errno, "dup");
	DIR *d = fdopendir(fd);
	if (!d)
		return vs_syserrf(err, errno, "opendir state of %s", id);
	fd = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, id);
	if (rmdir(path) < 0 && errno != ENOENT)
		return vs_syserrf(err, errno, "remove %s", path);
	return 0;
}

static const char *const status_names[] = {
	[CT_STATUS_CREATING] = "creating", [CT_STATUS_CREATED] = "created",
	[CT_STATUS_RUNNING] = "running",   [CT_STATUS_PAUSED] = "paused",
	[CT_STATUS_STOPPED] = "stopped",
};

const char *ct_status_name(enum ct_status s)
{
	return (unsigned)s < VS_ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

/* Start time of pid from /proc/PID/stat (0 if gone); *zombie says whether
 * it has exited but not been reaped yet (the start time is still valid). */
static uint64_t proc_stat_start(pid_t pid, bool *zombie)
{
	char path[64], buf[1024];
	*zombie = false;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	char state = p[2];
	if (state == 'X')
		return 0;
	*zombie = state == 'Z';
	/* field 3 is the state; start time is field 22 */
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

uint64_t ct_proc_start_time(pid_t pid)
{
	bool zombie;
	uint64_t t = proc_stat_start(pid, &zombie);
	return zombie ? 0 : t;
}

bool ct_state_process_exists(const struct ct_state *st)
{
	bool zombie;
	return st->pid > 0 && st->start_time != 0 &&
	       proc_stat_start(st->pid, &zombie) == st->start_time;
}

enum ct_status ct_state_status(const struct ct_state *st)
{
	if (st->pid <= 0)
		return CT_STATUS_STOPPED;
	uint64_t t = ct_proc_start_time(st->pid);
	if (t == 0 || t != st->start_time)
		return CT_STATUS_STOPPED;
	return st->saved_status;
}

int ct_state_save(int dirfd, const struct ct_state *st, struct vs_err *err)
{
	struct json_object *o = json_object_new_object();
	struct json_object *priv = json_object_new_object();
	if (!o || !priv) {
		json_object_put(o);
		json_object_put(priv);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	json_object_object_add(o, "ociVersion", json_object_new_string("1.1.0"));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "status",
			       json_object_new_string(ct_status_name(st->saved_status)));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	if (st->annotations_json) {
		struct json_object *a = json_tokener_parse(st->annotations_json);
		if (a)
			json_object_object_add(o, "annotations", a);
	}
	json_object_object_add(priv, "startTime", json_object_new_uint64(st->start_time));
	json_object_object_add(priv, "rootfs", json_object_new_string(st->rootfs));
	json_object_object_add(priv, "created", json_object_new_string(st->created));
	json_object_object_add(priv, "userns", json_object_new_boolean(st->userns));
	if (st->shared_mntns)
		json_object_object_add(priv, "sharedMountNs", json_object_new_boolean(true));
	json_object_object_add(priv, "hooks", json_object_new_int((int)st->hook_mask));
	if (st->has_cgroup) {
		json_object_object_add(priv, "cgroupLayout",
				       json_object_new_int(st->cgroup.layout));
		json_object_object_add(priv, "cgroupPath", json_object_new_string(st->cgroup.path));
	}
	json_object_object_add(o, "vessel", priv);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int r = 0;
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "state.json.%d", (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = vs_syserrf(err, errno, "write state of %s", st->id);
	} else {
		int w = vs_write_full(fd, text, strlen(text));
		close(fd);
		if (w < 0)
			r = vs_syserrf(err, -w, "write state of %s", st->id);
		else if (renameat(dirfd, tmp, dirfd, "state.json") < 0)
			r = vs_syserrf(err, errno, "write state of %s", st->id);
		if (r < 0)
			unlinkat(dirfd, tmp, 0);
	}
	json_object_put(o);
	return r;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

int ct_state_load(int dirfd, struct ct_state *st, struct vs_err *err)
{
	memset(st, 0, sizeof(*st));
	vs_cleanup_close int fd = openat(dirfd, "state.json", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) /* not "no such container": its state is gone */
		return vs_errf(err, ENODATA, "container state.json is missing");
	if (fd < 0)
		return vs_syserrf(err, errno, "read container state");
	char buf[65536];
	size_t used = 0;
	for (;;) {
		ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read container state");
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == sizeof(buf) - 1)
			return vs_errf(err, EFBIG, "container state too large");
	}
	buf[used] = 0;
	struct json_object *o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return vs_errf(err, EINVAL, "container state is corrupt");
	}
	const char *s = NULL;
	struct json_object *priv = ctj_get(o, "vessel");
	copy_str(st->id, sizeof(st->id), json_object_get_string(ctj_get(o, "id")));
	copy_str(st->bundle, sizeof(st->bundle), json_object_get_string(ctj_get(o, "bundle")));
	st->pid = json_object_get_int(ctj_get(o, "pid"));
	s = json_object_get_string(ctj_get(o, "status"));
	st->saved_status = CT_STATUS_STOPPED;
	for (size_t i = 0; s && i < VS_ARRAY_SIZE(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			st->saved_status = (enum ct_status)i;
	struct json_object *ann = ctj_get(o, "annotations");
	if (ann)
		st->annotations_json =
		    strdup(json_object_to_json_string_ext(ann, JSON_C_TO_STRING_PLAIN));
	st->start_time = json_object_get_uint64(ctj_get(priv, "startTime"));
	copy_str(st->rootfs, sizeof(st->rootfs), json_object_get_string(ctj_get(priv, "rootfs")));
	copy_str(st->created, sizeof(st->created),
		 json_object_get_string(ctj_get(priv, "created")));
	st->userns = json_object_get_boolean(ctj_get(priv, "userns"));
	st->shared_mntns = json_object_get_boolean(ctj_get(priv, "sharedMountNs"));
	st->hook_mask = (unsigned)json_object_get_int(ctj_get(priv, "hooks"));
	if (ctj_get(priv, "cgroupPath")) {
		st->has_cgroup = true;
		st->cgroup.layout = json_object_get_int(ctj_get(priv, "cgroupLayout"));
		copy_str(st->cgroup.path, sizeof(st->cgroup.path),
			 json_object_get_string(ctj_get(priv, "cgroupPath")));
	}
	json_object_put(o);
	return 0;
}

void ct_state_free(struct ct_state *st)
{
	free(st->annotations_json);
	st->annotations_json = NULL;
}

char *ct_state_to_json(const struct ct_state *st, bool pretty)
{
	return ct_state_to_json_as(st, ct_state_status(st), pretty);
}

char *ct_state_to_json_as(const struct ct_state *st, enum ct_status status, bool pretty)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "ociVersion", json_object_new_string("1.1.0"));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "pid",
			       json_object_new_int(status == CT_STATUS_STOPPED ? 0 : st->pid));
	json_object_object_add(o, "status", json_object_new_string(ct_status_name(status)));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
	json_object_object_add(o, "created", json_object_new_string(st->created));
	if (st->annotations_json) {
		struct json_object *a = json_tokener_parse(st->annotations_json);
		if (a)
			json_object_object_add(o, "annotations", a);
	}
	char *text = strdup(json_object_to_json_string_ext(o, pretty ? JSON_C_TO_STRING_PRETTY
								     : JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

int ct_state_list(const char *root, int (*fn)(const char *id, void *opaque), void *opaque,
		  struct vs_err *err)
{
	DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return vs_syserrf(err, errno, "open %s", root);
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || ct_id_validate(de->d_name, NULL) < 0)
			continue;
		if ((r = fn(de->d_name, opaque)) < 0)
			break;
	}
	closedir(d);
	return r;
}
