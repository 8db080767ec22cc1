/*
 * manager.c - the manager (mgr.h): opening the state directory, the
 * start-up reconciliation, and the instance actions with their state rules.
 *
 * State rules (an illegal request is refused before anything changes):
 *   start    Stopped -> Running       stop     Running|Frozen -> Stopped
 *   restart  Running -> Running       freeze   Running -> Frozen
 *   unfreeze Frozen -> Running        delete   Stopped (or any, with force)
 *   rename   Stopped                  exec     Running
 * The live state comes from the driver, never from the database alone:
 * the database records what vesseld last did, the host says what is.
 *
 * One vesseld per state directory: STATE/vesseld.lock is held with flock
 * for the daemon's life (the kernel drops it when the process dies, so a
 * `kill -9` never blocks the next start).
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/migrate.h"
#include "vessel/mgr/usage.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/policy.h"
#include "vessel/mgr/volume.h"

static bool mgr_is_hex_prefix(const char *t)
{
	for (int i = 0; i < 4; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return true;
}

struct mgr_db *mgr_get_db(struct mgr *m)
{
	return m->db;
}
struct mgr_ops *mgr_get_ops(struct mgr *m)
{
	return m->ops;
}
struct mgr_events *mgr_get_events(struct mgr *m)
{
	return m->events;
}
struct mgr_cluster *mgr_get_cluster(struct mgr *m)
{
	return m->cluster;
}
struct mgr_image_store *mgr_get_images(struct mgr *m)
{
	return &m->images;
}
const char *mgr_state_dir(const struct mgr *m)
{
	return m->state_dir;
}
const char *mgr_runtime_path(const struct mgr *m)
{
	return m->runtime;
}
const char *mgr_runtime_root(const struct mgr *m)
{
	return m->runtime_root;
}

void mgr_emit_lifecycle(struct mgr *m, const char *action, const char *name)
{
	struct json_object *md = json_object_new_object();
	char src[128];
	snprintf(src, sizeof(src), "/1.0/instances/%s", name);
	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(src));
	mgr_events_emit(m->events, "lifecycle", md);
}

/* ---- per-instance busy marks ---- */

static int busy_acquire(struct mgr *m, int64_t id, struct vs_err *err)
{
	pthread_mutex_lock(&m->busy_lock);
	for (;;) {
		bool taken = false;
		for (size_t i = 0; i < m->nbusy; i++)
			taken |= m->busy[i] == id;
		if (!taken)
			break;
		pthread_cond_wait(&m->busy_cond, &m->busy_lock);
	}
	if (m->nbusy == m->busy_cap) {
		size_t cap = m->busy_cap ? m->busy_cap * 2 : 16;
		int64_t *nb = realloc(m->busy, cap * sizeof(*nb));
		if (!nb) {
			pthread_mutex_unlock(&m->busy_lock);
			return vs_errf(err, ENOMEM, "out of memory");
		}
		m->busy = nb;
		m->busy_cap = cap;
	}
	m->busy[m->nbusy++] = id;
	pthread_mutex_unlock(&m->busy_lock);
	return 0;
}

void mgr_busy_release(struct mgr *m, int64_t id)
{
	pthread_mutex_lock(&m->busy_lock);
	for (size_t i = 0; i < m->nbusy; i++)
		if (m->busy[i] == id) {
			m->busy[i] = m->busy[--m->nbusy];
			break;
		}
	pthread_cond_broadcast(&m->busy_cond);
	pthread_mutex_unlock(&m->busy_lock);
}

/* Load NAME and mark it busy; the row is re-read under the mark. */
int mgr_get_busy(struct mgr *m, const char *name, struct mgr_instance *inst, struct vs_err *err)
{
	for (;;) {
		int r = mgr_instance_db_get(m->db, name, inst, err);
		if (r < 0)
			return r;
		int64_t id = inst->id;
		mgr_instance_free(inst);
		r = busy_acquire(m, id, err);
		if (r < 0)
			return r;
		r = mgr_instance_db_get(m->db, name, inst, err);
		if (r == 0 && inst->id == id)
			return 0;
		mgr_busy_release(m, id);
		if (r < 0)
			return r;
		mgr_instance_free(inst); /* renamed/recreated meanwhile: again */
	}
}

/* ---- open / close ---- */

static int import_builtin(struct mgr *m, const char *busybox)
{
	struct mgr_image img;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_get(&m->images, "busybox", &img, &err) == 0) {
		mgr_image_free(&img);
		return 0;
	}
	if (access(busybox, X_OK) < 0) {
		vs_log(VS_LOG_WARN, "no built-in busybox image: %s: %s", busybox, strerror(errno));
		return 0;
	}
	char fp[65];
	vs_err_clear(&err);
	if (mgr_image_import_busybox(&m->images, busybox, "busybox", fp, &err) < 0) {
		vs_log(VS_LOG_WARN, "%s", err.msg);
		return 0;
	}
	vs_log(VS_LOG_INFO, "built-in image busybox: %.12s", fp);
	return 0;
}

/*
 * The built-in Debian image is imported when first named (a launch of
 * "debian"), not at start-up: its import takes seconds, which every start
 * of vesseld would otherwise pay.
 */
static void builtin_on_demand(struct mgr *m, const char *ref)
{
	if (!m->debian_path || strcmp(ref, "debian") != 0)
		return;
	pthread_mutex_lock(&m->builtin_lock);
	struct mgr_image img;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_get(&m->images, "debian", &img, &err) == 0) {
		mgr_image_free(&img);
	} else {
		char fp[65];
		vs_err_clear(&err);
		if (mgr_image_import_oci(&m->images, m->debian_path, "debian", NULL, fp, &err) < 0)
			vs_log(VS_LOG_WARN, "built-in image debian (%s): %s", m->debian_path,
			       err.msg);
		else
			vs_log(VS_LOG_INFO, "built-in image debian: %.12s", fp);
	}
	pthread_mutex_unlock(&m->builtin_lock);
}

/* The guest/ recipe's image as vessel-guest (again when the recipe changed:
 * the alias moves to the new image, the old one stays while in use). */
static void import_guest(struct mgr *m, const char *dir)
{
	struct vs_err err = VS_ERR_INIT;
	char fp[65];
	if (mgr_image_import_guest(&m->images, dir, "vessel-guest", fp, &err) < 0) {
		vs_log(VS_LOG_WARN, "no built-in VM image vessel-guest: %s", err.msg);
		return;
	}
	vs_log(VS_LOG_INFO, "built-in image vessel-guest: %.12s", fp);
}

/* STATE/host-id: 4 random hex digits, made once, naming this state dir's
 * bridges (so that orphans are told apart from another vesseld's). */
static int load_host_id(struct mgr *m, struct vs_err *err)
{
	vs_cleanup_free char *path = NULL, *text = NULL;
	if (asprintf(&path, "%s/host-id", m->state_dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	size_t len;
	if (vs_read_file(path, &text, &len, 64, NULL) == 0 && len >= 4 && mgr_is_hex_prefix(text)) {
		memcpy(m->host_id, text, 4);
		m->host_id[4] = 0;
		return 0;
	}
	unsigned char b[2];
	if (getrandom(b, 2, 0) != 2)
		return vs_syserrf(err, errno, "getrandom");
	snprintf(m->host_id, sizeof(m->host_id), "%02x%02x", b[0], b[1]);
	return vs_write_file_atomic(path, m->host_id, 4, err);
}

int mgr_open(const struct mgr_opts *opts, struct mgr **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr *m = calloc(1, sizeof(*m));
	if (!m)
		return vs_errf(err, ENOMEM, "out of memory");
	m->lock_fd = -1;
	pthread_mutex_init(&m->busy_lock, NULL);
	pthread_cond_init(&m->busy_cond, NULL);
	pthread_mutex_init(&m->builtin_lock, NULL);
	const char *sd = opts->state_dir ? opts->state_dir : "/var/lib/vessel";
	int r = 0;
	vs_cleanup_free char *dbpath = NULL, *lockpath = NULL;
	if (!(m->state_dir = strdup(sd)) || !(m->runtime = strdup(opts->runtime_path)) ||
	    asprintf(&m->runtime_root, "%s/runtime", sd) < 0 ||
	    asprintf(&m->ct_dir, "%s/containers", sd) < 0 ||
	    asprintf(&m->vm_dir, "%s/vms", sd) < 0 ||
	    (opts->vmm_path && !(m->vmm = strdup(opts->vmm_path))) ||
	    asprintf(&dbpath, "%s/vessel.db", sd) < 0 ||
	    asprintf(&lockpath, "%s/vesseld.lock", sd) < 0) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (opts->debian_path && *opts->debian_path) {
		/* the cache directory (images/debian/build.sh's) or the layout */
		vs_cleanup_free char *oci = NULL;
		if (asprintf(&oci, "%s/oci/index.json", opts->debian_path) < 0)
			oci = NULL;
		if (oci && mgr_path_exists(oci))
			oci[strlen(oci) - strlen("/index.json")] = 0;
		m->debian_path = strdup(oci && mgr_path_exists(oci) ? oci : opts->debian_path);
		if (!m->debian_path) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto fail;
		}
	}
	if ((r = mgr_mkdir_p(sd, 0711, err)) < 0 ||
	    (r = mgr_mkdir_p(m->runtime_root, 0700, err)) < 0 ||
	    (r = mgr_mkdir_p(m->ct_dir, 0711, err)) < 0 ||
	    (r = mgr_mkdir_p(m->vm_dir, 0700, err)) < 0)
		goto fail;
	m->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->lock_fd < 0) {
		r = vs_syserrf(err, errno, "open %s", lockpath);
		goto fail;
	}
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = vs_errf(err, EBUSY, "another vesseld is using %s", sd);
		goto fail;
	}
	if ((r = load_host_id(m, err)) < 0)
		goto fail;
	if ((r = mgr_db_open(dbpath, &m->db, err)) < 0)
		goto fail;
	if ((r = mgr_image_store_init(&m->images, sd, m->db, err)) < 0)
		goto fail;
	m->events = mgr_events_new();
	m->ops = m->events ? mgr_ops_new(m->events) : NULL;
	if (!m->ops) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (opts->busybox_path && *opts->busybox_path)
		import_builtin(m, opts->busybox_path);
	if (opts->guest_dir && *opts->guest_dir)
		import_guest(m, opts->guest_dir);
	if ((r = mgr_network_reconcile(m, err)) < 0 || (r = mgr_reconcile(m, err)) < 0)
		goto fail;
	if ((r = mgr_volume_reconcile(m, err)) < 0)
		goto fail;
	mgr_migrate_in_recover(m); /* a live move in that vesseld did not see through */
	*out = m;
	return 0;
fail:
	mgr_close(m);
	return r;
}

void mgr_close(struct mgr *m)
{
	if (!m)
		return;
	mgr_usage_stop(m);
	if (m->events)
		mgr_events_shutdown(m->events);
	mgr_ops_free(m->ops);
	mgr_events_free(m->events);
	mgr_image_store_fini(&m->images);
	mgr_db_close(m->db);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	free(m->busy);
	pthread_cond_destroy(&m->busy_cond);
	pthread_mutex_destroy(&m->busy_lock);
	pthread_mutex_destroy(&m->builtin_lock);
	free(m->debian_path);
	free(m->state_dir);
	free(m->runtime);
	free(m->runtime_root);
	free(m->ct_dir);
	free(m->vm_dir);
	free(m->vmm);
	free(m);
}

/* ---- reconciliation ---- */

int mgr_instance_live(struct mgr *m, const struct mgr_instance *inst, enum mgr_power *p, pid_t *pid,
		      struct vs_err *err)
{
	const struct mgr_driver *d = mgr_driver_for(inst->type, err);
	if (!d) {
		*p = MGR_POWER_STOPPED;
		*pid = 0;
		return -err->code;
	}
	return d->state(m, inst, p, pid, err);
}

void mgr_instances_live(struct mgr *m, const struct mgr_instance *list, size_t n,
			enum mgr_power *power, pid_t *pid)
{
	const enum mgr_instance_type types[] = { MGR_INSTANCE_CONTAINER, MGR_INSTANCE_VM };
	bool *done = calloc(n ? n : 1, sizeof(*done));
	for (size_t k = 0; k < VS_ARRAY_SIZE(types) && done; k++) {
		struct vs_err e = VS_ERR_INIT;
		const struct mgr_driver *d = mgr_driver_for(types[k], &e);
		if (!d || !d->state_many || d->state_many(m, list, n, power, pid, &e) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			done[i] |= list[i].type == types[k];
	}
	for (size_t i = 0; i < n; i++) {
		struct vs_err e = VS_ERR_INIT;
		if (done && done[i])
			continue;
		pid[i] = 0;
		if (mgr_instance_live(m, &list[i], &power[i], &pid[i], &e) < 0)
			power[i] = list[i].power;
	}
	free(done);
}

int mgr_reconcile(struct mgr *m, struct vs_err *err)
{
	struct mgr_instance *list;
	size_t n;
	int r = mgr_instance_db_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct mgr_instance *inst = &list[i];
		struct vs_err e = VS_ERR_INIT;
		const struct mgr_driver *d = mgr_driver_for(inst->type, &e);
		enum mgr_power live;
		pid_t pid;
		if (!d || d->state(m, inst, &live, &pid, &e) < 0)
			continue;
		if (live == MGR_POWER_STOPPED) {
			/* whatever a dead or half-started instance left behind */
			if (d->stop(m, inst, true, 0, &e) < 0)
				vs_log(VS_LOG_WARN, "reconcile %s: %s", inst->name, e.msg);
		}
		if (live != inst->power) {
			vs_log(VS_LOG_INFO, "reconcile %s: recorded %s, found %s", inst->name,
			       mgr_power_db_name(inst->power), mgr_power_db_name(live));
			mgr_instance_db_set_power(m->db, inst->id, live, false, &e);
		}
	}
	const enum mgr_instance_type types[] = { MGR_INSTANCE_CONTAINER, MGR_INSTANCE_VM };
	for (size_t k = 0; k < VS_ARRAY_SIZE(types) && r == 0; k++) {
		struct vs_err e = VS_ERR_INIT;
		const struct mgr_driver *d = mgr_driver_for(types[k], &e);
		r = d ? d->reconcile(m, list, n, err) : 0;
	}
	mgr_instance_list_free(list, n);
	return r;
}

/* ---- create ---- */

int mgr_instance_create_check(struct mgr *m, const struct mgr_create_req *req, struct vs_err *err)
{
	int r = mgr_name_validate(req->name, err);
	if (r < 0)
		return r;
	if (!mgr_driver_for(req->type, err))
		return -err->code;
	for (size_t i = 0; i < req->nconfig; i++)
		if ((r = mgr_config_validate(req->type, req->config[i].key, req->config[i].value,
					     err)) < 0)
			return r;
	struct mgr_image img;
	builtin_on_demand(m, req->image);
	/* in a cluster, fetched from a member that has it */
	if ((r = mgr_cluster_image_ensure(m, req->image, err)) < 0 ||
	    (r = mgr_image_get(&m->images, req->image, &img, err)) < 0)
		return r;
	bool vm_image = strcmp(img.type, "vm") == 0;
	if (vm_image != (req->type == MGR_INSTANCE_VM))
		r = vs_errf(err, EINVAL, "image %.12s is a %s image: a %s needs a %s image",
			    img.fingerprint, vm_image ? "VM" : "container",
			    req->type == MGR_INSTANCE_VM ? "VM" : "container",
			    req->type == MGR_INSTANCE_VM ? "VM" : "container");
	mgr_image_free(&img);
	if (r < 0)
		return r;
	if (req->network) {
		struct mgr_network net;
		if ((r = mgr_network_get(m->db, req->network, &net, err)) < 0)
			return r;
	}
	if (req->nmore_networks && !req->network)
		return vs_errf(err, EINVAL, "more NICs without an eth0");
	if (req->nmore_networks > MGR_MORE_NICS_MAX)
		return vs_errf(err, EINVAL, "at most %d NICs", MGR_MORE_NICS_MAX + 1);
	if (req->type == MGR_INSTANCE_VM && req->nmore_networks + 1 > MGR_VM_NICS_MAX)
		return vs_errf(err, EINVAL, "a VM has at most %d NICs (virtio slots)",
			       MGR_VM_NICS_MAX);
	for (size_t i = 0; i < req->nmore_networks; i++) {
		struct mgr_network net;
		if ((r = mgr_network_get(m->db, req->more_networks[i], &net, err)) < 0)
			return r;
	}
	struct mgr_instance inst;
	if (mgr_instance_db_get(m->db, req->name, &inst, NULL) == 0) {
		mgr_instance_free(&inst);
		return vs_errf(err, EEXIST, "instance %s already exists", req->name);
	}
	time_t expires_at; /* required labels, lifetime (policy.c) */
	return mgr_policy_check_create(m, req, &expires_at, err);
}

int mgr_instance_create(struct mgr *m, const struct mgr_create_req *req, struct vs_err *err)
{
	int r = mgr_instance_create_check(m, req, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(req->type, err);
	struct mgr_image img;
	if ((r = mgr_image_get(&m->images, req->image, &img, err)) < 0)
		return r;
	struct mgr_instance inst = { 0 };
	snprintf(inst.name, sizeof(inst.name), "%s", req->name);
	inst.type = req->type;
	inst.image_id = img.id;
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		mgr_image_free(&img);
		return vs_syserrf(err, errno, "getrandom");
	}
	snprintf(inst.runtime_id, sizeof(inst.runtime_id),
		 "vessel-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	mgr_timestamp(inst.created_at, sizeof(inst.created_at));
	for (size_t i = 0; i < req->nconfig && r == 0; i++)
		r = mgr_instance_config_set(&inst, req->config[i].key, req->config[i].value, err);
	time_t expires_at = 0; /* again: a relative expiry counts from the commit */
	if (r == 0)
		r = mgr_policy_check_create(m, req, &expires_at, err);
	if (r == 0)
		r = mgr_instance_db_insert(m->db, &inst, err);
	if (r == 0 && (r = mgr_expiry_record(m, inst.id, expires_at, err)) < 0) {
		struct vs_err e = VS_ERR_INIT;
		mgr_instance_db_delete(m->db, inst.id, &e);
	} else if (r == 0 && (r = busy_acquire(m, inst.id, err)) < 0) {
		struct vs_err e = VS_ERR_INIT;
		mgr_instance_db_delete(m->db, inst.id, &e);
	} else if (r == 0) {
		if (req->network)
			r = mgr_network_nic_add(m, inst.id, req->network, err);
		for (size_t i = 0; i < req->nmore_networks && r == 0; i++)
			r = mgr_network_nic_add(m, inst.id, req->more_networks[i], err);
		if (r == 0)
			r = d->create(m, &inst, &img, err);
		if (r < 0) {
			struct vs_err e = VS_ERR_INIT;
			d->destroy(m, &inst, &e);
			mgr_instance_db_delete(m->db, inst.id, &e);
		}
		mgr_busy_release(m, inst.id);
	}
	if (r == 0 && req->network)
		mgr_network_refresh_hosts(m);
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-created", inst.name);
	mgr_instance_free(&inst);
	mgr_image_free(&img);
	return r;
}

/* ---- actions ---- */

static const char *const action_names[] = {
	[MGR_ACTION_START] = "start",	    [MGR_ACTION_STOP] = "stop",
	[MGR_ACTION_RESTART] = "restart",   [MGR_ACTION_FREEZE] = "freeze",
	[MGR_ACTION_UNFREEZE] = "unfreeze",
};

int mgr_action_parse(const char *s, enum mgr_action *a, struct vs_err *err)
{
	for (size_t i = 0; i < VS_ARRAY_SIZE(action_names); i++)
		if (strcmp(s, action_names[i]) == 0) {
			*a = (enum mgr_action)i;
			return 0;
		}
	if (strcmp(s, "pause") == 0 || strcmp(s, "resume") == 0) {
		*a = s[0] == 'p' ? MGR_ACTION_FREEZE : MGR_ACTION_UNFREEZE;
		return 0;
	}
	return vs_errf(err, EINVAL,
		       "unknown action \"%.40s\" (start, stop, restart, freeze, unfreeze)", s);
}

const char *mgr_action_name(enum mgr_action a)
{
	return action_names[a];
}

/* The rule table: is action a legal in live state p? */
static int check_action(const struct mgr_instance *inst, enum mgr_action a, enum mgr_power p,
			struct vs_err *err)
{
	bool ok;
	switch (a) {
	case MGR_ACTION_START: ok = p == MGR_POWER_STOPPED; break;
	case MGR_ACTION_STOP: ok = p != MGR_POWER_STOPPED; break;
	case MGR_ACTION_RESTART: ok = p == MGR_POWER_RUNNING; break;
	case MGR_ACTION_FREEZE: ok = p == MGR_POWER_RUNNING; break;
	default: ok = p == MGR_POWER_FROZEN; break;
	}
	if (ok)
		return 0;
	return vs_errf(err, EINVAL, "instance %s is %s: cannot %s it", inst->name,
		       mgr_power_status(p), action_names[a]);
}

int mgr_instance_action_check(struct mgr *m, const char *name, enum mgr_action a,
			      struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	enum mgr_power p;
	pid_t pid;
	r = mgr_instance_live(m, &inst, &p, &pid, err);
	if (r == 0)
		r = check_action(&inst, a, p, err);
	mgr_instance_free(&inst);
	return r;
}

static int do_start(struct mgr *m, const struct mgr_driver *d, const struct mgr_instance *inst,
		    struct vs_err *err)
{
	struct mgr_image img = { 0 };
	int r = inst->image_id ? mgr_image_get_by_id(&m->images, inst->image_id, &img, err) : 0;
	if (r < 0)
		return r;
	r = d->start(m, inst, inst->image_id ? &img : NULL, err);
	mgr_image_free(&img);
	if (r == 0)
		r = mgr_instance_db_set_power(m->db, inst->id, MGR_POWER_RUNNING, true, err);
	return r;
}

int mgr_instance_action(struct mgr *m, const char *name, enum mgr_action a, bool force,
			int timeout_s, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d)
		r = -err->code;
	else
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0)
		r = check_action(&inst, a, p, err);
	if (r == 0) {
		switch (a) {
		case MGR_ACTION_START:
			r = do_start(m, d, &inst, err);
			if (r == 0)
				mgr_emit_lifecycle(m, "instance-started", inst.name);
			break;
		case MGR_ACTION_STOP:
		case MGR_ACTION_RESTART:
			r = d->stop(m, &inst, force, timeout_s, err);
			if (r == 0)
				r = mgr_instance_db_set_power(m->db, inst.id, MGR_POWER_STOPPED,
							      false, err);
			if (r == 0 && a == MGR_ACTION_RESTART)
				r = do_start(m, d, &inst, err);
			if (r == 0)
				mgr_emit_lifecycle(m,
						   a == MGR_ACTION_STOP ? "instance-stopped"
									: "instance-restarted",
						   inst.name);
			break;
		case MGR_ACTION_FREEZE:
		case MGR_ACTION_UNFREEZE:
			r = d->freeze(m, &inst, a == MGR_ACTION_FREEZE, err);
			if (r == 0)
				r = mgr_instance_db_set_power(
				    m->db, inst.id,
				    a == MGR_ACTION_FREEZE ? MGR_POWER_FROZEN : MGR_POWER_RUNNING,
				    false, err);
			if (r == 0)
				mgr_emit_lifecycle(m,
						   a == MGR_ACTION_FREEZE ? "instance-paused"
									  : "instance-resumed",
						   inst.name);
			break;
		}
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_delete(struct mgr *m, const char *name, bool force, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d)
		r = -err->code;
	else
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_STOPPED && !force)
		r = vs_errf(err, EBUSY, "instance %s is %s: stop it first (or force)", inst.name,
			    mgr_power_status(p));
	if (r == 0 && p != MGR_POWER_STOPPED)
		r = d->stop(m, &inst, true, 0, err);
	if (r == 0)
		r = d->destroy(m, &inst, err);
	if (r == 0)
		r = mgr_instance_db_delete(m->db, inst.id, err);
	if (r == 0) {
		mgr_network_refresh_hosts(m);
		mgr_emit_lifecycle(m, "instance-deleted", inst.name);
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_rename(struct mgr *m, const char *name, const char *new_name, struct vs_err *err)
{
	int r = mgr_name_validate(new_name, err);
	if (r < 0)
		return r;
	struct mgr_instance inst;
	if ((r = mgr_get_busy(m, name, &inst, err)) < 0)
		return r;
	enum mgr_power p;
	pid_t pid;
	r = mgr_instance_live(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_STOPPED)
		r = vs_errf(err, EINVAL, "instance %s is %s: stop it before renaming", inst.name,
			    mgr_power_status(p));
	if (r == 0)
		r = mgr_instance_db_rename(m->db, inst.id, new_name, err);
	if (r == 0) {
		mgr_network_refresh_hosts(m);
		mgr_emit_lifecycle(m, "instance-renamed", new_name);
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_update_config(struct mgr *m, const char *name, const struct mgr_config_entry *set,
			       size_t n, bool replace, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	/* the new config, on a copy of the row */
	struct mgr_instance next = inst;
	next.config = NULL;
	next.nconfig = 0;
	for (size_t i = 0; i < inst.nconfig && r == 0 && !replace; i++)
		r = mgr_instance_config_set(&next, inst.config[i].key, inst.config[i].value, err);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (set[i].value)
			r = mgr_config_validate(inst.type, set[i].key, set[i].value, err);
		if (r == 0)
			r = mgr_instance_config_set(&next, set[i].key, set[i].value, err);
	}
	bool limits_changed = false;
	const char *lim[] = { "limits.memory", "limits.cpu" };
	for (int k = 0; k < 2; k++) {
		const char *a = mgr_instance_config_get(&inst, lim[k]);
		const char *b = mgr_instance_config_get(&next, lim[k]);
		limits_changed |= (a || b) && (!a || !b || strcmp(a, b) != 0);
	}
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (r == 0)
		r = mgr_instance_live(m, &inst, &p, &pid, err);
	if (r == 0 && limits_changed && p != MGR_POWER_STOPPED) {
		const struct mgr_driver *d = mgr_driver_for(inst.type, err);
		r = d ? d->update_limits(m, &next, err) : -err->code;
	}
	if (r == 0)
		r = mgr_instance_db_set_config(m->db, &next, err);
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-updated", inst.name);
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&next);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_exec(struct mgr *m, const char *name, const struct mgr_exec_req *req,
		      struct mgr_exec_result *res, struct vs_err *err)
{
	memset(res, 0, sizeof(*res));
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d)
		r = -err->code;
	else
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_RUNNING)
		r = vs_errf(err, EINVAL, "instance %s is %s: cannot exec", inst.name,
			    mgr_power_status(p));
	if (r == 0)
		r = d->exec(m, &inst, req, res, err);
	mgr_instance_free(&inst);
	return r;
}

/* ---- JSON ---- */

static int status_code(enum mgr_power p)
{
	return p == MGR_POWER_RUNNING ? 103 : p == MGR_POWER_FROZEN ? 110 : 102;
}

static struct json_object *instance_json(const struct mgr_instance *inst, enum mgr_power p,
					 pid_t pid, const struct mgr_nic *nics, size_t nn,
					 const char *expires_at);

struct json_object *mgr_instance_to_json(struct mgr *m, const struct mgr_instance *inst)
{
	struct mgr_nic nics[4];
	size_t nn = 0;
	struct vs_err e = VS_ERR_INIT;
	if (mgr_network_nics(m, inst->id, nics, 4, &nn, &e) < 0)
		nn = 0;
	char expires_at[32];
	mgr_expiry_get(m, inst->id, expires_at, sizeof(expires_at));
	enum mgr_power p;
	pid_t pid = 0;
	if (mgr_instance_live(m, inst, &p, &pid, &e) < 0)
		p = inst->power;
	return instance_json(inst, p, pid, nics, nn, expires_at);
}

int mgr_instances_json(struct mgr *m, struct json_object **out, struct vs_err *err)
{
	struct mgr_instance *list;
	size_t n;
	int r = mgr_instance_db_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	struct mgr_nic *nics;
	int64_t *ids;
	size_t nn;
	if ((r = mgr_network_all_nics(m, &nics, &ids, &nn, err)) < 0) {
		mgr_instance_list_free(list, n);
		return r;
	}
	/* the live state of all at once: one look at the host per type */
	enum mgr_power *power = malloc((n ? n : 1) * sizeof(*power));
	pid_t *pids = malloc((n ? n : 1) * sizeof(*pids));
	if (!power || !pids) {
		free(power);
		free(pids);
		free(nics);
		free(ids);
		mgr_instance_list_free(list, n);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	mgr_instances_live(m, list, n, power, pids);
	struct mgr_expiries *exp = mgr_expiries_load(m); /* one query for all */
	struct json_object *a = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		/* ids are sorted: this instance's NICs are one run of them */
		size_t lo = 0, hi = nn;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (ids[mid] < list[i].id)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t end = lo;
		while (end < nn && ids[end] == list[i].id)
			end++;
		json_object_array_add(a,
				      instance_json(&list[i], power[i], pids[i], nics + lo,
						    end - lo, mgr_expiries_find(exp, list[i].id)));
	}
	free(power);
	free(pids);
	free(nics);
	free(ids);
	mgr_expiries_free(exp);
	mgr_instance_list_free(list, n);
	*out = a;
	return 0;
}

/* A member with a literal key, added once: no copy of the key, no lookup
 * (a listing of 1,000 instances adds some 15,000 of them). */
static void put(struct json_object *o, const char *literal, struct json_object *v)
{
	json_object_object_add_ex(o, literal, v,
				  JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

static struct json_object *instance_json(const struct mgr_instance *inst, enum mgr_power p,
					 pid_t pid, const struct mgr_nic *nics, size_t nn,
					 const char *expires_at)
{
	struct json_object *o = json_object_new_object(), *cfg = json_object_new_object();
	put(o, "name", json_object_new_string(inst->name));
	put(o, "type", json_object_new_string(mgr_instance_type_name(inst->type)));
	put(o, "status", json_object_new_string(mgr_power_status(p)));
	put(o, "status_code", json_object_new_int(status_code(p)));
	put(o, "image", json_object_new_string(inst->image_fingerprint));
	for (size_t i = 0; i < inst->nconfig; i++)
		json_object_object_add_ex(cfg, inst->config[i].key,
					  json_object_new_string(inst->config[i].value),
					  JSON_C_OBJECT_ADD_KEY_IS_NEW); /* keys are unique */
	put(o, "config", cfg);
	put(o, "created_at", json_object_new_string(inst->created_at));
	put(o, "last_used_at", json_object_new_string(inst->last_used_at));
	put(o, "expires_at",
	    expires_at && expires_at[0] ? json_object_new_string(expires_at) : NULL);
	put(o, "pid", json_object_new_int(pid));
	struct json_object *dev = json_object_new_object();
	for (size_t i = 0; i < nn; i++) {
		struct json_object *d = json_object_new_object();
		put(d, "type", json_object_new_string("nic"));
		put(d, "network", json_object_new_string(nics[i].network));
		put(d, "hwaddr", json_object_new_string(nics[i].mac));
		put(d, "ipv4.address", json_object_new_string(nics[i].address));
		json_object_object_add(dev, nics[i].name, d);
	}
	put(o, "devices", dev);
	return o;
}

struct json_object *mgr_image_to_json(const struct mgr_image *img)
{
	struct json_object *o = json_object_new_object(), *al = json_object_new_array(),
			   *ly = json_object_new_array();
	json_object_object_add(o, "fingerprint", json_object_new_string(img->fingerprint));
	json_object_object_add(o, "type", json_object_new_string(img->type));
	json_object_object_add(o, "architecture", json_object_new_string(img->architecture));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)img->size));
	json_object_object_add(o, "created_at", json_object_new_string(img->created_at));
	for (size_t i = 0; i < img->naliases; i++) {
		struct json_object *a = json_object_new_object();
		json_object_object_add(a, "name", json_object_new_string(img->aliases[i]));
		json_object_array_add(al, a);
	}
	json_object_object_add(o, "aliases", al);
	for (size_t i = 0; i < img->nlayers; i++)
		json_object_array_add(ly, json_object_new_string(img->layers[i]));
	json_object_object_add(o, "layers", ly);
	struct json_object *cfg = json_tokener_parse(img->config_json ? img->config_json : "{}");
	json_object_object_add(o, "config", cfg ? cfg : json_object_new_object());
	return o;
}
