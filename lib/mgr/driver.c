/*
 * driver.c - the table of instance drivers, one per type: containers
 * (driver_container.c) and VMs (driver_vm.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "vessel/mgr/driver.h"

static const struct mgr_driver *const drivers[] = {
	[MGR_INSTANCE_CONTAINER] = &mgr_driver_container,
	[MGR_INSTANCE_VM] = &mgr_driver_vm,
};

const struct mgr_driver *mgr_driver_for(enum mgr_instance_type t, struct vs_err *err)
{
	if ((size_t)t < sizeof(drivers) / sizeof(drivers[0]) && drivers[t])
		return drivers[t];
	vs_errf(err, ENOTSUP, "instances of type %s are not supported yet",
		mgr_instance_type_name(t));
	return NULL;
}

void mgr_exec_result_free(struct mgr_exec_result *res)
{
	free(res->out);
	free(res->errout);
	res->out = res->errout = NULL;
}
