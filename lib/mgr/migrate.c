/*
 * migrate.c - a running VM moved live between two vesseld hosts
 * (migrate.h, docs/migration.md "Between vesseld hosts").
 *
 * Source: the VMM is sandboxed (no network), so it migrates with its disks
 * copied (PUT /migrate {"uri":"unix:migrate.sock","disks":"copy"}) to a
 * socket vesseld listens on in the VM's directory; vesseld relays that
 * stream both ways with the upgraded API connection.  When the VMM reports
 * "completed" (the destination answered that it runs) the VMM exits and
 * the instance is deleted here (directory, cgroup, TAP); any other end -
 * the destination refused, the connection dropped, no traffic for
 * RELAY_IDLE_S - leaves the VMM running: the migration thread resumes it.
 *
 * The source's storage volumes (raw or qcow2) are disks of its VMM, copied
 * with the root disk; once the move completed they are deleted here (rows
 * and files).  A volume with snapshots does not move (it would lose them).
 *
 * Destination: prepare (before the upgrade, so a refusal is an ordinary
 * error) checks the name is free, the image is here, each NIC's network
 * exists and each volume's name is free, creates the instance row (its
 * overlay disk removed: the copy is written in its place), its NICs (same
 * MACs and addresses, the source's order) and its volumes' rows (attached
 * at the same paths; their files are made by the VMM as the data arrives,
 * their names listed in the IN_MARK file) and starts `vessel-vmm
 * --incoming unix:DIR/incoming.sock` with a --disk per volume and a --net
 * per NIC (sandboxed too); run relays the stream into it and waits until its API
 * answers (it runs the guest) or it exits (it refused the stream: it never
 * runs a half-received guest).  A failure deletes the instance and the
 * volumes made for it.
 *
 * Test hook: with VESSEL_TEST_MIGRATE_CUT_FILE=PATH in the destination
 * vesseld's environment, a number N in that file (read at each incoming
 * migration) cuts the relay after N bytes from the source.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "vessel/mgr/cluster.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/driver.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/migrate.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/volume.h"

#define RELAY_IDLE_S  120 /* no byte either way: the peer is gone */
#define ACCEPT_S      30
#define MIGRATE_END_S 120
#define RESULTS	      16
#define OUT_SOCK      "migrate.sock"
#define IN_SOCK	      "incoming.sock"
#define IN_MARK	      "incoming" /* in the VM's directory until the move completed */
#define MAX_NICS      4		 /* vessel-vmm's --net */
#define MAX_VOLS      6

/* ---- the last results, by name ---- */

static pthread_mutex_t results_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[MGR_NAME_MAX + 1];
	struct mgr_migrate_result r;
	uint64_t at;
} results[RESULTS];

static void result_set(const char *name, const struct mgr_migrate_result *r)
{
	pthread_mutex_lock(&results_lock);
	size_t slot = 0;
	for (size_t i = 0; i < RESULTS; i++) {
		if (strcmp(results[i].name, name) == 0) {
			slot = i;
			break;
		}
		if (results[i].at < results[slot].at)
			slot = i;
	}
	snprintf(results[slot].name, sizeof(results[slot].name), "%s", name);
	results[slot].r = *r;
	results[slot].at = vs_now_ns();
	pthread_mutex_unlock(&results_lock);
}

int mgr_migrate_result_get(const char *name, struct mgr_migrate_result *out)
{
	int r = -ENOENT;
	pthread_mutex_lock(&results_lock);
	for (size_t i = 0; i < RESULTS; i++)
		if (results[i].at && strcmp(results[i].name, name) == 0) {
			*out = results[i].r;
			r = 0;
		}
	pthread_mutex_unlock(&results_lock);
	return r;
}

static void result_fail(const char *name, const char *msg)
{
	struct mgr_migrate_result r = { .state = "failed" };
	snprintf(r.error, sizeof(r.error), "%s", msg);
	result_set(name, &r);
}

/* ---- the relay ---- */

static bool send_all(int fd, const char *p, size_t n)
{
	return vs_send_full(fd, p, n) == 0;
}

/* Copy both ways between a (the VMM) and b (the API connection, whose
 * first extra_len bytes were read already) until either side ends; cut:
 * stop after that many bytes from b (0: never). */
static void relay(int a, int b, const char *extra, size_t extra_len, uint64_t cut, bool stall)
{
	fcntl(b, F_SETFL, fcntl(b, F_GETFL) & ~O_NONBLOCK);
	uint64_t from_b = extra_len;
	bool ok = !extra_len || send_all(a, extra, extra_len);
	char buf[65536];
	while (ok) {
		struct pollfd p[2] = { { .fd = a, .events = POLLIN },
				       { .fd = b, .events = POLLIN } };
		int n = poll(p, 2, RELAY_IDLE_S * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (int k = 0; k < 2 && ok; k++) {
			if (!p[k].revents)
				continue;
			size_t want = sizeof(buf);
			if (k == 1 && cut && cut - from_b < want)
				want = (size_t)(cut - from_b);
			ssize_t got = read(p[k].fd, buf, want);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			ok = got > 0 && send_all(k ? a : b, buf, (size_t)got);
			if (k == 1 && got > 0) {
				from_b += (uint64_t)got;
				if (cut && from_b >= cut) {
					vs_log(VS_LOG_WARN,
					       "migration relay %s after %llu bytes "
					       "(VESSEL_TEST_MIGRATE_CUT_FILE)",
					       stall ? "stalled" : "cut",
					       (unsigned long long)from_b);
					while (stall) /* until this vesseld is killed */
						pause();
					ok = false;
				}
			}
		}
	}
}

static int listen_unix(const char *path, struct vs_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return vs_errf(err, ENAMETOOLONG, "%s: path too long", path);
	strcpy(a.sun_path, path);
	unlink(path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0 ||
	    chmod(path, 0666) < 0) { /* the sandboxed VMM runs as nobody */
		int e = errno;
		if (s >= 0)
			close(s);
		unlink(path);
		return vs_syserrf(err, e, "listen on %s", path);
	}
	return s;
}

static int connect_unix(const char *path, struct vs_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return vs_errf(err, ENAMETOOLONG, "%s: path too long", path);
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return vs_syserrf(err, e, "connect to %s", path);
	}
	return s;
}

/* ---- source ---- */

static int running_vm(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	if (inst->type != MGR_INSTANCE_VM)
		return vs_errf(err, ENOTSUP,
			       "instance %s is a container: only VMs move live (CRIU 3.17 cannot "
			       "checkpoint containers)",
			       inst->name);
	if (!mgr_vm_running(m, inst))
		return vs_errf(err, EINVAL, "VM %s is not running: nothing to move live",
			       inst->name);
	return 0;
}

/* A running VM whose volumes have no snapshots (the move deletes the
 * source's volumes, their snapshots would be lost). */
static int movable(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	int r = running_vm(m, inst, err);
	char vol[MGR_NAME_MAX + 1];
	int snap = r == 0 ? mgr_volume_snapshotted(m, inst->id, vol, sizeof(vol), err) : 0;
	if (snap > 0)
		r = vs_errf(err, ENOTSUP,
			    "VM %s: its storage volume %s has snapshots, which do not move live: "
			    "delete them first",
			    inst->name, vol);
	else if (snap < 0)
		r = snap;
	return r;
}

int mgr_migrate_out_check(struct mgr *m, const char *name, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	r = movable(m, &inst, err);
	mgr_instance_free(&inst);
	return r;
}

static void vmm_result(struct json_object *j, struct mgr_migrate_result *res)
{
	struct json_object *v;
	memset(res, 0, sizeof(*res));
	snprintf(res->state, sizeof(res->state), "%s",
		 json_object_object_get_ex(j, "state", &v) ? json_object_get_string(v) : "none");
	if (json_object_object_get_ex(j, "downtime_ms", &v) && v)
		res->downtime_ms = json_object_get_double(v);
	if (json_object_object_get_ex(j, "total_ms", &v) && v)
		res->total_ms = json_object_get_double(v);
	if (json_object_object_get_ex(j, "bytes_sent", &v))
		res->bytes = json_object_get_int64(v);
	if (json_object_object_get_ex(j, "disk_bytes_sent", &v))
		res->disk_bytes = json_object_get_int64(v);
	if (json_object_object_get_ex(j, "error", &v) && v)
		snprintf(res->error, sizeof(res->error), "%s", json_object_get_string(v));
}

/* "migration to URI completed: total T ms, downtime D ms, B bytes" in vmm.log */
static void log_figures(struct mgr *m, const struct mgr_instance *inst,
			struct mgr_migrate_result *res)
{
	vs_cleanup_free char *p = mgr_vm_path(m, inst->runtime_id, "vmm.log");
	vs_cleanup_free char *text = NULL;
	size_t len;
	if (!p || vs_read_file(p, &text, &len, 1 << 20, NULL) < 0)
		return;
	const char *last = NULL;
	for (const char *q = text; (q = strstr(q, " completed: total ")); q++)
		last = q;
	double t, d;
	long long b;
	if (last)
		vs_log(VS_LOG_INFO, "%s: the VMM's migration%.*s", inst->name,
		       (int)strcspn(last, "\n"), last);
	if (last && sscanf(last, " completed: total %lf ms, downtime %lf ms, %lld bytes", &t, &d,
			   &b) == 3) {
		res->total_ms = t;
		res->downtime_ms = d;
		res->bytes = b;
	}
}

int mgr_migrate_out(struct mgr *m, const char *name, int fd, const char *extra, size_t extra_len,
		    struct vs_err *err)
{
	struct mgr_migrate_result res = { .state = "active" };
	result_set(name, &res);
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0) {
		result_fail(name, err->msg);
		return r;
	}
	vs_cleanup_free char *sock = mgr_vm_path(m, inst.runtime_id, OUT_SOCK);
	int l = -1, c = -1;
	if (!sock)
		r = vs_errf(err, ENOMEM, "out of memory");
	if (r == 0)
		r = movable(m, &inst, err);
	/* its volumes: removed here once the VM runs there */
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t nvols = 0;
	if (r == 0)
		r = mgr_volume_mounts(m, inst.id, &vols, &nvols, err);
	if (r == 0 && (l = listen_unix(sock, err)) < 0)
		r = l;
	/* the sandboxed VMM (nobody, its root this directory) must search it to
	 * reach the socket: 0711 while it connects (STATE/vms stays 0700) */
	vs_cleanup_free char *dir = mgr_vm_path(m, inst.runtime_id, NULL);
	if (r == 0 && dir && chmod(dir, 0711) < 0)
		r = vs_syserrf(err, errno, "chmod %s", dir);
	if (r == 0)
		r = mgr_vm_api_reply(m, &inst, "PUT", "/migrate",
				     "{\"uri\":\"unix:" OUT_SOCK "\",\"disks\":\"copy\"}", NULL,
				     err);
	if (r == 0) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		if (poll(&p, 1, ACCEPT_S * 1000) <= 0 ||
		    (c = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
			r = vs_errf(err, ETIMEDOUT, "VM %s: the VMM did not connect to migrate",
				    name);
	}
	if (l >= 0)
		close(l);
	if (sock)
		unlink(sock);
	if (dir)
		chmod(dir, 0700);
	if (r == 0) {
		relay(c, fd, extra, extra_len, 0, false);
		close(c);
		/* the VMM decides: completed once the destination runs the guest */
		uint64_t deadline = vs_now_ns() + (uint64_t)MIGRATE_END_S * 1000000000ull;
		for (;;) {
			struct json_object *j = NULL;
			r = mgr_vm_api_reply(m, &inst, "GET", "/migrate", NULL, &j, err);
			if (r == 0)
				vmm_result(j, &res);
			json_object_put(j);
			if (r < 0 && mgr_vm_wait_gone(m, &inst, 30000)) {
				/* it exited (a failed migration resumes it): completed;
				 * its log has the figures */
				vs_err_clear(err);
				r = 0;
				snprintf(res.state, sizeof(res.state), "completed");
				log_figures(m, &inst, &res);
			}
			if (r < 0 || strcmp(res.state, "active") != 0)
				break;
			if (vs_now_ns() >= deadline) {
				r = vs_errf(err, ETIMEDOUT, "VM %s: the migration did not end",
					    name);
				break;
			}
			struct timespec ts = { 0, 50000000 };
			nanosleep(&ts, NULL);
		}
		if (r == 0 && strcmp(res.state, "completed") != 0)
			r = vs_errf(err, EIO, "VM %s: migration %s: %s", name, res.state,
				    res.error[0] ? res.error : "the destination did not confirm");
	} else if (c >= 0) {
		close(c);
	}
	int64_t id = inst.id;
	if (r == 0 && !mgr_vm_wait_gone(m, &inst, 30000))
		vs_log(VS_LOG_WARN, "%s: the VMM still runs after its migration completed", name);
	mgr_instance_free(&inst);
	mgr_busy_release(m, id);
	if (r < 0) {
		vs_log(VS_LOG_WARN, "live move of %s failed, it runs on here: %s", name, err->msg);
		result_fail(name, err->msg);
		return r;
	}
	struct vs_err e2 = VS_ERR_INIT;
	if (mgr_instance_delete(m, name, true, &e2) < 0) {
		vs_log(VS_LOG_WARN, "%s moved, but its source was not deleted: %s", name, e2.msg);
		snprintf(res.error, sizeof(res.error), "moved, but not deleted here: %.400s",
			 e2.msg);
	}
	vs_err_clear(&e2); /* their copies run there now */
	mgr_volume_delete_moved(m, name, vols, nvols, &e2);
	vs_log(VS_LOG_INFO, "%s moved live: total %.1f ms, downtime %.1f ms", name, res.total_ms,
	       res.downtime_ms);
	result_set(name, &res);
	mgr_emit_lifecycle(m, "instance-moved", name);
	return 0;
}

/* ---- destination ---- */

struct mgr_migrate_in {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	struct mgr_instance inst;
	uint64_t cut;
	bool stall;
	size_t nvols; /* the volumes made here for it (removed with it on a failure) */
	char vols[MAX_VOLS][MGR_NAME_MAX + 1];
};

static struct json_object *get(struct json_object *o, const char *key, json_type t)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* The incoming instance's volumes (by name), one a line in its IN_MARK
 * file: what a vesseld restarted after a crash removes with the half. */
static int mark_write(struct mgr *m, const struct mgr_instance *inst,
		      char (*vols)[MGR_NAME_MAX + 1], size_t nvols, struct vs_err *err)
{
	vs_cleanup_free char *mark = mgr_vm_path(m, inst->runtime_id, IN_MARK);
	char text[MAX_VOLS * (MGR_NAME_MAX + 2) + 1];
	size_t off = 0;
	for (size_t i = 0; i < nvols; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", vols[i]);
	if (!mark)
		return vs_errf(err, ENOMEM, "out of memory");
	return vs_write_file_atomic(mark, text, off, err);
}

/* Delete the instance name, then the volumes it came with (detached by
 * then); what fails is logged. */
static void remove_half(struct mgr *m, const char *name, char (*vols)[MGR_NAME_MAX + 1],
			size_t nvols)
{
	struct vs_err e2 = VS_ERR_INIT;
	if (mgr_instance_delete(m, name, true, &e2) < 0) {
		vs_log(VS_LOG_WARN, "incoming %s: remove after a failure: %s", name, e2.msg);
		return;
	}
	for (size_t i = 0; i < nvols; i++) {
		vs_err_clear(&e2);
		if (mgr_volume_delete(m, vols[i], &e2) < 0 && e2.code != ENOENT)
			vs_log(VS_LOG_WARN, "incoming %s: remove its volume %s: %s", name, vols[i],
			       e2.msg);
	}
}

static void in_remove(struct mgr_migrate_in *mi)
{
	int64_t id = mi->inst.id;
	mgr_instance_free(&mi->inst);
	mgr_busy_release(mi->m, id);
	remove_half(mi->m, mi->name, mi->vols, mi->nvols);
	free(mi);
}

/* The NICs of meta's "devices" ({"eth0": {"type": "nic", "network",
 * "hwaddr", "ipv4.address"}, ...}), in the order of their names (the
 * source's order, so the Nth TAP here backs the guest's Nth NIC); each on
 * this host's network of the same name, checked before anything is made. */
struct in_nic {
	const char *dev, *net, *mac, *addr;
};

static int in_nics(struct mgr *m, const char *name, struct json_object *dev, struct in_nic *nics,
		   size_t *n, struct vs_err *err)
{
	*n = 0;
	if (!dev)
		return 0;
	json_object_object_foreach(dev, dname, d)
	{
		struct json_object *t = get(d, "type", json_type_string),
				   *nn = get(d, "network", json_type_string),
				   *hw = get(d, "hwaddr", json_type_string),
				   *ip = get(d, "ipv4.address", json_type_string);
		if (!t || strcmp(json_object_get_string(t), "nic") != 0 || !nn || !hw)
			return vs_errf(err, ENOTSUP,
				       "VM %s: device %s: only NICs (type nic, network, hwaddr) "
				       "can move live",
				       name, dname);
		if (*n == MAX_NICS)
			return vs_errf(err, EINVAL, "VM %s: more than %d NICs", name, MAX_NICS);
		struct in_nic c = { dname, json_object_get_string(nn), json_object_get_string(hw),
				    ip ? json_object_get_string(ip) : NULL };
		size_t k = (*n)++;
		for (; k > 0 && strcmp(nics[k - 1].dev, dname) > 0; k--)
			nics[k] = nics[k - 1];
		nics[k] = c;
	}
	for (size_t i = 0; i < *n; i++) {
		struct mgr_network nw;
		if (mgr_network_get(m->db, nics[i].net, &nw, NULL) < 0)
			return vs_errf(
			    err, ENOENT,
			    "VM %s has a NIC (%s) on network %s, which this host does not have: "
			    "create it here first (vessel network create %s SUBNET)",
			    name, nics[i].dev, nics[i].net, nics[i].net);
	}
	return 0;
}

/* meta's "volumes" ([{"name", "format", "size", "path"}]): each checked
 * (a free name here, in the pool of the same name, default) before
 * anything is made. */
struct in_vol {
	const char *name, *format, *path;
	uint64_t size;
};

static int in_volumes(struct mgr *m, const char *name, struct json_object *a, struct in_vol *vols,
		      size_t *n, struct vs_err *err)
{
	*n = 0;
	size_t len = a ? json_object_array_length(a) : 0;
	if (len > MAX_VOLS)
		return vs_errf(err, EINVAL, "VM %s: more than %d storage volumes", name, MAX_VOLS);
	for (size_t i = 0; i < len; i++) {
		struct json_object *o = json_object_array_get_idx(a, i),
				   *vn = get(o, "name", json_type_string),
				   *vf = get(o, "format", json_type_string),
				   *vs = get(o, "size", json_type_int),
				   *vp = get(o, "path", json_type_string),
				   *pool = get(o, "pool", json_type_string);
		if (!vn || !vf || !vs || !vp)
			return vs_errf(err, EINVAL,
				       "migration: volume %zu: expected {\"name\", \"format\", "
				       "\"size\", \"path\"}",
				       i);
		if (pool && strcmp(json_object_get_string(pool), "default") != 0)
			return vs_errf(
			    err, ENOENT,
			    "VM %s: storage pool %s: this host has only the pool default", name,
			    json_object_get_string(pool));
		int64_t size = json_object_get_int64(vs);
		vols[i] =
		    (struct in_vol){ json_object_get_string(vn), json_object_get_string(vf),
				     json_object_get_string(vp), size > 0 ? (uint64_t)size : 0 };
		int r = mgr_volume_incoming_check(m, vols[i].name, vols[i].format, vols[i].size,
						  vols[i].path, err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (strcmp(vols[k].name, vols[i].name) == 0)
				return vs_errf(err, EINVAL, "migration: volume %s given twice",
					       vols[i].name);
		*n = i + 1;
	}
	return 0;
}

int mgr_migrate_in_prepare(struct mgr *m, struct json_object *meta, struct mgr_migrate_in **out,
			   struct vs_err *err)
{
	*out = NULL;
	struct json_object *n = get(meta, "name", json_type_string),
			   *img = get(meta, "image", json_type_string),
			   *cfg = get(meta, "config", json_type_object),
			   *dev = get(meta, "devices", json_type_object);
	if (!n || !img)
		return vs_errf(err, EINVAL,
			       "migration: expected {\"name\", \"image\", \"config\"}");
	const char *name = json_object_get_string(n);
	int r = mgr_name_validate(name, err);
	if (r < 0)
		return r;
	struct mgr_instance existing;
	if (mgr_instance_db_get(m->db, name, &existing, NULL) == 0) {
		mgr_instance_free(&existing);
		return vs_errf(err, EEXIST, "instance %s already exists", name);
	}
	struct mgr_image image;
	struct vs_err ie = VS_ERR_INIT; /* in a cluster, fetched from a member that has it */
	if (mgr_cluster_image_ensure(m, json_object_get_string(img), &ie) < 0 && ie.code != ENOENT)
		return vs_errf(err, ie.code, "%s", ie.msg);
	if (mgr_image_get(&m->images, json_object_get_string(img), &image, NULL) < 0)
		return vs_errf(err, ENOENT,
			       "image %.12s is not on this host: import it first (vessel image "
			       "import)",
			       json_object_get_string(img));
	bool vm = strcmp(image.type, "vm") == 0;
	mgr_image_free(&image);
	if (!vm)
		return vs_errf(err, EINVAL, "image %.12s is no VM image",
			       json_object_get_string(img));
	/* its NICs (same MACs and addresses, the running guest keeps them)
	 * and storage volumes: checked before anything is made or stopped */
	struct in_nic nics[MAX_NICS];
	struct in_vol vols[MAX_VOLS];
	size_t nnics = 0, nvols = 0;
	if ((r = in_nics(m, name, dev, nics, &nnics, err)) < 0 ||
	    (r = in_volumes(m, name, get(meta, "volumes", json_type_array), vols, &nvols, err)) < 0)
		return r;
	if (nnics + nvols > MGR_VM_NICS_MAX)
		return vs_errf(err, EINVAL, "VM %s: %zu NICs and %zu storage volumes: at most %d",
			       name, nnics, nvols, MGR_VM_NICS_MAX);
	size_t ncfg = cfg ? (size_t)json_object_object_length(cfg) : 0, k = 0;
	vs_cleanup_free struct mgr_config_entry *ce = calloc(ncfg + 1, sizeof(*ce));
	if (!ce)
		return vs_errf(err, ENOMEM, "out of memory");
	if (cfg) {
		json_object_object_foreach(cfg, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				return vs_errf(err, EINVAL, "config %s: expected a string", key);
			if ((r = mgr_config_validate(MGR_INSTANCE_VM, key,
						     json_object_get_string(val), err)) < 0)
				return r;
			ce[k].key = key;
			ce[k].value = (char *)json_object_get_string(val);
			k++;
		}
	}
	struct mgr_create_req req = { .name = name,
				      .type = MGR_INSTANCE_VM,
				      .image = json_object_get_string(img),
				      .config = ce,
				      .nconfig = ncfg };
	if ((r = mgr_instance_create(m, &req, err)) < 0)
		return r;
	if (nnics) {
		struct mgr_instance made;
		if ((r = mgr_instance_db_get(m->db, name, &made, err)) == 0) {
			for (size_t i = 0; i < nnics && r == 0; i++)
				if ((r = mgr_network_nic_add_fixed(m, made.id, nics[i].net,
								   nics[i].mac, nics[i].addr,
								   err)) < 0)
					vs_err_prefix(err, "VM %s's NIC %s", name, nics[i].dev);
			mgr_instance_free(&made);
		}
		if (r < 0) {
			struct vs_err e2 = VS_ERR_INIT;
			mgr_instance_delete(m, name, true, &e2);
			return r;
		}
		mgr_network_refresh_hosts(m);
	}
	struct mgr_migrate_in *mi = calloc(1, sizeof(*mi));
	if (!mi) {
		struct vs_err e2 = VS_ERR_INIT;
		mgr_instance_delete(m, name, true, &e2);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	mi->m = m;
	snprintf(mi->name, sizeof(mi->name), "%s", name);
	const char *cut = getenv("VESSEL_TEST_MIGRATE_CUT_FILE");
	vs_cleanup_free char *cuttext = NULL;
	size_t cutlen;
	if (cut && vs_read_file(cut, &cuttext, &cutlen, 64, NULL) == 0) {
		mi->stall = strncmp(cuttext, "stall ", 6) == 0;
		mi->cut = strtoull(cuttext + (mi->stall ? 6 : 0), NULL, 10);
	}
	if ((r = mgr_get_busy(m, name, &mi->inst, err)) < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		mgr_instance_delete(m, name, true, &e2);
		free(mi);
		return r;
	}
	struct mgr_image im;
	vs_cleanup_free char *root = mgr_vm_path(m, mi->inst.runtime_id, "root.qcow2");
	vs_cleanup_free char *sock = mgr_vm_path(m, mi->inst.runtime_id, IN_SOCK);
	if (!root || !sock)
		r = vs_errf(err, ENOMEM, "out of memory");
	else
		r = mark_write(m, &mi->inst, mi->vols, 0, err);
	/* its volumes: rows attached to it, their files made by its VMM; each
	 * in the mark as soon as it is made */
	for (size_t i = 0; i < nvols && r == 0; i++) {
		if ((r = mgr_volume_incoming_add(m, vols[i].name, vols[i].format, vols[i].size,
						 mi->inst.id, vols[i].path, err)) < 0)
			break;
		snprintf(mi->vols[mi->nvols++], sizeof(mi->vols[0]), "%s", vols[i].name);
		r = mark_write(m, &mi->inst, mi->vols, mi->nvols, err);
	}
	if (r == 0 && (r = mgr_image_get_by_id(&m->images, mi->inst.image_id, &im, err)) == 0) {
		unlink(root); /* the copy comes in its place */
		r = mgr_vm_start_incoming(m, &mi->inst, &im, sock, err);
		mgr_image_free(&im);
	}
	if (r < 0) {
		in_remove(mi);
		return r;
	}
	vs_log(VS_LOG_INFO, "incoming %s as %s: its VMM waits for the stream", name,
	       mi->inst.runtime_id);
	*out = mi;
	return 0;
}

void mgr_migrate_in_abort(struct mgr_migrate_in *mi)
{
	if (mi)
		in_remove(mi);
}

int mgr_migrate_in_run(struct mgr_migrate_in *mi, int fd, const char *extra, size_t extra_len,
		       struct vs_err *err)
{
	struct mgr_migrate_result res = { .state = "active" };
	result_set(mi->name, &res);
	vs_cleanup_free char *sock = mgr_vm_path(mi->m, mi->inst.runtime_id, IN_SOCK);
	int c = sock ? connect_unix(sock, err) : vs_errf(err, ENOMEM, "out of memory");
	int r = c < 0 ? c : 0;
	if (r == 0) {
		relay(c, fd, extra, extra_len, mi->cut, mi->stall);
		close(c);
		r = mgr_vm_incoming_wait(mi->m, &mi->inst, MIGRATE_END_S, err);
	}
	if (r < 0) {
		vs_log(VS_LOG_WARN, "incoming %s failed, removed: %s", mi->name, err->msg);
		result_fail(mi->name, err->msg);
		in_remove(mi);
		return r;
	}
	struct vs_err e2 = VS_ERR_INIT;
	if (mgr_instance_db_set_power(mi->m->db, mi->inst.id, MGR_POWER_RUNNING, true, &e2) < 0)
		vs_log(VS_LOG_WARN, "incoming %s: record it running: %s", mi->name, e2.msg);
	vs_cleanup_free char *mark = mgr_vm_path(mi->m, mi->inst.runtime_id, IN_MARK);
	if (mark)
		unlink(mark);
	snprintf(res.state, sizeof(res.state), "completed");
	result_set(mi->name, &res);
	mgr_emit_lifecycle(mi->m, "instance-moved-in", mi->name);
	int64_t id = mi->inst.id;
	mgr_instance_free(&mi->inst);
	mgr_busy_release(mi->m, id);
	free(mi);
	return 0;
}

void mgr_migrate_in_recover(struct mgr *m)
{
	struct mgr_instance *list;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_list(m->db, &list, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct mgr_instance *inst = &list[i];
		vs_cleanup_free char *mark = inst->type == MGR_INSTANCE_VM
						 ? mgr_vm_path(m, inst->runtime_id, IN_MARK)
						 : NULL;
		if (!mark || access(mark, F_OK) < 0)
			continue;
		struct vs_err e = VS_ERR_INIT;
		if (mgr_vm_running(m, inst)) {
			/* it got the whole stream and runs: the move completed */
			unlink(mark);
			mgr_instance_db_set_power(m->db, inst->id, MGR_POWER_RUNNING, true, &e);
			vs_log(VS_LOG_INFO, "%s: its live move in completed while vesseld was away",
			       inst->name);
		} else {
			/* the volumes it came with: one a line in the mark */
			char vols[MAX_VOLS][MGR_NAME_MAX + 1];
			size_t nvols = 0, len;
			vs_cleanup_free char *text = NULL;
			if (vs_read_file(mark, &text, &len, sizeof(vols), NULL) == 0)
				for (char *p = text, *nl; *p && nvols < MAX_VOLS; p = nl + 1) {
					if (!(nl = strchr(p, '\n')))
						break;
					*nl = 0;
					if (*p && strlen(p) <= MGR_NAME_MAX)
						snprintf(vols[nvols++], sizeof(vols[0]), "%s", p);
				}
			remove_half(m, inst->name, vols, nvols);
			vs_log(VS_LOG_INFO,
			       "%s: removed the half of a live move that vesseld did not see "
			       "through (and %zu volume(s))",
			       inst->name, nvols);
		}
	}
	mgr_instance_list_free(list, n);
}
