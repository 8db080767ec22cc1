/*
 * usage.c - the sampler thread and what reads its results: the usage
 * history of one instance (GET /1.0/instances/NAME/usage) and the
 * Prometheus exposition (GET /1.0/metrics).
 *
 * Every interval (opts.interval_ms, default 10 s) the thread lists the
 * instances, samples each one vesseld recorded as running or frozen
 * through its driver's `usage` entry (VMs without one: mgr_usage_vm), turns
 * the counters into rates against the previous sample of the same instance
 * (a counter that went backwards means a restart: that pair gives no rate),
 * stores one raw row per instance in one transaction, and when a 5-minute
 * boundary passed runs the store's aggregation and expiry.  The last
 * counters of each instance stay in memory for /1.0/metrics, so a scrape
 * reads no cgroup file and takes no database lock.
 *
 * The thread holds no instance busy mark: a sample of an instance that is
 * stopping fails harmlessly and is skipped.  It samples without holding
 * the usage lock (only it writes last[] and the descriptor cache) and takes
 * the lock only to publish the new readings, so a scrape never waits for a
 * slow VMM.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/usage.h"
#include "usage_internal.h"

static uint64_t mono_ns(void)
{
	return vs_now_ns();
}

double mgr_usage_limit_cpu(const struct mgr_instance *inst)
{
	const char *v = mgr_instance_config_get(inst, "limits.cpu");
	if (!v || !*v)
		return 0;
	if (!strpbrk(v, "-,"))
		return strtod(v, NULL);
	/* a CPU list: count its CPUs */
	double n = 0;
	const char *p = v;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		n += (double)(b - a + 1);
		p = *end == ',' ? end + 1 : end + strlen(end);
	}
	return n;
}

uint64_t mgr_usage_limit_memory(const struct mgr_instance *inst)
{
	const char *v = mgr_instance_config_get(inst, "limits.memory");
	uint64_t b = 0;
	struct vs_err e = VS_ERR_INIT;
	if (v && vs_parse_size(v, &b, &e) < 0)
		b = 0;
	return b;
}

const char *mgr_usage_project(const struct mgr_instance *inst)
{
	const char *p = mgr_instance_config_get(inst, "user.project");
	return p && *p ? p : "default";
}

static struct usage_last *find_last(struct usage_last *v, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

/* Rates between two samples dt_ns apart. */
static void rates(const struct mgr_usage_sample *a, const struct mgr_usage_sample *b,
		  uint64_t dt_ns, int64_t t, struct mgr_usage_row *r)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	r->count = 1;
	double dt = (double)dt_ns / 1e9;
#define D(f) (b->f >= a->f ? (double)(b->f - a->f) : 0.0)
	r->cpu = D(cpu_ns) / 1e9 / dt;
	r->memory = (double)b->memory_bytes;
	r->disk_read = D(disk_read_bytes) / dt;
	r->disk_write = D(disk_write_bytes) / dt;
	r->disk_ops = (D(disk_read_ops) + D(disk_write_ops)) / dt;
	r->net_rx = D(net_rx_bytes) / dt;
	r->net_tx = D(net_tx_bytes) / dt;
	r->net_packets = (D(net_rx_packets) + D(net_tx_packets)) / dt;
	r->throttled = D(throttled_ns) / 1e9 / dt;
	r->pressure = D(pressure_us) / 1e6 / dt;
	r->oom_kills = D(oom_kills);
#undef D
	r->cpu_min = r->cpu_max = r->cpu_p95 = r->cpu;
	r->memory_min = r->memory_max = r->memory_p95 = r->memory;
	if (b->valid & MGR_USAGE_GUEST_MEMORY) {
		r->guest_available = (double)b->guest_available;
		r->guest_total = (double)b->guest_total;
	}
}

struct mgr_usage_fds *mgr_usage_fds_for(struct mgr *m, const struct mgr_instance *inst)
{
	struct mgr_usage *u = m->usage;
	if (!u)
		return NULL;
	for (size_t i = 0; i < u->ncache; i++)
		if (u->cache[i].id == inst->id &&
		    !strcmp(u->cache[i].runtime_id, inst->runtime_id)) {
			u->cache[i].seen = true;
			return &u->cache[i].fds;
		}
	if (u->ncache == u->cache_cap) {
		size_t cap = u->cache_cap ? u->cache_cap * 2 : 64;
		struct usage_fdcache *nc = realloc(u->cache, cap * sizeof(*nc));
		if (!nc)
			return NULL;
		u->cache = nc;
		u->cache_cap = cap;
	}
	struct usage_fdcache *c = &u->cache[u->ncache++];
	c->id = inst->id;
	snprintf(c->runtime_id, sizeof(c->runtime_id), "%s", inst->runtime_id);
	mgr_usage_fds_init(&c->fds);
	c->seen = true;
	return &c->fds;
}

/* Close the descriptors of instances this tick did not sample. */
static void cache_sweep(struct mgr_usage *u)
{
	size_t w = 0;
	for (size_t i = 0; i < u->ncache; i++) {
		if (!u->cache[i].seen) {
			mgr_usage_fds_close(&u->cache[i].fds);
			continue;
		}
		u->cache[i].seen = false;
		u->cache[w++] = u->cache[i];
	}
	u->ncache = w;
}

bool mgr_usage_row_due(const struct mgr_usage_sample *a, const struct mgr_usage_sample *b)
{
	/* counters that went back: the instance restarted in between */
	if (b->cpu_ns < a->cpu_ns || b->oom_kills < a->oom_kills ||
	    b->throttled_ns < a->throttled_ns)
		return false;
	/* a reading that lost the memory figure the previous one had (a read
	 * failed mid-way, e.g. while the instance stopped) stores no row: a
	 * gap in the history is true, a 0 would not be */
	return !((a->valid & MGR_USAGE_MEMORY) && !(b->valid & MGR_USAGE_MEMORY));
}

int mgr_usage_tick(struct mgr *m, struct vs_err *err)
{
	struct mgr_usage *u = m->usage;
	struct mgr_instance *list = NULL;
	size_t n = 0;
	int r = mgr_instance_db_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	struct rusage ru0;
	getrusage(RUSAGE_THREAD, &ru0);
	struct usage_last *now = calloc(n ? n : 1, sizeof(*now));
	int64_t *ids = calloc(n ? n : 1, sizeof(*ids));
	struct mgr_usage_row *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!now || !ids || !rows) {
		free(now);
		free(ids);
		free(rows);
		mgr_instance_list_free(list, n);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	size_t nnow = 0, nrows = 0;
	int64_t wall = (int64_t)time(NULL);
	/* sampling runs without the lock (a VM's API may take seconds); only
	 * this thread writes last[] and the descriptor cache */
	for (size_t i = 0; i < n; i++) {
		const struct mgr_instance *inst = &list[i];
		if (inst->power == MGR_POWER_STOPPED)
			continue;
		struct vs_err e = VS_ERR_INIT;
		const struct mgr_driver *d = mgr_driver_for(inst->type, &e);
		struct usage_last *l = &now[nnow];
		int rr;
		if (d && d->usage)
			rr = d->usage(m, inst, &l->s, &e);
		else if (inst->type == MGR_INSTANCE_VM)
			rr = mgr_usage_vm(m, inst, &l->s, &e);
		else
			continue;
		if (rr < 0) {
			vs_log(VS_LOG_DEBUG, "usage: %s: %s", inst->name, e.msg);
			continue;
		}
		l->id = inst->id;
		l->mono_ns = mono_ns();
		l->wall = wall;
		l->type = inst->type;
		snprintf(l->name, sizeof(l->name), "%s", inst->name);
		snprintf(l->project, sizeof(l->project), "%s", mgr_usage_project(inst));
		l->limit_cpu = mgr_usage_limit_cpu(inst);
		l->limit_memory = mgr_usage_limit_memory(inst);
		struct usage_last *prev = find_last(u->last, u->nlast, inst->id);
		if (prev && prev->mono_ns < l->mono_ns && mgr_usage_row_due(&prev->s, &l->s)) {
			rates(&prev->s, &l->s, l->mono_ns - prev->mono_ns, wall, &rows[nrows]);
			l->row = rows[nrows];
			l->have_row = true;
			ids[nrows++] = inst->id;
		}
		nnow++;
	}
	cache_sweep(u);
	pthread_mutex_lock(&u->lock);
	free(u->last);
	u->last = now;
	u->nlast = nnow;
	pthread_mutex_unlock(&u->lock);
	mgr_instance_list_free(list, n);
	r = nrows ? mgr_usage_db_put_many(m->db, MGR_USAGE_RAW, ids, rows, nrows, err) : 0;
	free(ids);
	free(rows);
	if (r == 0 && wall / 300 != u->maintained) {
		r = mgr_usage_db_maintain(m->db, wall, err);
		if (r == 0)
			u->maintained = wall / 300;
	}
	struct rusage ru1;
	getrusage(RUSAGE_THREAD, &ru1);
	pthread_mutex_lock(&u->lock);
	u->ticks++;
	u->cpu_ns += (uint64_t)((ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1000000000LL +
				(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1000LL +
				(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000000LL +
				(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1000LL);
	pthread_mutex_unlock(&u->lock);
	return r;
}

static void *sampler(void *arg)
{
	struct mgr *m = arg;
	struct mgr_usage *u = m->usage;
	pthread_mutex_lock(&u->lock);
	while (!u->stop) {
		pthread_mutex_unlock(&u->lock);
		struct vs_err e = VS_ERR_INIT;
		if (mgr_usage_tick(m, &e) < 0)
			vs_log(VS_LOG_WARN, "usage sampling: %s", e.msg);
		pthread_mutex_lock(&u->lock);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)u->opts.interval_ms * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		while (!u->stop && pthread_cond_timedwait(&u->cond, &u->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

static void usage_free(struct mgr_usage *u)
{
	for (size_t i = 0; i < u->ncache; i++)
		mgr_usage_fds_close(&u->cache[i].fds);
	free(u->cache);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u->last);
	free(u);
}

int mgr_usage_start(struct mgr *m, const struct mgr_usage_opts *opts, struct vs_err *err)
{
	if (m->usage)
		return vs_errf(err, EALREADY, "usage sampler already running");
	struct mgr_usage *u = calloc(1, sizeof(*u));
	if (!u)
		return vs_errf(err, ENOMEM, "out of memory");
	u->opts = *opts;
	if (!u->opts.interval_ms)
		u->opts.interval_ms = 10000;
	if (!u->opts.min_history_s)
		u->opts.min_history_s = 3600;
	if (!u->opts.idle_after_s)
		u->opts.idle_after_s = 86400;
	if (!u->opts.window_s)
		u->opts.window_s = 7 * 86400;
	u->maintained = -1;
	/* room for the cgroup descriptor cache (usage_sample.c keeps it above
	 * the numbers select() can see) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 &&
	    rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->usage = u;
	int rc = pthread_create(&u->thread, NULL, sampler, m);
	if (rc) {
		m->usage = NULL;
		usage_free(u);
		return vs_syserrf(err, rc, "start the usage sampler");
	}
	u->started = true;
	return 0;
}

void mgr_usage_stop(struct mgr *m)
{
	struct mgr_usage *u = m ? m->usage : NULL;
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (u->started)
		pthread_join(u->thread, NULL);
	m->usage = NULL;
	usage_free(u);
}

int mgr_usage_window_parse(const char *s, int64_t *seconds, struct vs_err *err)
{
	if (!s || !*s) {
		*seconds = 3600;
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || v <= 0 || errno)
		return vs_errf(err, EINVAL, "window %s: expected 1h, 1d, 30d, 1y or seconds", s);
	long long mul = 1;
	if (!strcmp(end, "s") || !*end)
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else if (!strcmp(end, "y"))
		mul = 365 * 86400LL;
	else
		return vs_errf(err, EINVAL, "window %s: expected 1h, 1d, 30d, 1y or seconds", s);
	if (v > 366LL * 86400 / mul + 1 || v * mul > 366LL * 86400)
		return vs_errf(err, ERANGE, "window %s: at most a year", s);
	*seconds = v * mul;
	return 0;
}

static struct json_object *limits_json(const struct mgr_instance *inst)
{
	struct json_object *l = json_object_new_object();
	double c = mgr_usage_limit_cpu(inst);
	uint64_t mem = mgr_usage_limit_memory(inst);
	json_object_object_add(l, "cpu", c > 0 ? json_object_new_double(c) : NULL);
	json_object_object_add(l, "memory", mem ? json_object_new_int64((int64_t)mem) : NULL);
	return l;
}

static struct json_object *jnum(double v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

int mgr_usage_json(struct mgr *m, const char *name, const char *window, struct json_object **out,
		   struct vs_err *err)
{
	*out = NULL;
	int64_t win;
	int r = mgr_usage_window_parse(window, &win, err);
	if (r < 0)
		return r;
	struct mgr_instance inst = { 0 };
	if ((r = mgr_instance_db_get(m->db, name, &inst, err)) < 0)
		return r;
	enum mgr_usage_res res;
	struct mgr_usage_row *rows = NULL;
	size_t n = 0;
	int64_t now = (int64_t)time(NULL);
	r = mgr_usage_db_window(m->db, inst.id, win, now, &res, &rows, &n, err);
	if (r < 0) {
		mgr_instance_free(&inst);
		return r;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(inst.name));
	json_object_object_add(o, "type",
			       json_object_new_string(mgr_instance_type_name(inst.type)));
	json_object_object_add(o, "limits", limits_json(&inst));
	unsigned interval = m->usage ? m->usage->opts.interval_ms : 10000;
	json_object_object_add(o, "resolution_s",
			       json_object_new_int64(res == MGR_USAGE_RAW
							 ? (int64_t)(interval + 999) / 1000
							 : (int64_t)res));
	json_object_object_add(o, "window_s", json_object_new_int64(win));
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "t", json_object_new_int64(rows[i].t));
		json_object_object_add(s, "cpu", jnum(rows[i].cpu));
		json_object_object_add(s, "memory",
				       json_object_new_int64((int64_t)llround(rows[i].memory)));
		json_object_object_add(s, "disk_read", jnum(rows[i].disk_read));
		json_object_object_add(s, "disk_write", jnum(rows[i].disk_write));
		json_object_object_add(s, "net_rx", jnum(rows[i].net_rx));
		json_object_object_add(s, "net_tx", jnum(rows[i].net_tx));
		if (res != MGR_USAGE_RAW) {
			json_object_object_add(s, "cpu_max", jnum(rows[i].cpu_max));
			json_object_object_add(s, "cpu_p95", jnum(rows[i].cpu_p95));
			json_object_object_add(
			    s, "memory_max",
			    json_object_new_int64((int64_t)llround(rows[i].memory_max)));
		}
		json_object_array_add(arr, s);
	}
	json_object_object_add(o, "samples", arr);
	/* the newest reading, for `vessel info` and `vessel top` */
	struct json_object *cur = NULL;
	if (m->usage) {
		pthread_mutex_lock(&m->usage->lock);
		struct usage_last *l = find_last(m->usage->last, m->usage->nlast, inst.id);
		if (l && l->have_row) {
			cur = json_object_new_object();
			json_object_object_add(cur, "t", json_object_new_int64(l->wall));
			json_object_object_add(cur, "cpu", jnum(l->row.cpu));
			json_object_object_add(cur, "memory",
					       json_object_new_int64((int64_t)l->s.memory_bytes));
			json_object_object_add(cur, "disk_read", jnum(l->row.disk_read));
			json_object_object_add(cur, "disk_write", jnum(l->row.disk_write));
			json_object_object_add(cur, "net_rx", jnum(l->row.net_rx));
			json_object_object_add(cur, "net_tx", jnum(l->row.net_tx));
			json_object_object_add(cur, "throttled", jnum(l->row.throttled));
			json_object_object_add(cur, "oom_kills",
					       json_object_new_int64((int64_t)l->s.oom_kills));
		}
		pthread_mutex_unlock(&m->usage->lock);
	}
	json_object_object_add(o, "current", cur);
	free(rows);
	mgr_instance_free(&inst);
	*out = o;
	return 0;
}
