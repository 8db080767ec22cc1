/*
 * cmd_export.c - an instance as one file, and between hosts:
 *
 *   export NAME FILE [--snapshots] [--stateful]   GET .../export into FILE
 *   import FILE [NAME]                            POST /1.0/instances (the file)
 *   copy NAME REMOTE:[NEW] [--snapshots]          export here, import there, streamed
 *   move NAME REMOTE:[NEW]                        stop, copy, start there, delete here
 *
 * copy and move pipe one server's export straight into the other's import
 * (two transfers on two threads, no file in between).  The importer
 * verifies the whole stream before it creates anything, so a transfer cut
 * short creates nothing there; move deletes the source only after the
 * copy exists (and started, if the source ran), and otherwise starts the
 * source again: a failed move leaves the instance where it was.
 * Containers cannot move live: this kernel's CRIU (3.17) cannot
 * checkpoint them, so move says so and stops, copies and starts them.
 * A stopped VM goes the same way (its disk as one compressed qcow2).  A
 * running VM moves live (docs/migration.md, "Between vesseld hosts"):
 * POST .../migrate-in on the destination creates it there with an incoming
 * VMM, GET .../migrate on the source turns into its VMM's migration
 * stream (disks copied), and this command relays between the two upgraded
 * connections; the source's VMM decides (completed: the destination runs
 * the guest, the source deleted it; anything else: it runs on at the
 * source and the destination removed its half).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/cleanup.h"

static char *inst_path(const char *name, const char *suffix)
{
	char *e = curl_easy_escape(NULL, name, 0);
	char *p = NULL;
	if (!e || asprintf(&p, "/1.0/instances/%s%s", e, suffix) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

struct progress {
	const char *what;
	bool tty;
	uint64_t last;
};

static void show_progress(void *opaque, uint64_t bytes)
{
	struct progress *p = opaque;
	if (!p->tty || bytes - p->last < (1u << 20))
		return;
	p->last = bytes;
	fprintf(stderr, "\r%s: %.1f MiB", p->what, (double)bytes / (1 << 20));
}

static void end_progress(struct progress *p)
{
	if (p->tty && p->last)
		fprintf(stderr, "\n");
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "snapshots", no_argument, NULL, 's' },
					      { "stateful", no_argument, NULL, 'S' },
					      { NULL, 0, NULL, 0 } };
	bool snaps = false, stateful = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			snaps = true;
		else if (c == 'S')
			stateful = true;
		else
			return cli_usage("export", "unknown option %s", argv[optind - 1]);
	}
	if (argc - optind != 2)
		return cli_usage("export", "expected NAME and FILE");
	const char *name = argv[optind], *file = argv[optind + 1];
	vs_cleanup_free char *path =
	    inst_path(name, snaps && stateful ? "/export?snapshots=1&stateful=1"
			    : snaps	      ? "/export?snapshots=1"
			    : stateful	      ? "/export?stateful=1"
					      : "/export");
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *cl = cli_client(cli, &err);
	if (!cl || !path)
		return cli_fail(&err);
	bool to_stdout = strcmp(file, "-") == 0;
	vs_cleanup_free char *part = NULL;
	if (!to_stdout && asprintf(&part, "%s.part", file) < 0)
		return cli_fail(&err);
	int fd =
	    to_stdout ? STDOUT_FILENO : open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		vs_syserrf(&err, errno, "%s", part);
		return cli_fail(&err);
	}
	struct progress p = { .what = "exporting", .tty = isatty(STDERR_FILENO) };
	int r = mgr_client_download(cl, path, fd, show_progress, &p, &err);
	end_progress(&p);
	if (!to_stdout) {
		if (r == 0 && fsync(fd) < 0)
			r = vs_syserrf(&err, errno, "%s", part);
		close(fd);
		if (r == 0 && rename(part, file) < 0)
			r = vs_syserrf(&err, errno, "%s", file);
		if (r < 0)
			unlink(part);
	}
	return r < 0 ? cli_fail(&err) : 0;
}

static int import_fd(struct mgr_client *cl, int fd, const char *name, struct progress *p, char *out,
		     size_t outlen, struct vs_err *err)
{
	vs_cleanup_free char *hdr = NULL;
	if (name && asprintf(&hdr, "X-Vessel-Name: %s", name) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	const char *headers[] = { hdr, NULL };
	struct json_object *md = NULL;
	int r = mgr_client_upload_fd(cl, "/1.0/instances", fd, hdr ? headers : NULL, show_progress,
				     p, &md, err);
	end_progress(p);
	if (r == 0)
		snprintf(out, outlen, "%s", jstr(md, "name"));
	json_object_put(md);
	return r;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argv[1][0] == '-' && argv[1][1]))
		return cli_usage("import", "expected FILE [NAME]");
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *cl = cli_client(cli, &err);
	if (!cl)
		return cli_fail(&err);
	vs_cleanup_close int fd =
	    strcmp(argv[1], "-") == 0 ? dup(STDIN_FILENO) : open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vs_syserrf(&err, errno, "%s", argv[1]);
		return cli_fail(&err);
	}
	struct progress p = { .what = "uploading", .tty = isatty(STDERR_FILENO) };
	char name[128];
	if (import_fd(cl, fd, argc == 3 ? argv[2] : NULL, &p, name, sizeof(name), &err) < 0)
		return cli_fail(&err);
	printf("Imported %s\n", name);
	return 0;
}

/* ---- between hosts ---- */

struct pump {
	struct mgr_client *src;
	const char *path;
	int fd;
	int result;
	struct vs_err err;
};

static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	p->result = mgr_client_download(p->src, p->path, p->fd, NULL, NULL, &p->err);
	close(p->fd); /* the importer sees the end (or a short file it refuses) */
	return NULL;
}

/* Export NAME from src straight into an import on dst. */
static int transfer(struct mgr_client *src, struct mgr_client *dst, const char *name,
		    const char *new_name, bool snaps, bool stateful, struct vs_err *err)
{
	vs_cleanup_free char *path = inst_path(name, stateful ? "/export?stateful=1"
						     : snaps  ? "/export?snapshots=1"
							      : "/export");
	if (!path)
		return vs_errf(err, ENOMEM, "out of memory");
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return vs_syserrf(err, errno, "pipe");
	struct pump p = { .src = src, .path = path, .fd = fds[1], .err = VS_ERR_INIT };
	pthread_t t;
	if (pthread_create(&t, NULL, pump_thread, &p) != 0) {
		close(fds[0]);
		close(fds[1]);
		return vs_errf(err, EAGAIN, "cannot start a thread");
	}
	struct progress pr = { .what = "transferring", .tty = isatty(STDERR_FILENO) };
	char got[128];
	int r = import_fd(dst, fds[0], new_name, &pr, got, sizeof(got), err);
	close(fds[0]); /* a pump still writing gets EPIPE */
	pthread_join(t, NULL);
	if (p.result < 0) {
		*err = p.err; /* the source's reason is the real one */
		return p.result;
	}
	return r;
}

static int split_target(const char *cmd, const char *target, char **remote, const char **newname)
{
	const char *colon = strchr(target, ':');
	if (!colon || colon == target || strncmp(target, "https:", 6) == 0)
		return cli_usage(cmd, "%s: expected REMOTE:[NEW-NAME]", target);
	*remote = strndup(target, (size_t)(colon - target));
	*newname = colon[1] ? colon + 1 : NULL;
	return *remote ? 0 : 1;
}

static struct mgr_client *remote_client(struct cli *cli, const char *remote, struct vs_err *err)
{
	struct cli other = *cli;
	other.remote = remote;
	other.client = NULL;
	return cli_remote_client(&other, err);
}

static int state_action(struct mgr_client *c, const char *name, const char *action,
			struct vs_err *err)
{
	vs_cleanup_free char *path = inst_path(name, "/state");
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "action", json_object_new_string(action));
	json_object_object_add(b, "timeout", json_object_new_int(30));
	int r = path ? mgr_client_do(c, "PUT", path, b, NULL, err)
		     : vs_errf(err, ENOMEM, "out of memory");
	json_object_put(b);
	return r;
}

/* Copy both ways between a and b until either ends. */
static void relay(int a, int b)
{
	char buf[65536];
	for (bool ok = true; ok;) {
		struct pollfd p[2] = { { .fd = a, .events = POLLIN },
				       { .fd = b, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			ok = errno == EINTR;
			continue;
		}
		for (int k = 0; k < 2 && ok; k++) {
			if (!p[k].revents)
				continue;
			ssize_t n = read(p[k].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			ok = n > 0;
			for (ssize_t off = 0; ok && off < n;) {
				ssize_t w =
				    send(p[1 - k].fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				ok = w > 0;
				off += w > 0 ? w : 0;
			}
		}
	}
}

static void sleep_100ms(void)
{
	struct timespec ts = { 0, 100000000 };
	nanosleep(&ts, NULL);
}

/* The storage volumes attached to NAME on src (GET .../storage-volumes
 * objects) into *out; each name must be free on dst (remote): checked
 * before anything changes on either side.  Both importers check again. */
static int attached_volumes(struct mgr_client *src, struct mgr_client *dst, const char *name,
			    const char *remote, struct json_object **out, struct vs_err *err)
{
	struct json_object *all = NULL, *mine = json_object_new_array();
	*out = mine;
	int r = mgr_client_do(src, "GET", "/1.0/storage-volumes?recursion=1", NULL, &all, err);
	for (size_t i = 0; r == 0 && i < json_object_array_length(all); i++) {
		struct json_object *o = json_object_array_get_idx(all, i), *there = NULL;
		if (strcmp(jstr(o, "used_by"), name) != 0)
			continue;
		json_object_array_add(mine, json_object_get(o));
		char *e = curl_easy_escape(NULL, jstr(o, "name"), 0);
		vs_cleanup_free char *p = NULL;
		if (!e || asprintf(&p, "/1.0/storage-volumes/%s", e) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		curl_free(e);
		if (r == 0 && mgr_client_do(dst, "GET", p, NULL, &there, NULL) == 0)
			r = vs_errf(err, EEXIST,
				    "storage volume %s already exists on %s: %s (attached to it) "
				    "cannot go there; nothing was changed",
				    jstr(o, "name"), remote, name);
		json_object_put(there);
	}
	json_object_put(all);
	return r;
}

/* Delete the moved volumes here (the instance that had them is deleted). */
static int delete_volumes(struct mgr_client *src, struct json_object *vols, struct vs_err *err)
{
	int r = 0;
	for (size_t i = 0; i < json_object_array_length(vols); i++) {
		struct json_object *o = json_object_array_get_idx(vols, i);
		char *e = curl_easy_escape(NULL, jstr(o, "name"), 0);
		vs_cleanup_free char *p = NULL;
		if (!e || asprintf(&p, "/1.0/storage-volumes/%s", e) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else if (mgr_client_do(src, "DELETE", p, NULL, NULL, err) < 0)
			r = vs_err_prefix(err, "storage volume %s", jstr(o, "name"));
		curl_free(e);
		if (r < 0)
			break;
	}
	return r;
}

/* A running VM, live: the destination's incoming half first (its refusal
 * changes nothing here), then the source's stream; the source's result. */
static int live_move(struct mgr_client *src, struct mgr_client *dst, const char *name,
		     const char *final, const char *remote, struct json_object *info,
		     struct json_object *attached, struct vs_err *err)
{
	struct json_object *meta = json_object_new_object(), *v;
	if (json_object_object_get_ex(info, "image", &v))
		json_object_object_add(meta, "image", json_object_get(v));
	if (json_object_object_get_ex(info, "config", &v))
		json_object_object_add(meta, "config", json_object_get(v));
	if (json_object_object_get_ex(info, "devices", &v))
		json_object_object_add(meta, "devices", json_object_get(v));
	/* its storage volumes: made there in the pool of the same name, their
	 * data copied with the VMM's disks; snapshots of them do not move */
	struct json_object *vols = json_object_new_array();
	json_object_object_add(meta, "volumes", vols);
	int r = 0;
	for (size_t i = 0; r == 0 && i < json_object_array_length(attached); i++) {
		struct json_object *o = json_object_array_get_idx(attached, i), *sn, *sz;
		if (json_object_object_get_ex(o, "snapshots", &sn) &&
		    json_object_array_length(sn) > 0)
			r = vs_errf(err, ENOTSUP,
				    "%s stays here: its storage volume %s has snapshots, which do "
				    "not move live: delete them first",
				    name, jstr(o, "name"));
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(jstr(o, "name")));
		json_object_object_add(e, "pool", json_object_new_string("default"));
		json_object_object_add(e, "format", json_object_new_string(jstr(o, "format")));
		json_object_object_add(
		    e, "size",
		    json_object_new_int64(
			json_object_object_get_ex(o, "size", &sz) ? json_object_get_int64(sz) : 0));
		json_object_object_add(e, "path", json_object_new_string(jstr(o, "path")));
		json_object_array_add(vols, e);
	}
	if (r < 0) {
		json_object_put(meta);
		return r;
	}
	vs_cleanup_free char *hdr = NULL;
	vs_cleanup_free char *in = inst_path(final, "/migrate-in"),
			     *out = inst_path(name, "/migrate");
	r = asprintf(&hdr, "X-Vessel-Instance: %s",
		     json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN));
	json_object_put(meta);
	if (r < 0 || !in || !out)
		return vs_errf(err, ENOMEM, "out of memory");
	const char *headers[] = { hdr, NULL };
	int dfd = -1, sfd = -1;
	if ((r = mgr_client_upgrade_ex(dst, "POST", in, "vessel-migrate", headers, &dfd, err)) < 0)
		return vs_err_prefix(err, "%s", remote);
	if ((r = mgr_client_upgrade(src, out, "vessel-migrate", &sfd, err)) < 0) {
		close(dfd); /* the destination removes its half */
		return r;
	}
	relay(sfd, dfd);
	close(sfd);
	close(dfd);
	/* the source's VMM decides; its vesseld records the end */
	struct json_object *res = NULL;
	for (int i = 0; i < 3000; i++) {
		json_object_put(res);
		res = NULL;
		if ((r = mgr_client_do(src, "GET", out, NULL, &res, err)) < 0)
			break;
		if (strcmp(jstr(res, "state"), "active") != 0)
			break;
		sleep_100ms();
	}
	if (r == 0 && strcmp(jstr(res, "state"), "completed") != 0)
		r = vs_errf(err, EIO, "%s stays here, running: %s", name,
			    *jstr(res, "error") ? jstr(res, "error") : jstr(res, "state"));
	if (r == 0) {
		struct json_object *dt = NULL;
		double down = json_object_object_get_ex(res, "downtime_ms", &dt)
				  ? json_object_get_double(dt)
				  : 0,
		       total = json_object_object_get_ex(res, "total_ms", &dt)
				   ? json_object_get_double(dt)
				   : 0;
		printf("%s moved live: total %.1f ms, downtime %.1f ms\n", name, total, down);
		/* the destination records it running once its VMM answers */
		vs_cleanup_free char *dp = inst_path(final, "");
		for (int i = 0; i < 1200; i++) {
			struct json_object *there = NULL;
			bool up = mgr_client_do(dst, "GET", dp, NULL, &there, NULL) == 0 &&
				  strcmp(jstr(there, "status"), "Running") == 0;
			json_object_put(there);
			if (up)
				break;
			sleep_100ms();
		}
	}
	json_object_put(res);
	return r;
}

static int copy_or_move(struct cli *cli, const char *cmd, int argc, char **argv, bool move)
{
	static const struct option opts[] = { { "snapshots", no_argument, NULL, 's' },
					      { NULL, 0, NULL, 0 } };
	bool snaps = move;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			snaps = true;
		else
			return cli_usage(cmd, "unknown option %s", argv[optind - 1]);
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and REMOTE:[NEW-NAME]");
	const char *name = argv[optind], *newname = NULL;
	vs_cleanup_free char *remote = NULL;
	int u = split_target(cmd, argv[optind + 1], &remote, &newname);
	if (u)
		return u;
	const char *final = newname ? newname : name;
	signal(SIGPIPE, SIG_IGN);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *src = cli_client(cli, &err);
	if (!src)
		return cli_fail(&err);
	struct mgr_client *dst = remote_client(cli, remote, &err);
	if (!dst)
		return cli_fail(&err);
	vs_cleanup_free char *path = inst_path(name, ""), *dpath = inst_path(final, "");
	struct json_object *info = NULL, *there = NULL;
	int r = mgr_client_do(src, "GET", path, NULL, &info, &err);
	if (r == 0 && mgr_client_do(dst, "GET", dpath, NULL, &there, NULL) == 0)
		r = vs_errf(&err, EEXIST, "instance %s already exists on %s", final, remote);
	json_object_put(there);
	struct json_object *vols = NULL; /* attached to it, names free there */
	if (r == 0)
		r = attached_volumes(src, dst, name, remote, &vols, &err);
	bool running = r == 0 && strcmp(jstr(info, "status"), "Running") == 0;
	bool vm = r == 0 && strcmp(jstr(info, "type"), "container") != 0;
	if (vm && running && !move)
		r = vs_errf(&err, ENOTSUP,
			    "%s is a running VM: stop it to copy it (or move it: it then moves "
			    "live)",
			    name);
	if (r == 0 && vm && running && move) {
		r = live_move(src, dst, name, final, remote, info, vols, &err);
		json_object_put(info);
		json_object_put(vols);
		mgr_client_free(dst);
		if (r < 0) {
			vs_err_prefix(&err, "move %s to %s", name, remote);
			return cli_fail(&err);
		}
		printf("Moved %s to %s:%s\n", name, remote, final);
		return 0;
	}
	json_object_put(info);
	if (r < 0) {
		json_object_put(vols);
		mgr_client_free(dst);
		return cli_fail(&err);
	}
	if (move && running && !vm) {
		printf("Live migration of containers is impossible on this kernel (CRIU 3.17 "
		       "cannot checkpoint): %s is stopped, copied and started on %s\n",
		       name, remote);
		fflush(stdout);
		r = state_action(src, name, "stop", &err);
	}
	if (r == 0)
		r = transfer(src, dst, name, newname, snaps, vm && running, &err);
	if (r == 0 && move && running && (r = state_action(dst, final, "start", &err)) < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		vs_cleanup_free char *dp = inst_path(final, "?force=1");
		/* the copy and the volumes it brought: the source keeps its own */
		if (mgr_client_do(dst, "DELETE", dp, NULL, NULL, &e2) == 0)
			delete_volumes(dst, vols, &e2);
	}
	if (r < 0) {
		if (move && running) { /* leave it where it was, running */
			struct vs_err e2 = VS_ERR_INIT;
			struct json_object *now = NULL;
			bool up = mgr_client_do(src, "GET", path, NULL, &now, &e2) == 0 &&
				  strcmp(jstr(now, "status"), "Running") == 0;
			json_object_put(now);
			if (!up && state_action(src, name, "start", &e2) < 0)
				fprintf(stderr, "vessel: error: restart %s: %s\n", name, e2.msg);
		}
		json_object_put(vols);
		mgr_client_free(dst);
		vs_err_prefix(&err, "%s %s to %s", cmd, name, remote);
		return cli_fail(&err);
	}
	/* the copy is there (and runs if the source ran): the source and then
	 * its volumes (detached by the instance's delete) go */
	if (move && ((r = mgr_client_do(src, "DELETE", path, NULL, NULL, &err)) < 0 ||
		     (r = delete_volumes(src, vols, &err)) < 0)) {
		json_object_put(vols);
		mgr_client_free(dst);
		vs_err_prefix(&err, "%s is on %s now, but its source was not deleted", final,
			      remote);
		return cli_fail(&err);
	}
	json_object_put(vols);
	mgr_client_free(dst);
	printf("%s %s to %s:%s\n", move ? "Moved" : "Copied", name, remote, final);
	return 0;
}

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	return copy_or_move(cli, "copy", argc, argv, false);
}

int cmd_move(struct cli *cli, int argc, char **argv)
{
	return copy_or_move(cli, "move", argc, argv, true);
}
