/*
 * observe.c - bench/observe: what keeping usage history costs.
 *
 *  1. sampling: N (default 1,000) simulated instances, each a real cgroup
 *     (made here in every v1 hierarchy and the unified one, named
 *     vessel-bench-NNNN, removed at the end) read with the sampler's own
 *     function (mgr_usage_cgroup: the same files, the same parsing), plus
 *     the raw rows of one tick stored in one transaction; the CPU time of a
 *     round (getrusage) as a share of one core at the 10 s interval.
 *  2. storage: 100 instances with a full year of history (hourly rows for
 *     365 days, 5-minute rows for 30 days, raw 10 s rows for a day, as the
 *     store keeps them), then one maintenance pass; the database's size.
 *  3. advice: mgr_advice_json() for all 100 instances over that history
 *     (the default 7-day window: 5-minute rows plus a day of raw rows),
 *     and one instance's 1-year usage answer (hourly rows).
 *
 * Usage: observe STATE-DIR [INSTANCES]   (root, for the cgroups)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/usage.h"

static const char *const hier[] = { "cpu", "cpuacct", "memory", "blkio", "unified", "." };

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
	return (double)vs_now_ns() / 1e9;
}

static void cgroups(int n, bool make)
{
	char p[256];
	for (int i = 0; i < n; i++)
		for (size_t h = 0; h < sizeof(hier) / sizeof(hier[0]); h++) {
			snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/vessel-bench-%04d", hier[h], i);
			if (make)
				mkdir(p, 0755);
			else
				rmdir(p);
		}
}

static int sql(struct mgr *m, const char *q)
{
	struct vs_err e = VS_ERR_INIT;
	mgr_db_lock(mgr_get_db(m));
	int r = mgr_db_exec(mgr_get_db(m), q, &e);
	mgr_db_unlock(mgr_get_db(m));
	if (r < 0)
		fprintf(stderr, "observe: %s\n", e.msg);
	return r;
}

static void fill(struct mgr_usage_row *r, int64_t t, int i, unsigned *seed)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	double base = 0.2 + 0.1 * (i % 5);
	r->cpu = base * (0.5 + (double)(rand_r(seed) % 100) / 100.0);
	r->cpu_min = r->cpu * 0.5;
	r->cpu_max = r->cpu * 1.8;
	r->cpu_p95 = r->cpu * 1.5;
	r->memory = (100 + i % 50) * 1048576.0;
	r->memory_min = r->memory * 0.9;
	r->memory_max = r->memory * 1.1;
	r->memory_p95 = r->memory * 1.05;
	r->disk_read = rand_r(seed) % 4096;
	r->disk_write = rand_r(seed) % 65536;
	r->disk_ops = rand_r(seed) % 50;
	r->net_rx = rand_r(seed) % 100000;
	r->net_tx = rand_r(seed) % 100000;
	r->net_packets = rand_r(seed) % 200;
	r->count = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: observe STATE-DIR [INSTANCES]\n");
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 1000;
	if (n < 1 || n > 10000)
		return 2;
	struct vs_err err = VS_ERR_INIT;
	struct mgr *m;
	struct mgr_opts mo = { .state_dir = argv[1], .runtime_path = "/bin/true" };
	if (mgr_open(&mo, &m, &err) < 0) {
		fprintf(stderr, "observe: %s\n", err.msg);
		return 1;
	}
	struct mgr_db *db = mgr_get_db(m);
	/* 1. sampling cost (run.sh may have made the cgroups, for its peer) */
	bool own_cgroups = !getenv("OBSERVE_CGROUPS_EXIST");
	if (own_cgroups)
		cgroups(n, true);
	char q[256];
	sql(m, "BEGIN");
	for (int i = 0; i < n; i++) {
		snprintf(q, sizeof(q),
			 "INSERT INTO instances (name, type, runtime_id, power_state, created_at) "
			 "VALUES ('b%04d', 'container', 'vessel-bench-%04d', 'running', '')",
			 i, i);
		sql(m, q);
		snprintf(q, sizeof(q),
			 "INSERT INTO instance_config VALUES (%d, 'limits.cpu', '1'), "
			 "(%d, 'limits.memory', '256MiB'), (%d, 'user.project', 'bench')",
			 i + 1, i + 1, i + 1);
		sql(m, q);
	}
	sql(m, "COMMIT");
	int64_t *ids = calloc((size_t)n, sizeof(*ids));
	struct mgr_usage_row *rows = calloc((size_t)n, sizeof(*rows));
	for (int i = 0; i < n; i++)
		ids[i] = i + 1;
	/* the sampler keeps each cgroup's files open (pread); also the cost
	 * without that cache (open/read/close, as on the first round) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 &&
	    rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct mgr_usage_fds *fds = calloc((size_t)n, sizeof(*fds));
	for (int i = 0; i < n; i++)
		mgr_usage_fds_init(&fds[i]);
	const int rounds = 10;
	for (int cached = 0; cached < 2; cached++) {
		double read_cpu = 0, store_cpu = 0, list_cpu = 0, w0 = wall_s();
		int ok = 0;
		for (int r = -cached; r < rounds; r++) { /* cached: one warm-up round */
			/* the tick lists the instances (with their config) first */
			double l0 = cpu_s();
			struct mgr_instance *list = NULL;
			size_t nlist = 0;
			if (mgr_instance_db_list(db, &list, &nlist, &err) == 0)
				mgr_instance_list_free(list, nlist);
			double c0 = cpu_s();
			if (r >= 0)
				list_cpu += c0 - l0;
			for (int i = 0; i < n; i++) {
				char cg[64];
				snprintf(cg, sizeof(cg), "vessel-bench-%04d", i);
				struct mgr_usage_sample s;
				struct vs_err e = VS_ERR_INIT;
				if (mgr_usage_cgroup_cached(cg, NULL, 0, cached ? &fds[i] : NULL,
							    &s, &e) == 0)
					ok += r >= 0;
				rows[i].t = 1000 + (r + cached * 100) * 10;
				rows[i].cpu = (double)s.cpu_ns;
				rows[i].memory = (double)s.memory_bytes;
				rows[i].count = 1;
			}
			double c1 = cpu_s();
			if (mgr_usage_db_put_many(db, MGR_USAGE_RAW, ids, rows, (size_t)n, &err) <
			    0)
				fprintf(stderr, "observe: %s\n", err.msg);
			double c2 = cpu_s();
			if (r < 0) {
				w0 = wall_s();
				continue;
			}
			read_cpu += c1 - c0;
			store_cpu += c2 - c1;
		}
		double per = (list_cpu + read_cpu + store_cpu) / rounds;
		if (cached)
			printf("ROUND_CPU_MS %.3f\n", per * 1e3);
		printf("sampling %d instances (real cgroups, %s, %d/%d reads ok): %.1f ms CPU per "
		       "round (list %.1f ms, read %.1f ms, store %.1f ms), wall %.1f ms; at a 10 s "
		       "interval %.3f%% of one core\n",
		       n, cached ? "files kept open as the sampler does" : "open/read/close", ok,
		       n * rounds, per * 1e3, list_cpu / rounds * 1e3, read_cpu / rounds * 1e3,
		       store_cpu / rounds * 1e3, (wall_s() - w0) / rounds * 1e3, per / 10.0 * 100);
	}
	for (int i = 0; i < n; i++)
		mgr_usage_fds_close(&fds[i]);
	free(fds);
	if (own_cgroups)
		cgroups(n, false);
	sql(m, "DELETE FROM instances");

	/* 2. a simulated year for 100 instances */
	const int ni = 100;
	int64_t now = (int64_t)time(NULL) / 3600 * 3600;
	sql(m, "BEGIN");
	for (int i = 0; i < ni; i++) {
		snprintf(
		    q, sizeof(q),
		    "INSERT INTO instances (id, name, type, runtime_id, power_state, created_at) "
		    "VALUES (%d, 'y%03d', 'container', 'vessel-year-%03d', 'running', '')",
		    100000 + i, i, i);
		sql(m, q);
		snprintf(q, sizeof(q),
			 "INSERT INTO instance_config VALUES (%d, 'limits.cpu', '2'), "
			 "(%d, 'limits.memory', '1GiB')",
			 100000 + i, 100000 + i);
		sql(m, q);
	}
	sql(m, "COMMIT");
	double t0 = wall_s();
	unsigned seed = 1;
	size_t per_inst = 365 * 24 + 30 * 288 + 8640, total = 0;
	struct mgr_usage_row *yr = calloc(per_inst, sizeof(*yr));
	int64_t *yid = calloc(per_inst, sizeof(*yid));
	for (int i = 0; i < ni; i++) {
		size_t k = 0;
		for (int64_t t = now - 365 * 86400; t < now; t += 3600, k++)
			fill(&yr[k], t, i, &seed), yid[k] = 100000 + i;
		mgr_usage_db_put_many(db, MGR_USAGE_HOUR, yid, yr, k, &err);
		total += k;
		k = 0;
		for (int64_t t = now - 30 * 86400; t < now; t += 300, k++)
			fill(&yr[k], t, i, &seed), yid[k] = 100000 + i;
		mgr_usage_db_put_many(db, MGR_USAGE_5MIN, yid, yr, k, &err);
		total += k;
		k = 0;
		for (int64_t t = now - 86400; t < now; t += 10, k++)
			fill(&yr[k], t, i, &seed), yid[k] = 100000 + i;
		mgr_usage_db_put_many(db, MGR_USAGE_RAW, yid, yr, k, &err);
		total += k;
	}
	double t1 = wall_s();
	if (mgr_usage_db_maintain(db, now + 5, &err) < 0)
		fprintf(stderr, "observe: %s\n", err.msg);
	double t2 = wall_s();
	sql(m, "PRAGMA wal_checkpoint(TRUNCATE)");
	char path[512];
	snprintf(path, sizeof(path), "%s/vessel.db", argv[1]);
	struct stat st;
	stat(path, &st);
	printf("a simulated year for %d instances: %zu rows (%.0f per instance), written in "
	       "%.1f s; maintenance pass %.0f ms; database %.1f MiB (%.0f bytes per row)\n",
	       ni, total, (double)total / ni, t1 - t0, (t2 - t1) * 1e3,
	       (double)st.st_size / 1048576, (double)st.st_size / (double)total);

	/* 3. advice over that history */
	double best = 1e9;
	size_t nadv = 0;
	for (int r = 0; r < 3; r++) {
		struct json_object *adv = NULL;
		double a0 = wall_s();
		if (mgr_advice_json(m, NULL, &adv, &err) < 0)
			fprintf(stderr, "observe: %s\n", err.msg);
		best = fmin(best, wall_s() - a0);
		nadv = adv ? json_object_array_length(adv) : 0;
		json_object_put(adv);
	}
	double ubest = 1e9;
	for (int r = 0; r < 3; r++) {
		struct json_object *u = NULL;
		double a0 = wall_s();
		mgr_usage_json(m, "y000", "1y", &u, &err);
		ubest = fmin(ubest, wall_s() - a0);
		json_object_put(u);
	}
	printf("advice for %d instances over 7 days of that history: %.0f ms (%zu items); one "
	       "instance's 1y usage (hourly rows): %.1f ms\n",
	       ni, best * 1e3, nadv, ubest * 1e3);
	free(ids);
	free(rows);
	free(yr);
	free(yid);
	mgr_close(m);
	return 0;
}
