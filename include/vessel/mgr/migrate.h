/*
 * migrate.h - a running VM moved live between two vesseld hosts
 * (docs/migration.md, "Between vesseld hosts").
 *
 * The source's VMM migrates with its disks copied to a unix socket in its
 * own directory (the only place its sandbox lets it connect); the
 * destination's `vessel-vmm --incoming` listens on a socket in the new
 * instance's directory; in between, each vesseld relays the byte stream
 * over an upgraded API connection (mgr_migrate_relay), and the client
 * joins the two.
 */
#ifndef VESSEL_MGR_MIGRATE_H
#define VESSEL_MGR_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct mgr;
struct json_object;

struct mgr_migrate_result {
	char state[16]; /* active, completed, failed */
	double downtime_ms, total_ms;
	int64_t bytes, disk_bytes;
	char error[512];
};

/* Source: NAME is a running VM that can move (before the upgrade). */
int mgr_migrate_out_check(struct mgr *m, const char *name, struct vs_err *err);
/* Source: migrate NAME's VMM through fd (the upgraded connection); on
 * success the instance is deleted here.  On failure it runs on. */
int mgr_migrate_out(struct mgr *m, const char *name, int fd, const char *extra, size_t extra_len,
		    struct vs_err *err);

/* Destination: create the instance meta describes ({"name", "image":
 * fingerprint, "config", "devices"}) and start its incoming VMM. */
struct mgr_migrate_in;
int mgr_migrate_in_prepare(struct mgr *m, struct json_object *meta, struct mgr_migrate_in **out,
			   struct vs_err *err);
/* Feed the stream from fd into it; on success the instance runs here,
 * else everything prepare made is removed.  Frees mi. */
int mgr_migrate_in_run(struct mgr_migrate_in *mi, int fd, const char *extra, size_t extra_len,
		       struct vs_err *err);
/* The upgrade never happened: remove what prepare made.  Frees mi. */
void mgr_migrate_in_abort(struct mgr_migrate_in *mi);

/* At start: a VM this vesseld was receiving when it stopped is kept if
 * its VMM runs (it got the whole stream), else removed. */
void mgr_migrate_in_recover(struct mgr *m);

/* The last migration of NAME through this vesseld (either side): 0, or
 * -ENOENT when there was none. */
int mgr_migrate_result_get(const char *name, struct mgr_migrate_result *out);

#endif
