/*
 * usage_advice.c - right-sizing advice from the usage history
 * (GET /1.0/advice, POST /1.0/instances/NAME/advice/apply, `vessel advise`).
 *
 * For each instance with at least opts.min_history_s of history inside the
 * window (opts.window_s, default 7 days; raw rows up to a day, 5-minute
 * aggregates beyond), from the rows' CPU p95 and maximum, memory peak, the
 * throttled share of time, memory pressure (PSI), OOM kills and a VM guest's
 * available memory:
 *
 *   limits.cpu  starved   throttled >= 10% of the time, or p95 >= 90% of the
 *                         limit: max(limit + 1, ceil(1.25 x p95)), at most
 *                         the host's CPUs
 *               over      p95 <= 50% of the limit: max(1, ceil(1.25 x p95))
 *                         when that is below the limit
 *   limits.memory starved an OOM kill, pressure >= 5% of the time, the peak
 *                         >= 95% of the limit, or a VM guest with < 10% of
 *                         its memory available: max(2 x limit, 1.5 x peak)
 *                         rounded up to 16 MiB, at most the host's RAM
 *               over      peak <= 50% of the limit: max(32 MiB, 1.3 x peak
 *                         rounded up to 16 MiB) when below the limit
 *   idle          over the last opts.idle_after_s: CPU p95 < 0.01 cores,
 *                 disk < 4 KiB/s and network < 1 KiB/s on average
 *
 * limits.cpu is a whole CPU count (instance.c), so 25% headroom over a
 * 1.0-core p95 rounds to 2: a job that saturates one core is not advised
 * below 2 CPUs.  Each item carries its evidence and its impact in plain
 * numbers (CPUs and bytes freed or the risk it addresses) and a `data`
 * object with the figures behind them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "usage_internal.h"
#include "vessel/core/util.h"

#define MIB (1024.0 * 1024.0)

struct stats {
	size_t n;
	int64_t span_s;
	double cpu_p95, cpu_max, cpu_avg;
	double mem_peak, mem_p95;
	double throttled, pressure, oom;
	double guest_avail_min, guest_total;
	double disk, net;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct95(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t rank = (size_t)ceil(0.95 * (double)n);
	return v[rank ? rank - 1 : 0];
}

/* Statistics of rows [from, n) that start at or after t0. */
static int stats_of(const struct mgr_usage_row *r, size_t n, int64_t t0, int64_t step,
		    struct stats *s)
{
	memset(s, 0, sizeof(*s));
	double *cpu = malloc((n ? n : 1) * sizeof(double));
	double *mem = malloc((n ? n : 1) * sizeof(double));
	if (!cpu || !mem) {
		free(cpu);
		free(mem);
		return -ENOMEM;
	}
	int64_t first = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].t < t0)
			continue;
		if (!s->n)
			first = r[i].t;
		last = r[i].t;
		cpu[s->n] = r[i].cpu_p95;
		mem[s->n] = r[i].memory_p95;
		s->n++;
		s->cpu_max = fmax(s->cpu_max, r[i].cpu_max);
		s->cpu_avg += r[i].cpu;
		s->mem_peak = fmax(s->mem_peak, r[i].memory_max);
		s->throttled += r[i].throttled;
		s->pressure += r[i].pressure;
		s->oom += r[i].oom_kills;
		s->disk += r[i].disk_read + r[i].disk_write;
		s->net += r[i].net_rx + r[i].net_tx;
		if (r[i].guest_available > 0 &&
		    (s->guest_avail_min == 0 || r[i].guest_available < s->guest_avail_min)) {
			s->guest_avail_min = r[i].guest_available;
			s->guest_total = r[i].guest_total;
		}
	}
	if (s->n) {
		s->cpu_avg /= (double)s->n;
		s->throttled /= (double)s->n;
		s->pressure /= (double)s->n;
		s->disk /= (double)s->n;
		s->net /= (double)s->n;
		s->span_s = last - first + step;
	}
	s->cpu_p95 = pct95(cpu, s->n);
	s->mem_p95 = pct95(mem, s->n);
	free(cpu);
	free(mem);
	return 0;
}

static const char *dur(int64_t s, char *buf, size_t len)
{
	if (s >= 2 * 86400)
		snprintf(buf, len, "%.1f days", (double)s / 86400);
	else if (s >= 2 * 3600)
		snprintf(buf, len, "%.1f hours", (double)s / 3600);
	else if (s >= 120)
		snprintf(buf, len, "%.0f minutes", (double)s / 60);
	else
		snprintf(buf, len, "%lld s", (long long)s);
	return buf;
}

static const char *mib(double bytes, char *buf, size_t len)
{
	snprintf(buf, len, "%.0f MiB", bytes / MIB);
	return buf;
}

static struct json_object *data_json(const struct stats *s, int64_t window)
{
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "window_s", json_object_new_int64(window));
	json_object_object_add(d, "history_s", json_object_new_int64(s->span_s));
	json_object_object_add(d, "samples", json_object_new_int64((int64_t)s->n));
#define ADD(k, v) json_object_object_add(d, k, json_object_new_double(round((v)*1000) / 1000))
	ADD("cpu_p95", s->cpu_p95);
	ADD("cpu_max", s->cpu_max);
	ADD("cpu_avg", s->cpu_avg);
	ADD("memory_peak", s->mem_peak);
	ADD("memory_p95", s->mem_p95);
	ADD("throttled_share", s->throttled);
	ADD("memory_pressure_share", s->pressure);
	ADD("disk_bytes_per_s", s->disk);
	ADD("net_bytes_per_s", s->net);
#undef ADD
	json_object_object_add(d, "oom_kills", json_object_new_int64((int64_t)s->oom));
	if (s->guest_total > 0) {
		json_object_object_add(d, "guest_available_min",
				       json_object_new_int64((int64_t)s->guest_avail_min));
		json_object_object_add(d, "guest_total",
				       json_object_new_int64((int64_t)s->guest_total));
	}
	return d;
}

static void add_item(struct json_object *arr, const char *name, const char *kind, const char *key,
		     const char *current, const char *recommended, const char *evidence,
		     const char *impact, struct json_object *data)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "instance", json_object_new_string(name));
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "key", key ? json_object_new_string(key) : NULL);
	json_object_object_add(o, "current", current ? json_object_new_string(current) : NULL);
	json_object_object_add(o, "recommended",
			       recommended ? json_object_new_string(recommended) : NULL);
	json_object_object_add(o, "evidence", json_object_new_string(evidence));
	json_object_object_add(o, "impact", json_object_new_string(impact));
	json_object_object_add(o, "data", data);
	json_object_array_add(arr, o);
}

static uint64_t round_up(double v, double unit)
{
	return (uint64_t)(ceil(v / unit) * unit);
}

static uint64_t host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

/* Advice for one instance into arr. */
static int advise_one(struct mgr *m, const struct mgr_instance *inst,
		      const struct mgr_usage_opts *o, int64_t now, struct json_object *arr,
		      struct vs_err *err)
{
	/* 5-minute rows for the window's older part (beyond a day), raw rows
	 * after the newest 5-minute bucket */
	struct mgr_usage_row *rows = NULL, *raw = NULL;
	size_t n = 0, nraw = 0;
	int64_t since = now - (int64_t)o->window_s;
	int r = 0;
	if (o->window_s > 86400)
		r = mgr_usage_db_rows(m->db, inst->id, MGR_USAGE_5MIN, since, &rows, &n, err);
	if (r < 0)
		return r;
	int64_t raw_since = n ? rows[n - 1].t + MGR_USAGE_5MIN : since;
	if ((r = mgr_usage_db_rows(m->db, inst->id, MGR_USAGE_RAW, raw_since, &raw, &nraw, err)) <
	    0) {
		free(rows);
		return r;
	}
	if (nraw) {
		struct mgr_usage_row *all = realloc(rows, (n + nraw) * sizeof(*rows));
		if (!all) {
			free(rows);
			free(raw);
			return vs_errf(err, ENOMEM, "out of memory");
		}
		memcpy(all + n, raw, nraw * sizeof(*raw));
		rows = all;
		n += nraw;
	}
	free(raw);
	int64_t step = nraw ? (int64_t)(o->interval_ms + 999) / 1000 : MGR_USAGE_5MIN;
	struct stats s;
	if (stats_of(rows, n, 0, step, &s) < 0) {
		free(rows);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	char ev[512], imp[512], cur[32], rec[32], d1[32], b1[32], b2[32], b3[32];
	if (s.n < 2 || s.span_s < (int64_t)o->min_history_s) {
		free(rows);
		return 0; /* not enough history to say anything */
	}
	const char *name = inst->name;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double lc = mgr_usage_limit_cpu(inst);
	if (lc > 0 && !strpbrk(mgr_instance_config_get(inst, "limits.cpu"), "-,")) {
		long l = (long)lc;
		if (s.throttled >= 0.10 || s.cpu_p95 >= 0.9 * lc) {
			long want = (long)fmax((double)l + 1, ceil(1.25 * s.cpu_p95));
			if (want > ncpu)
				want = ncpu;
			if (want > l) {
				snprintf(cur, sizeof(cur), "%ld", l);
				snprintf(rec, sizeof(rec), "%ld", want);
				snprintf(ev, sizeof(ev),
					 "over %s: CPU p95 %.2f of %ld cores (max %.2f), "
					 "throttled %.0f%% of the time",
					 dur(s.span_s, d1, sizeof(d1)), s.cpu_p95, l, s.cpu_max,
					 100 * s.throttled);
				snprintf(imp, sizeof(imp),
					 "risk: the quota holds it back %.0f%% of the time; +%ld "
					 "CPU%s",
					 100 * s.throttled, want - l, want - l > 1 ? "s" : "");
				add_item(arr, name, "starved", "limits.cpu", cur, rec, ev, imp,
					 data_json(&s, o->window_s));
			}
		} else if (s.cpu_p95 <= 0.5 * lc) {
			long want = (long)fmax(1, ceil(1.25 * s.cpu_p95));
			if (want < l) {
				snprintf(cur, sizeof(cur), "%ld", l);
				snprintf(rec, sizeof(rec), "%ld", want);
				snprintf(ev, sizeof(ev),
					 "over %s: CPU p95 %.2f of %ld cores (max %.2f, avg %.2f)",
					 dur(s.span_s, d1, sizeof(d1)), s.cpu_p95, l, s.cpu_max,
					 s.cpu_avg);
				snprintf(imp, sizeof(imp),
					 "saves %ld CPU%s (%.0f%% of the host's %ld)", l - want,
					 l - want > 1 ? "s" : "",
					 100.0 * (double)(l - want) / (double)ncpu, ncpu);
				add_item(arr, name, "over-provisioned", "limits.cpu", cur, rec, ev,
					 imp, data_json(&s, o->window_s));
			}
		}
	}
	uint64_t lm = mgr_usage_limit_memory(inst);
	bool guest_short = s.guest_total > 0 && s.guest_avail_min < 0.10 * s.guest_total;
	if (lm > 0) {
		double l = (double)lm;
		uint64_t ram = host_ram();
		if (s.oom > 0 || s.pressure >= 0.05 || s.mem_peak >= 0.95 * l || guest_short) {
			uint64_t want = round_up(fmax(2 * l, 1.5 * s.mem_peak), 16 * MIB);
			if (ram && want > ram)
				want = ram / (uint64_t)MIB * (uint64_t)MIB;
			if (want > lm) {
				snprintf(cur, sizeof(cur), "%lluMiB",
					 (unsigned long long)(lm / (uint64_t)MIB));
				snprintf(rec, sizeof(rec), "%lluMiB",
					 (unsigned long long)(want / (uint64_t)MIB));
				int k = snprintf(ev, sizeof(ev), "over %s: peak %s of %s",
						 dur(s.span_s, d1, sizeof(d1)),
						 mib(s.mem_peak, b1, sizeof(b1)),
						 mib(l, b2, sizeof(b2)));
				k += snprintf(
				    ev + k, sizeof(ev) - (size_t)k,
				    ", %.0f OOM kill%s, memory pressure %.1f%% of the time", s.oom,
				    s.oom == 1 ? "" : "s", 100 * s.pressure);
				if (guest_short)
					snprintf(ev + k, sizeof(ev) - (size_t)k,
						 ", guest had only %s available of %s",
						 mib(s.guest_avail_min, b1, sizeof(b1)),
						 mib(s.guest_total, b2, sizeof(b2)));
				snprintf(imp, sizeof(imp), "risk: %s; +%s",
					 s.oom > 0 ? "processes were killed for lack of memory"
					 : guest_short
					     ? "the guest runs with almost no memory to spare"
					     : "it stalls waiting for memory",
					 mib((double)(want - lm), b1, sizeof(b1)));
				add_item(arr, name, "starved", "limits.memory", cur, rec, ev, imp,
					 data_json(&s, o->window_s));
			}
		} else if (s.mem_peak <= 0.5 * l) {
			uint64_t want =
			    (uint64_t)fmax(32 * MIB, (double)round_up(1.3 * s.mem_peak, 16 * MIB));
			if (want < lm) {
				snprintf(cur, sizeof(cur), "%lluMiB",
					 (unsigned long long)(lm / (uint64_t)MIB));
				snprintf(rec, sizeof(rec), "%lluMiB",
					 (unsigned long long)(want / (uint64_t)MIB));
				snprintf(ev, sizeof(ev), "over %s: memory peak %s, p95 %s of %s",
					 dur(s.span_s, d1, sizeof(d1)),
					 mib(s.mem_peak, b1, sizeof(b1)),
					 mib(s.mem_p95, b2, sizeof(b2)), mib(l, b3, sizeof(b3)));
				snprintf(imp, sizeof(imp), "saves %s (%.1f%% of the host's RAM)",
					 mib((double)(lm - want), b1, sizeof(b1)),
					 ram ? 100.0 * (double)(lm - want) / (double)ram : 0.0);
				add_item(arr, name, "over-provisioned", "limits.memory", cur, rec,
					 ev, imp, data_json(&s, o->window_s));
			}
		}
	}
	/* idle: nothing meaningful happened over the last idle_after_s */
	struct stats is;
	if (s.span_s >= (int64_t)o->idle_after_s &&
	    stats_of(rows, n, now - (int64_t)o->idle_after_s, step, &is) == 0 && is.n >= 2 &&
	    is.cpu_p95 < 0.01 && is.disk < 4096 && is.net < 1024) {
		snprintf(ev, sizeof(ev),
			 "over %s: CPU p95 %.3f cores, disk %.0f B/s, network %.0f B/s",
			 dur(is.span_s, d1, sizeof(d1)), is.cpu_p95, is.disk, is.net);
		snprintf(imp, sizeof(imp),
			 "holds %s of memory%s%s while doing nothing; stop or delete it",
			 mib(s.mem_peak, b1, sizeof(b1)), lc > 0 ? " and a CPU quota of " : "",
			 lc > 0 ? mgr_instance_config_get(inst, "limits.cpu") : "");
		add_item(arr, name, "idle", NULL, NULL, NULL, ev, imp,
			 data_json(&is, o->idle_after_s));
	}
	free(rows);
	return 0;
}

static void opts_of(struct mgr *m, struct mgr_usage_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (m->usage)
		*o = m->usage->opts;
	if (!o->interval_ms)
		o->interval_ms = 10000;
	if (!o->min_history_s)
		o->min_history_s = 3600;
	if (!o->idle_after_s)
		o->idle_after_s = 86400;
	if (!o->window_s)
		o->window_s = 7 * 86400;
}

int mgr_advice_json(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_usage_opts o;
	opts_of(m, &o);
	int64_t now = (int64_t)time(NULL);
	struct json_object *arr = json_object_new_array();
	int r = 0;
	if (name) {
		struct mgr_instance inst = { 0 };
		r = mgr_instance_db_get(m->db, name, &inst, err);
		if (r == 0 && inst.power != MGR_POWER_STOPPED)
			r = advise_one(m, &inst, &o, now, arr, err);
		mgr_instance_free(&inst);
	} else {
		struct mgr_instance *list = NULL;
		size_t n = 0;
		r = mgr_instance_db_list(m->db, &list, &n, err);
		for (size_t i = 0; i < n && r == 0; i++)
			if (list[i].power != MGR_POWER_STOPPED)
				r = advise_one(m, &list[i], &o, now, arr, err);
		mgr_instance_list_free(list, n);
	}
	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	*out = arr;
	return 0;
}

int mgr_advice_apply(struct mgr *m, const char *name, struct json_object **applied,
		     struct vs_err *err)
{
	*applied = NULL;
	struct json_object *adv = NULL;
	int r = mgr_advice_json(m, name, &adv, err);
	if (r < 0)
		return r;
	struct mgr_config_entry set[2];
	size_t nset = 0;
	struct json_object *done = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(adv) && nset < 2; i++) {
		struct json_object *a = json_object_array_get_idx(adv, i), *k, *v;
		if (!json_object_object_get_ex(a, "key", &k) || !k ||
		    !json_object_object_get_ex(a, "recommended", &v) || !v)
			continue;
		set[nset].key = (char *)json_object_get_string(k);
		set[nset].value = (char *)json_object_get_string(v);
		nset++;
		json_object_array_add(done, json_object_get(a));
	}
	if (nset)
		r = mgr_instance_update_config(m, name, set, nset, false, err);
	json_object_put(adv);
	if (r < 0) {
		json_object_put(done);
		return r;
	}
	*applied = done;
	return 0;
}
