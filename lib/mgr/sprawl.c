/*
 * sprawl.c - what holds resources without earning them, and prune
 * (policy.h).
 *
 * Kinds, one entry per object (the first that applies):
 *   expired   an instance whose expiry has passed (acted on or not)
 *   idle      an instance idle (mgr_usage_idle_since) for the project's
 *             idle.after (when set)
 *   stopped   an instance stopped for the project's sprawl.stopped_after
 *   snapshot  a snapshot never restored, older than sprawl.snapshot_after
 *   volume    a storage volume attached to no instance
 *   image     an image no instance was made from
 * Cost: "cpu" (cores) and "memory" (bytes) are what a running instance
 * reserves through limits.cpu and limits.memory (a stopped one reserves
 * none); "disk" is the bytes allocated on the host (st_blocks, walked
 * without crossing into mounts such as a running container's root).
 *
 * Prune removes an entry only when the prune.allow key of its project
 * (instances, snapshots) or of the "default" project (volumes, images)
 * names its kind; every entry says whether it is "prunable".  It goes
 * through the manager's operations (instance delete with force, snapshot,
 * volume and image delete), so VM and container instances are handled
 * alike, and the list is computed afresh, so a dry run and a real run
 * agree when nothing changed in between.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/policy.h"
#include "vessel/mgr/volume.h"

/* ---- disk use ---- */

static __thread uint64_t du_total;

static int du_visit(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path;
	(void)flag;
	(void)f;
	du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* Bytes allocated under path (0 if it does not exist), this filesystem only. */
static uint64_t disk_usage(const char *path)
{
	struct stat st;
	if (!path || lstat(path, &st) < 0)
		return 0;
	du_total = 0;
	nftw(path, du_visit, 16, FTW_PHYS | FTW_MOUNT);
	return du_total;
}

static uint64_t instance_disk(struct mgr *m, const struct mgr_instance *inst)
{
	vs_cleanup_free char *ct = NULL, *vm = NULL;
	if (asprintf(&ct, "%s/%s", m->ct_dir, inst->runtime_id) < 0 ||
	    asprintf(&vm, "%s/vms/%s", m->state_dir, inst->runtime_id) < 0)
		return 0;
	return disk_usage(ct) + disk_usage(vm);
}

/* ---- entries ---- */

static double cpu_cores(const char *v)
{
	if (!v || !*v)
		return 0;
	if (!strpbrk(v, "-,"))
		return strtod(v, NULL);
	double n = 0; /* a CPU list: count its CPUs */
	for (const char *p = v; *p;) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		n += (double)(b - a + 1);
		p = *end == ',' ? end + 1 : end + strlen(end);
	}
	return n;
}

static bool kind_allowed(const struct mgr_policy *p, const char *kind)
{
	char buf[sizeof(p->prune_allow)];
	snprintf(buf, sizeof(buf), "%s", p->prune_allow);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (strcmp(t, kind) == 0)
			return true;
	return false;
}

static void add_entry(struct json_object *a, const char *kind, const char *name, const char *reason,
		      double cpu, uint64_t memory, uint64_t disk, bool prunable)
{
	struct json_object *o = json_object_new_object(), *c = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(c, "cpu", json_object_new_double(cpu));
	json_object_object_add(c, "memory", json_object_new_int64((int64_t)memory));
	json_object_object_add(c, "disk", json_object_new_int64((int64_t)disk));
	json_object_object_add(o, "cost", c);
	json_object_object_add(o, "prunable", json_object_new_boolean(prunable));
	json_object_array_add(a, o);
}

static void human_age(int64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else if (s >= 60)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

static void instance_entries(struct mgr *m, struct mgr_instance *inst, time_t now,
			     struct json_object *a)
{
	struct mgr_policy p;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_policy_load(m, mgr_instance_project(inst), &p, &err) < 0)
		return;
	enum mgr_power pw;
	pid_t pid;
	if (mgr_instance_live(m, inst, &pw, &pid, &err) < 0)
		pw = inst->power;
	double cpu = 0;
	uint64_t mem = 0;
	if (pw != MGR_POWER_STOPPED) {
		cpu = cpu_cores(mgr_instance_config_get(inst, "limits.cpu"));
		const char *mv = mgr_instance_config_get(inst, "limits.memory");
		struct vs_err e = VS_ERR_INIT;
		if (!mv || vs_parse_size(mv, &mem, &e) < 0)
			mem = 0;
	}
	char reason[160], age[24], exp_s[32];
	const char *kind = NULL;
	time_t exp, since;
	mgr_expiry_get(m, inst->id, exp_s, sizeof(exp_s));
	if (exp_s[0] && mgr_time_parse(exp_s, &exp, &err) == 0 && exp <= now) {
		kind = "expired";
		snprintf(reason, sizeof(reason), "expired at %s", exp_s);
	} else if (p.idle_after_s && mgr_usage_idle_since(m, inst, &since, &err) == 0 && since &&
		   now - since >= p.idle_after_s) {
		kind = "idle";
		human_age(now - since, age, sizeof(age));
		snprintf(reason, sizeof(reason), "idle for %s (project %s: idle.after)", age,
			 p.project);
	} else if (pw == MGR_POWER_STOPPED && p.stopped_after_s &&
		   (since = mgr_power_changed_at(m, inst)) && now - since >= p.stopped_after_s) {
		kind = "stopped";
		human_age(now - since, age, sizeof(age));
		snprintf(reason, sizeof(reason),
			 "stopped for %s (project %s: sprawl.stopped_after)", age, p.project);
	}
	if (kind)
		add_entry(a, kind, inst->name, reason, cpu, mem, instance_disk(m, inst),
			  kind_allowed(&p, kind));
	/* its snapshots */
	struct json_object *snaps;
	if (!p.snapshot_after_s || mgr_snapshot_list(m, inst->name, &snaps, &err) < 0)
		return;
	size_t n = json_object_array_length(snaps);
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(snaps, i), *v;
		const char *sn =
		    json_object_object_get_ex(s, "name", &v) ? json_object_get_string(v) : "";
		const char *at =
		    json_object_object_get_ex(s, "created_at", &v) ? json_object_get_string(v) : "";
		time_t t;
		if (mgr_time_parse(at, &t, &err) < 0 || now - t < p.snapshot_after_s)
			continue;
		bool restored = false;
		mgr_db_lock(m->db);
		{
			mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
			    m->db,
			    "SELECT 1 FROM snapshot_restores r JOIN instance_snapshots s ON "
			    "s.id = r.snapshot_id WHERE s.instance_id = ? AND s.name = ?",
			    &err);
			if (st) {
				mgr_stmt_bind_int64(st, 1, inst->id);
				mgr_stmt_bind_text(st, 2, sn);
				restored = mgr_stmt_step(st) == SQLITE_ROW;
			}
		}
		mgr_db_unlock(m->db);
		if (restored)
			continue;
		char full[160], path[4096];
		snprintf(full, sizeof(full), "%s/%s", inst->name, sn);
		snprintf(path, sizeof(path), "%s/%s/snapshots/%s", m->ct_dir, inst->runtime_id, sn);
		human_age(now - t, age, sizeof(age));
		snprintf(reason, sizeof(reason), "never restored, taken %s ago", age);
		add_entry(a, "snapshot", full, reason, 0, 0, disk_usage(path),
			  kind_allowed(&p, "snapshot"));
	}
	json_object_put(snaps);
}

int mgr_sprawl(struct mgr *m, struct json_object **out, struct vs_err *err)
{
	struct mgr_instance *list;
	size_t n;
	int r = mgr_instance_db_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	struct mgr_policy def;
	if ((r = mgr_policy_load(m, "default", &def, err)) < 0) {
		mgr_instance_list_free(list, n);
		return r;
	}
	time_t now = time(NULL);
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		instance_entries(m, &list[i], now, a);
	/* volumes attached to nothing */
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(m->db,
				   "SELECT name, format FROM storage_volumes WHERE id NOT IN "
				   "(SELECT volume_id FROM instance_volumes) ORDER BY name",
				   err);
		while (st && mgr_stmt_step(st) == SQLITE_ROW) {
			const char *vn = mgr_stmt_column_text(st, 0);
			char path[4096], snaps[4096];
			const char *fmt = mgr_stmt_column_text(st, 1);
			snprintf(path, sizeof(path), "%s/storage/default/%s.%s", m->state_dir, vn,
				 strcmp(fmt, "qcow2") == 0 ? "qcow2" : "raw");
			/* its snapshots go with it (volume_snapshot.c) */
			snprintf(snaps, sizeof(snaps), "%s/storage/default/%s.snapshots",
				 m->state_dir, vn);
			uint64_t du = disk_usage(path);
			du += disk_usage(snaps);
			add_entry(a, "volume", vn, "attached to no instance", 0, 0, du,
				  kind_allowed(&def, "volume"));
		}
		/* images no instance was made from */
		mgr_cleanup_stmt struct mgr_stmt *im = mgr_db_prepare(
		    m->db,
		    "SELECT fingerprint, size FROM images WHERE id NOT IN (SELECT image_id FROM "
		    "instances WHERE image_id IS NOT NULL) ORDER BY fingerprint",
		    err);
		while (im && mgr_stmt_step(im) == SQLITE_ROW)
			add_entry(a, "image", mgr_stmt_column_text(im, 0), "no instance uses it", 0,
				  0, (uint64_t)mgr_stmt_column_int64(im, 1),
				  kind_allowed(&def, "image"));
	}
	mgr_db_unlock(m->db);
	mgr_instance_list_free(list, n);
	*out = a;
	return 0;
}

/* Remove one entry through the manager's operations. */
static int prune_one(struct mgr *m, const char *kind, const char *name, struct vs_err *err)
{
	if (strcmp(kind, "snapshot") == 0) {
		char inst[MGR_NAME_MAX + 1];
		const char *slash = strchr(name, '/');
		if (!slash || (size_t)(slash - name) > MGR_NAME_MAX)
			return vs_errf(err, EINVAL, "bad snapshot name %s", name);
		snprintf(inst, sizeof(inst), "%.*s", (int)(slash - name), name);
		return mgr_snapshot_delete(m, inst, slash + 1, err);
	}
	if (strcmp(kind, "volume") == 0)
		return mgr_volume_delete(m, name, err);
	if (strcmp(kind, "image") == 0)
		return mgr_image_delete(&m->images, name, err);
	return mgr_instance_delete(m, name, true, err);
}

int mgr_prune(struct mgr *m, bool dry_run, struct json_object **out, struct vs_err *err)
{
	struct json_object *all;
	int r = mgr_sprawl(m, &all, err);
	if (r < 0)
		return r;
	struct json_object *removed = json_object_new_array(), *failed = json_object_new_array();
	size_t n = json_object_array_length(all);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(all, i), *v;
		if (!json_object_object_get_ex(e, "prunable", &v) || !json_object_get_boolean(v))
			continue;
		const char *kind = json_object_get_string(json_object_object_get(e, "kind"));
		const char *name = json_object_get_string(json_object_object_get(e, "name"));
		struct vs_err e2 = VS_ERR_INIT;
		if (!dry_run && prune_one(m, kind, name, &e2) < 0) {
			struct json_object *f = json_object_get(e);
			json_object_object_add(f, "error", json_object_new_string(e2.msg));
			json_object_array_add(failed, f);
			continue;
		}
		json_object_array_add(removed, json_object_get(e));
	}
	json_object_put(all);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
	json_object_object_add(o, "removed", removed);
	json_object_object_add(o, "failed", failed);
	*out = o;
	return 0;
}
