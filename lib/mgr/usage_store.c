/*
 * usage_store.c - the usage history in the database, in the spirit of RRD.
 *
 * One table, instance_usage (instance_id, resolution, t) WITHOUT ROWID:
 *   resolution 0     raw rows, one per sample (kept 1 day)
 *   resolution 300   5-minute aggregates of the raw rows (kept 30 days)
 *   resolution 3600  hourly aggregates of the 5-minute rows (kept 1 year)
 * so an instance holds at most 8,640 + 8,640 + 8,760 rows at a 10 s
 * interval, whatever its age.  Raw rows store their single value in the
 * avg columns and NULL in min/max/p95 (read back as the avg).
 *
 * Aggregation is idempotent and restart-safe: a bucket is aggregated once
 * it is complete (its end is at or before `now`) and has no row at the
 * coarser resolution yet; the newest aggregated bucket is the database's
 * MAX(t), nothing is kept in memory.  Aggregates: avg weighted by the
 * number of raw samples, min of mins, max of maxes, p95 the nearest-rank
 * 95th percentile of the finer rows' values (of their p95s for hourly rows,
 * an upper estimate of the true p95), OOM kills summed, the guest's
 * available memory its minimum.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/mgr/usage.h"

#define RAW_KEEP_S  86400
#define MIN5_KEEP_S (30 * 86400)
#define HOUR_KEEP_S (365 * 86400)

static const char row_cols[] =
    "t, cpu, cpu_min, cpu_max, cpu_p95, memory, memory_min, memory_max, memory_p95, "
    "disk_read, disk_write, disk_ops, net_rx, net_tx, net_packets, throttled, pressure, "
    "oom_kills, guest_available, guest_total, count";

static struct mgr_stmt *put_prepare(struct mgr_db *db, struct vs_err *err)
{
	char sql[640];
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO instance_usage (instance_id, resolution, %s) VALUES "
		 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		 row_cols);
	return mgr_db_prepare(db, sql, err);
}

/* Bind and run the prepared INSERT (put_prepare) for one row. */
static int put_locked(struct mgr_db *db, struct mgr_stmt *st, int64_t id, enum mgr_usage_res res,
		      const struct mgr_usage_row *r, struct vs_err *err)
{
	mgr_stmt_reset(st);
	int k = 1;
	mgr_stmt_bind_int64(st, k++, id);
	mgr_stmt_bind_int(st, k++, (int)res);
	mgr_stmt_bind_int64(st, k++, r->t);
	const double agg[] = { r->cpu_min, r->cpu_max, r->cpu_p95 };
	const double magg[] = { r->memory_min, r->memory_max, r->memory_p95 };
	mgr_stmt_bind_double(st, k++, r->cpu);
	for (int i = 0; i < 3; i++, k++)
		if (res == MGR_USAGE_RAW)
			mgr_stmt_bind_null(st, k);
		else
			mgr_stmt_bind_double(st, k, agg[i]);
	mgr_stmt_bind_int64(st, k++, (int64_t)llround(r->memory));
	for (int i = 0; i < 3; i++, k++)
		if (res == MGR_USAGE_RAW)
			mgr_stmt_bind_null(st, k);
		else
			mgr_stmt_bind_int64(st, k, (int64_t)llround(magg[i]));
	const double rest[] = { r->disk_read,	r->disk_write, r->disk_ops, r->net_rx,	 r->net_tx,
				r->net_packets, r->throttled,  r->pressure, r->oom_kills };
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		mgr_stmt_bind_double(st, k++, rest[i]);
	mgr_stmt_bind_int64(st, k++, (int64_t)llround(r->guest_available));
	mgr_stmt_bind_int64(st, k++, (int64_t)llround(r->guest_total));
	mgr_stmt_bind_int64(st, k++, r->count);
	int rc = mgr_stmt_step(st);
	mgr_stmt_reset(st);
	if (rc != SQLITE_DONE)
		return mgr_db_err(db, rc, "store usage", err);
	return 0;
}

int mgr_usage_db_put(struct mgr_db *db, int64_t id, enum mgr_usage_res res,
		     const struct mgr_usage_row *row, struct vs_err *err)
{
	mgr_db_lock(db);
	struct mgr_stmt *st = put_prepare(db, err);
	int r = st ? put_locked(db, st, id, res, row, err) : -err->code;
	mgr_stmt_finalize(st);
	mgr_db_unlock(db);
	return r;
}

int mgr_usage_db_put_many(struct mgr_db *db, enum mgr_usage_res res, const int64_t *ids,
			  const struct mgr_usage_row *rows, size_t n, struct vs_err *err)
{
	mgr_db_lock(db);
	int r = mgr_db_begin(db, err);
	struct mgr_stmt *st = r == 0 ? put_prepare(db, err) : NULL;
	if (r == 0 && !st)
		r = -err->code;
	for (size_t i = 0; i < n && r == 0; i++)
		r = put_locked(db, st, ids[i], res, &rows[i], err);
	mgr_stmt_finalize(st);
	if (r == 0)
		r = mgr_db_commit(db, err);
	else
		mgr_db_rollback(db);
	mgr_db_unlock(db);
	return r;
}

static void row_read(struct mgr_stmt *st, struct mgr_usage_row *r)
{
	int k = 0;
	r->t = mgr_stmt_column_int64(st, k++);
	r->cpu = mgr_stmt_column_double(st, k++);
	double *agg[] = { &r->cpu_min, &r->cpu_max, &r->cpu_p95 };
	for (int i = 0; i < 3; i++, k++)
		*agg[i] = mgr_stmt_column_type(st, k) == SQLITE_NULL
			      ? r->cpu
			      : mgr_stmt_column_double(st, k);
	r->memory = mgr_stmt_column_double(st, k++);
	double *magg[] = { &r->memory_min, &r->memory_max, &r->memory_p95 };
	for (int i = 0; i < 3; i++, k++)
		*magg[i] = mgr_stmt_column_type(st, k) == SQLITE_NULL
			       ? r->memory
			       : mgr_stmt_column_double(st, k);
	double *rest[] = { &r->disk_read, &r->disk_write,      &r->disk_ops,   &r->net_rx,
			   &r->net_tx,	  &r->net_packets,     &r->throttled,  &r->pressure,
			   &r->oom_kills, &r->guest_available, &r->guest_total };
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		*rest[i] = mgr_stmt_column_double(st, k++);
	r->count = mgr_stmt_column_int64(st, k++);
}

static int rows_locked(struct mgr_db *db, int64_t id, enum mgr_usage_res res, int64_t since,
		       int64_t until, struct mgr_usage_row **rows, size_t *n, struct vs_err *err)
{
	*rows = NULL;
	*n = 0;
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM instance_usage WHERE instance_id = ? AND resolution = ? "
		 "AND t >= ? AND t < ? ORDER BY t",
		 row_cols);
	mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(db, sql, err);
	if (!st)
		return -err->code;
	mgr_stmt_bind_int64(st, 1, id);
	mgr_stmt_bind_int(st, 2, (int)res);
	mgr_stmt_bind_int64(st, 3, since);
	mgr_stmt_bind_int64(st, 4, until);
	size_t cap = 0;
	int rc;
	while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			struct mgr_usage_row *nr = realloc(*rows, cap * sizeof(**rows));
			if (!nr) {
				free(*rows);
				*rows = NULL;
				*n = 0;
				return vs_errf(err, ENOMEM, "out of memory");
			}
			*rows = nr;
		}
		row_read(st, &(*rows)[(*n)++]);
	}
	if (rc != SQLITE_DONE) {
		free(*rows);
		*rows = NULL;
		*n = 0;
		return mgr_db_err(db, rc, "read usage", err);
	}
	return 0;
}

int mgr_usage_db_rows(struct mgr_db *db, int64_t id, enum mgr_usage_res res, int64_t since,
		      struct mgr_usage_row **rows, size_t *n, struct vs_err *err)
{
	mgr_db_lock(db);
	int r = rows_locked(db, id, res, since, INT64_MAX, rows, n, err);
	mgr_db_unlock(db);
	return r;
}

int mgr_usage_db_window(struct mgr_db *db, int64_t id, int64_t window_s, int64_t now,
			enum mgr_usage_res *res, struct mgr_usage_row **rows, size_t *n,
			struct vs_err *err)
{
	*res = window_s <= RAW_KEEP_S	 ? MGR_USAGE_RAW
	       : window_s <= MIN5_KEEP_S ? MGR_USAGE_5MIN
					 : MGR_USAGE_HOUR;
	return mgr_usage_db_rows(db, id, *res, now - window_s, rows, n, err);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank 95th percentile of v[0..n) (sorts v). */
static double p95(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t rank = (size_t)ceil(0.95 * (double)n);
	return v[rank ? rank - 1 : 0];
}

/* One aggregate of rows r[0..n) (all in one bucket starting at t). */
static void aggregate(const struct mgr_usage_row *r, size_t n, int64_t t, double *scratch,
		      struct mgr_usage_row *out)
{
	memset(out, 0, sizeof(*out));
	out->t = t;
	out->cpu_min = out->memory_min = INFINITY;
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double c = r[i].count > 0 ? (double)r[i].count : 1;
		w += c;
		out->count += r[i].count > 0 ? r[i].count : 1;
		out->cpu += r[i].cpu * c;
		out->memory += r[i].memory * c;
		out->disk_read += r[i].disk_read * c;
		out->disk_write += r[i].disk_write * c;
		out->disk_ops += r[i].disk_ops * c;
		out->net_rx += r[i].net_rx * c;
		out->net_tx += r[i].net_tx * c;
		out->net_packets += r[i].net_packets * c;
		out->throttled += r[i].throttled * c;
		out->pressure += r[i].pressure * c;
		out->oom_kills += r[i].oom_kills;
		out->cpu_min = fmin(out->cpu_min, r[i].cpu_min);
		out->cpu_max = fmax(out->cpu_max, r[i].cpu_max);
		out->memory_min = fmin(out->memory_min, r[i].memory_min);
		out->memory_max = fmax(out->memory_max, r[i].memory_max);
		if (r[i].guest_available > 0 &&
		    (out->guest_available == 0 || r[i].guest_available < out->guest_available))
			out->guest_available = r[i].guest_available;
		out->guest_total = fmax(out->guest_total, r[i].guest_total);
	}
	double *avgs[] = { &out->cpu,	    &out->memory,  &out->disk_read, &out->disk_write,
			   &out->disk_ops,  &out->net_rx,  &out->net_tx,    &out->net_packets,
			   &out->throttled, &out->pressure };
	for (size_t i = 0; i < sizeof(avgs) / sizeof(avgs[0]); i++)
		*avgs[i] = w > 0 ? *avgs[i] / w : 0;
	for (size_t i = 0; i < n; i++)
		scratch[i] = r[i].cpu_p95;
	out->cpu_p95 = p95(scratch, n);
	for (size_t i = 0; i < n; i++)
		scratch[i] = r[i].memory_p95;
	out->memory_p95 = p95(scratch, n);
	if (n == 0)
		out->cpu_min = out->memory_min = 0;
}

/* Aggregate instance id's finished buckets of `dst` from `src` rows. */
static int rollup_locked(struct mgr_db *db, struct mgr_stmt *put, int64_t id,
			 enum mgr_usage_res src, enum mgr_usage_res dst, int64_t now,
			 struct vs_err *err)
{
	int64_t last = -1;
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "SELECT MAX(t) FROM instance_usage WHERE instance_id = ? AND resolution = ?",
		    err);
		if (!st)
			return -err->code;
		mgr_stmt_bind_int64(st, 1, id);
		mgr_stmt_bind_int(st, 2, (int)dst);
		if (mgr_stmt_step(st) == SQLITE_ROW && mgr_stmt_column_type(st, 0) != SQLITE_NULL)
			last = mgr_stmt_column_int64(st, 0);
	}
	int64_t end = now / dst * dst; /* buckets before this one are complete */
	int64_t since = last >= 0 ? last + dst : 0;
	if (since >= end)
		return 0;
	struct mgr_usage_row *rows = NULL;
	size_t n = 0;
	int r = rows_locked(db, id, src, since, end, &rows, &n, err);
	if (r < 0)
		return r;
	double *scratch = n ? malloc(n * sizeof(double)) : NULL;
	if (n && !scratch) {
		free(rows);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && r == 0;) {
		int64_t b = rows[i].t / dst * dst;
		size_t j = i;
		while (j < n && rows[j].t / dst * dst == b)
			j++;
		struct mgr_usage_row agg;
		aggregate(rows + i, j - i, b, scratch, &agg);
		r = put_locked(db, put, id, dst, &agg, err);
		i = j;
	}
	free(scratch);
	free(rows);
	return r;
}

static int expire_locked(struct mgr_db *db, int64_t id, int64_t now, struct vs_err *err)
{
	mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
	    db, "DELETE FROM instance_usage WHERE instance_id = ? AND resolution = ? AND t < ?",
	    err);
	if (!st)
		return -err->code;
	const struct {
		enum mgr_usage_res res;
		int64_t keep;
	} keep[] = { { MGR_USAGE_RAW, RAW_KEEP_S },
		     { MGR_USAGE_5MIN, MIN5_KEEP_S },
		     { MGR_USAGE_HOUR, HOUR_KEEP_S } };
	for (size_t i = 0; i < 3; i++) {
		mgr_stmt_reset(st);
		mgr_stmt_bind_int64(st, 1, id);
		mgr_stmt_bind_int(st, 2, (int)keep[i].res);
		mgr_stmt_bind_int64(st, 3, now - keep[i].keep);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE)
			return mgr_db_err(db, rc, "expire usage", err);
	}
	return 0;
}

int mgr_usage_db_maintain(struct mgr_db *db, int64_t now, struct vs_err *err)
{
	mgr_db_lock(db);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "SELECT id FROM instances ORDER BY id", err);
		if (!st) {
			mgr_db_unlock(db);
			return -err->code;
		}
		while (mgr_stmt_step(st) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				int64_t *ni = realloc(ids, cap * sizeof(*ids));
				if (!ni) {
					free(ids);
					mgr_db_unlock(db);
					return vs_errf(err, ENOMEM, "out of memory");
				}
				ids = ni;
			}
			ids[n++] = mgr_stmt_column_int64(st, 0);
		}
	}
	r = mgr_db_begin(db, err);
	struct mgr_stmt *put = r == 0 ? put_prepare(db, err) : NULL;
	if (r == 0 && !put)
		r = -err->code;
	for (size_t i = 0; i < n && r == 0; i++) {
		r = rollup_locked(db, put, ids[i], MGR_USAGE_RAW, MGR_USAGE_5MIN, now, err);
		if (r == 0)
			r = rollup_locked(db, put, ids[i], MGR_USAGE_5MIN, MGR_USAGE_HOUR, now,
					  err);
		if (r == 0)
			r = expire_locked(db, ids[i], now, err);
	}
	mgr_stmt_finalize(put);
	if (r == 0)
		r = mgr_db_commit(db, err);
	else
		mgr_db_rollback(db);
	mgr_db_unlock(db);
	free(ids);
	return r;
}
