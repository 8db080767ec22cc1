/* placeholder, replaced below */
#include <errno.h>
#include "qcow2.h"
int qcow2_snapshots_load(struct qcow2 *q, struct vs_err *err)
{
	return 0;
}
void qcow2_snapshots_free(struct qcow2 *q)
{
}
int qcow2_snapshot_list(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
			struct vs_err *err)
{
	return 0;
}
int qcow2_snapshot_create(struct disk_image *img, const char *name, struct vs_err *err)
{
	return -ENOTSUP;
}
int qcow2_snapshot_apply(struct disk_image *img, const char *name, struct vs_err *err)
{
	return -ENOTSUP;
}
int qcow2_snapshot_delete(struct disk_image *img, const char *name, struct vs_err *err)
{
	return -ENOTSUP;
}
