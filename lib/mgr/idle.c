/*
 * idle.c - whether an instance is idle, and since when (policy.h).
 *
 * A stopped instance is idle since its last power change (the
 * instance_power_changes row that a trigger on instances.power_state
 * keeps), or since its last start or creation when no change was
 * recorded.  A running or frozen one is idle since the end of the last
 * sample of the usage history (usage_store.c, raw and 5-minute rows) that
 * shows meaningful activity: at least 0.01 cores, 4 KiB/s of disk or
 * 1 KiB/s of network (usage_advice.c's idle thresholds).  With no history
 * yet, or when its newest sample is active, it is not idle; with history
 * and no active sample, it is idle since its first sample.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mgr_internal.h"
#include "vessel/mgr/policy.h"

time_t mgr_power_changed_at(struct mgr *m, const struct mgr_instance *inst)
{
	char at[32] = "";
	struct vs_err err = VS_ERR_INIT;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT changed_at FROM instance_power_changes WHERE instance_id = ?",
		    &err);
		if (st) {
			mgr_stmt_bind_int64(st, 1, inst->id);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				snprintf(at, sizeof(at), "%s", mgr_stmt_column_text(st, 0));
		}
	}
	mgr_db_unlock(m->db);
	time_t t = 0;
	if (!at[0] || mgr_time_parse(at, &t, &err) < 0) {
		const char *alt = inst->last_used_at[0] ? inst->last_used_at : inst->created_at;
		if (mgr_time_parse(alt, &t, &err) < 0)
			t = 0;
	}
	return t;
}

/* Activity thresholds: usage_advice.c's idle rule. */
#define ACTIVE_WHERE "(cpu >= 0.01 OR disk_read + disk_write >= 4096 OR net_rx + net_tx >= 1024)"

static time_t usage_idle_since(struct mgr *m, const struct mgr_instance *inst)
{
	struct vs_err err = VS_ERR_INIT;
	int64_t first = 0, newest = 0, active = 0;
	bool have = false;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT MIN(t), MAX(t + resolution), "
		    "  (SELECT MAX(t + resolution) FROM instance_usage WHERE instance_id = ?1 "
		    "     AND resolution IN (0, 300) AND " ACTIVE_WHERE ") "
		    "FROM instance_usage WHERE instance_id = ?1 AND resolution IN (0, 300)",
		    &err);
		if (st) {
			mgr_stmt_bind_int64(st, 1, inst->id);
			if (mgr_stmt_step(st) == SQLITE_ROW &&
			    mgr_stmt_column_type(st, 0) != SQLITE_NULL) {
				have = true;
				first = mgr_stmt_column_int64(st, 0);
				newest = mgr_stmt_column_int64(st, 1);
				active = mgr_stmt_column_int64(st, 2);
			}
		}
	}
	mgr_db_unlock(m->db);
	if (!have)
		return 0;
	if (!active)
		return (time_t)first;
	return active >= newest ? 0 : (time_t)active;
}

int mgr_usage_idle_since(struct mgr *m, const struct mgr_instance *inst, time_t *since,
			 struct vs_err *err)
{
	*since = 0;
	enum mgr_power p;
	pid_t pid;
	int r = mgr_instance_live(m, inst, &p, &pid, err);
	if (r < 0)
		return r;
	*since = p == MGR_POWER_STOPPED ? mgr_power_changed_at(m, inst) : usage_idle_since(m, inst);
	return 0;
}
