/*
 * usage.h - what every instance uses, measured and kept (lib/mgr/usage*.c).
 *
 * A sampler thread in vesseld reads every running instance every
 * `interval_ms` (default 10 s) through its driver's `usage` entry: CPU
 * time, memory in use, disk and network counters, and for containers the
 * throttled CPU time, memory pressure (PSI) and OOM kills.  Counters are
 * cumulative; the sampler turns two consecutive samples into rates and
 * stores one raw row per instance and tick in the database.
 *
 * Storage is RRD-like (usage_store.c): raw rows are kept for a day, 5-minute
 * aggregates (min/avg/max/p95) for 30 days, hourly aggregates for a year;
 * older rows are deleted as they age out, so the table is bounded by the
 * number of instances.  The advice (usage_advice.c) reads that history; the
 * Prometheus endpoint (usage_metrics.c) reads the sampler's last counters.
 */
#ifndef VESSEL_MGR_USAGE_H
#define VESSEL_MGR_USAGE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"

struct mgr;

/* Which fields of a sample were measured. */
enum {
	MGR_USAGE_CPU = 1u << 0,
	MGR_USAGE_MEMORY = 1u << 1,
	MGR_USAGE_DISK = 1u << 2,
	MGR_USAGE_NET = 1u << 3,
	MGR_USAGE_THROTTLE = 1u << 4,
	MGR_USAGE_PRESSURE = 1u << 5,
	MGR_USAGE_OOM = 1u << 6,
	MGR_USAGE_GUEST_MEMORY = 1u << 7, /* VM: the guest's own figures (balloon) */
	MGR_USAGE_HARTS = 1u << 8,	  /* VM: per-hart busy time */
};

/* One reading of an instance; counters are cumulative since it started. */
struct mgr_usage_sample {
	uint32_t valid;		  /* MGR_USAGE_* */
	uint64_t cpu_ns;	  /* CPU time (container cgroup; VM: the VMM's cgroup) */
	uint64_t hart_busy_ns;	  /* VM: sum of the harts' busy time */
	uint64_t memory_bytes;	  /* in use (working set; VM: guest total - available) */
	uint64_t memory_limit;	  /* the effective limit, 0 when none */
	uint64_t guest_total;	  /* VM: guest RAM the guest sees */
	uint64_t guest_available; /* VM: what the guest says it could still use */
	uint64_t disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops;
	uint64_t net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets;
	uint64_t throttled_ns; /* CFS throttled time */
	uint64_t throttled_periods;
	uint64_t pressure_us; /* memory PSI "some" total stall time */
	uint64_t oom_kills;
};

/* The driver entry for containers (driver_container.c points at it). */
int mgr_usage_container(struct mgr *m, const struct mgr_instance *inst, struct mgr_usage_sample *s,
			struct vs_err *err);
/* VMs, through the names in STATE/vms/<runtime_id>/ (api.sock, vmm.pid) and
 * the VMM's cgroup vessel-vm-<runtime_id>. */
int mgr_usage_vm(struct mgr *m, const struct mgr_instance *inst, struct mgr_usage_sample *s,
		 struct vs_err *err);
/* The same, given the cgroup's name and the VMM's API socket (tests). */
int mgr_usage_vm_at(const char *cgroup, const char *api_sock, pid_t vmm_pid,
		    struct mgr_usage_sample *s, struct vs_err *err);
/* Containers: read cgroup NAME (a top-level cgroup in every hierarchy) and
 * the host-side interfaces ifnames[] (bench/observe samples fake cgroups). */
int mgr_usage_cgroup(const char *cgroup, const char *const *ifnames, size_t nif,
		     struct mgr_usage_sample *s, struct vs_err *err);

/* Open descriptors of one cgroup's files, kept between samples (reading
 * with pread costs a tenth of open/read/close); -1: not open. */
#define MGR_USAGE_FDS 10
struct mgr_usage_fds {
	int fd[MGR_USAGE_FDS];
};
void mgr_usage_fds_init(struct mgr_usage_fds *f);
void mgr_usage_fds_close(struct mgr_usage_fds *f);
/* mgr_usage_cgroup through (and filling) a descriptor cache; fds may be NULL. */
int mgr_usage_cgroup_cached(const char *cgroup, const char *const *ifnames, size_t nif,
			    struct mgr_usage_fds *fds, struct mgr_usage_sample *s,
			    struct vs_err *err);

/* One stored row: rates over the interval it covers. */
struct mgr_usage_row {
	int64_t t;  /* unix seconds: the sample's time or the bucket's start */
	double cpu; /* cores used (avg over the row) */
	double cpu_min, cpu_max, cpu_p95;
	double memory; /* bytes (avg) */
	double memory_min, memory_max, memory_p95;
	double disk_read, disk_write; /* B/s */
	double disk_ops;	      /* ops/s */
	double net_rx, net_tx;	      /* B/s */
	double net_packets;	      /* packets/s */
	double throttled;	      /* throttled seconds per second */
	double pressure;	      /* memory stall seconds per second (PSI some) */
	double oom_kills;	      /* OOM kills during the row */
	double guest_available;	      /* VM: min guest available bytes (0 unknown) */
	double guest_total;
	int64_t count; /* raw samples behind the row */
};

/* Resolutions kept: raw (the sampling interval), 5 min, 1 h. */
enum mgr_usage_res {
	MGR_USAGE_RAW = 0,
	MGR_USAGE_5MIN = 300,
	MGR_USAGE_HOUR = 3600,
};

/* Store one row (INSERT OR REPLACE) for instance id at a resolution. */
int mgr_usage_db_put(struct mgr_db *db, int64_t id, enum mgr_usage_res res,
		     const struct mgr_usage_row *row, struct vs_err *err);
/* Store rows[i] of ids[i] at one resolution in one transaction (the
 * sampler's tick stores raw rows). */
int mgr_usage_db_put_many(struct mgr_db *db, enum mgr_usage_res res, const int64_t *ids,
			  const struct mgr_usage_row *rows, size_t n, struct vs_err *err);
/* Aggregate the raw rows of finished 5-minute buckets and the 5-minute rows
 * of finished hours up to `now`, and delete what aged out (raw after a day,
 * 5 min after 30 days, hourly after a year).  Holds the database lock. */
int mgr_usage_db_maintain(struct mgr_db *db, int64_t now, struct vs_err *err);
/* The rows of one instance since `since` at a resolution, oldest first. */
int mgr_usage_db_rows(struct mgr_db *db, int64_t id, enum mgr_usage_res res, int64_t since,
		      struct mgr_usage_row **rows, size_t *n, struct vs_err *err);
/* The resolution a window (seconds) is answered from, and the rows. */
int mgr_usage_db_window(struct mgr_db *db, int64_t id, int64_t window_s, int64_t now,
			enum mgr_usage_res *res, struct mgr_usage_row **rows, size_t *n,
			struct vs_err *err);

/* The sampler thread and the advice's knobs (vesseld options). */
struct mgr_usage_opts {
	unsigned interval_ms;	/* 0: 10000 */
	unsigned min_history_s; /* advice needs this much history (0: 3600) */
	unsigned idle_after_s;	/* idle when nothing happened this long (0: 86400) */
	unsigned window_s;	/* history the advice looks at (0: 7 days) */
};

int mgr_usage_start(struct mgr *m, const struct mgr_usage_opts *opts, struct vs_err *err);
void mgr_usage_stop(struct mgr *m);
/* Sample every running instance now: the sampler thread calls this each
 * tick; never from another thread while the sampler runs. */
int mgr_usage_tick(struct mgr *m, struct vs_err *err);

/* GET /1.0/instances/NAME/usage?window=: the JSON object in CONTRACTS.md. */
int mgr_usage_json(struct mgr *m, const char *name, const char *window, struct json_object **out,
		   struct vs_err *err);
/* GET /1.0/metrics: Prometheus text exposition format 0.0.4 (malloc'd). */
int mgr_usage_metrics(struct mgr *m, char **text, size_t *len, struct vs_err *err);

/* Advice for one instance (name) or all (NULL): a JSON array (CONTRACTS.md). */
int mgr_advice_json(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err);
/* Apply the instance's limit advice live; *applied gets the changes. */
int mgr_advice_apply(struct mgr *m, const char *name, struct json_object **applied,
		     struct vs_err *err);

/* Parse "1h", "1d", "30d", "1y" (or a plain number of seconds). */
int mgr_usage_window_parse(const char *s, int64_t *seconds, struct vs_err *err);

#endif
