#include <errno.h>
#include "qcow2.h"
int qcow2_check(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		struct vs_err *err)
{
	return -ENOTSUP;
}
