/*
 * idle.c - whether an instance is idle, and since when (policy.h).
 *
 * The usage sampler (lib/mgr/usage, issue 12) owns the real figures:
 * CPU, disk and network activity.  Until its data is merged here, this
 * hook gives the one signal the manager itself records: an instance that
 * is stopped is idle since its last power change (the
 * instance_power_changes row that a trigger on instances.power_state
 * keeps), or since its last start or creation when no change was
 * recorded.  A running instance is never idle by this definition.  When
 * usage merges, this function is the one place to answer from its
 * samples instead (no meaningful CPU, disk or network for the period).
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
		mgr_cleanup_stmt sqlite3_stmt *st = mgr_db_prepare(
		    m->db, "SELECT changed_at FROM instance_power_changes WHERE instance_id = ?",
		    &err);
		if (st) {
			sqlite3_bind_int64(st, 1, inst->id);
			if (sqlite3_step(st) == SQLITE_ROW)
				snprintf(at, sizeof(at), "%s", sqlite3_column_text(st, 0));
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

int mgr_usage_idle_since(struct mgr *m, const struct mgr_instance *inst, time_t *since,
			 struct vs_err *err)
{
	*since = 0;
	enum mgr_power p;
	pid_t pid;
	int r = mgr_instance_live(m, inst, &p, &pid, err);
	if (r < 0)
		return r;
	if (p == MGR_POWER_STOPPED)
		*since = mgr_power_changed_at(m, inst);
	return 0;
}
