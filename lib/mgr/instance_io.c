/*
 * instance_io.c - the byte streams of an instance (mgr.h): its console
 * (attach, and the log of what it printed) and files copied in and out.
 * The instance's driver does the work; here are the state rules: a console
 * needs a running instance; files work running or stopped, under the
 * instance's busy mark (no start, stop or delete meanwhile).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/driver.h"

int mgr_instance_console(struct mgr *m, const char *name, int *fd, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d)
		r = -err->code;
	else if (!d->console)
		r = vs_errf(err, ENOTSUP, "instances of type %s have no console yet",
			    mgr_instance_type_name(inst.type));
	else
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_RUNNING)
		r = vs_errf(err, EINVAL, "instance %s is %s: its console needs it running",
			    inst.name, mgr_power_status(p));
	if (r == 0)
		r = d->console(m, &inst, fd, err);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_console_resize(struct mgr *m, const char *name, unsigned width, unsigned height,
				struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d)
		r = -err->code;
	else if (!d->console_resize)
		r = vs_errf(err, ENOTSUP,
			    "instance %s: a %s's console (a serial port) has no window size; "
			    "set it inside with stty rows R cols C",
			    inst.name, mgr_instance_type_name(inst.type));
	else
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_RUNNING)
		r = vs_errf(err, EINVAL, "instance %s is %s: its console needs it running",
			    inst.name, mgr_power_status(p));
	if (r == 0)
		r = d->console_resize(m, &inst, width, height, err);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_console_log(struct mgr *m, const char *name, char **text, size_t *len,
			     struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *path = NULL;
	if (asprintf(&path, "%s/%s/%s/console.log", m->state_dir,
		     inst.type == MGR_INSTANCE_CONTAINER ? "containers" : "vms",
		     inst.runtime_id) < 0)
		r = vs_errf(err, ENOMEM, "out of memory");
	mgr_instance_free(&inst);
	if (r < 0)
		return r;
	if (!mgr_path_exists(path)) {
		*text = strdup("");
		*len = 0;
		return *text ? 0 : vs_errf(err, ENOMEM, "out of memory");
	}
	return vs_read_file(path, text, len, 16u << 20, err);
}

static int with_file(struct mgr *m, const char *name, const char *path, bool push, int fd,
		     mode_t mode, uid_t uid, gid_t gid, struct vs_err *err)
{
	if (!path || path[0] != '/' || strlen(path) >= 4096)
		return vs_errf(err, EINVAL, "path: expected an absolute path in the instance");
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	if (!d)
		r = -err->code;
	else if (!(push ? d->file_push != NULL : d->file_pull != NULL))
		r = vs_errf(err, ENOTSUP, "instances of type %s have no file %s yet",
			    mgr_instance_type_name(inst.type), push ? "push" : "pull");
	else if (push)
		r = d->file_push(m, &inst, path, fd, mode, uid, gid, err);
	else
		r = d->file_pull(m, &inst, path, fd, err);
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_instance_file_push(struct mgr *m, const char *name, const char *path, int src_fd,
			   mode_t mode, uid_t uid, gid_t gid, struct vs_err *err)
{
	return with_file(m, name, path, true, src_fd, mode, uid, gid, err);
}

int mgr_instance_file_pull(struct mgr *m, const char *name, const char *path, int dst_fd,
			   struct vs_err *err)
{
	return with_file(m, name, path, false, dst_fd, 0, 0, 0, err);
}
