/*
 * config_internal.h - pieces of the config parser shared inside lib/ct.
 */
#ifndef VESSEL_CT_CONFIG_INTERNAL_H
#define VESSEL_CT_CONFIG_INTERNAL_H

#include "vessel/ct/config.h"

int ct_seccomp_parse(struct json_object *obj, struct ct_seccomp *sec, struct vs_err *err);
void ct_seccomp_free(struct ct_seccomp *sec);
const char *ct_hook_kind_name(enum ct_hook_kind k);

#endif
