/*
 * config_seccomp.c - parse linux.seccomp (runtime-spec 1.1 config-linux.md
 * "Seccomp") into struct ct_seccomp: default action (with defaultErrnoRet),
 * architectures, and syscall rules with errnoRet and argument conditions.
 * Names are checked here so a typo fails `create`, not the container.
 * Syscall names unknown to libseccomp are kept and skipped at load time,
 * as runc and crun do, because profiles list syscalls of newer kernels.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "json_util.h"
#include "vessel/core/cleanup.h"

static int action_parse(const char *name, int64_t errno_ret, bool has_errno, uint32_t *out,
			const char *what, struct vs_err *err)
{
	if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL_THREAD;
	else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint16_t)(has_errno ? errno_ret : EPERM));
	else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE((uint16_t)(has_errno ? errno_ret : EPERM));
	else if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(name, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
		return vs_errf(err, ENOTSUP, "%s: SCMP_ACT_NOTIFY is not supported", what);
	else
		return vs_errf(err, EINVAL, "%s: unknown seccomp action \"%s\"", what, name);
	return 0;
}

static int op_parse(const char *name, int *op)
{
	static const struct {
		const char *name;
		int op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; i < VS_ARRAY_SIZE(ops); i++)
		if (strcmp(name, ops[i].name) == 0) {
			*op = ops[i].op;
			return 0;
		}
	return -1;
}

static int arch_parse(const char *name, uint32_t *arch)
{
	char low[32];
	if (strncmp(name, "SCMP_ARCH_", 10) != 0 || strlen(name + 10) >= sizeof(low))
		return -1;
	size_t i;
	for (i = 0; name[10 + i]; i++) {
		char c = name[10 + i];
		low[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	low[i] = 0;
	uint32_t a = seccomp_arch_resolve_name(low);
	if (a == 0)
		return -1;
	*arch = a;
	return 0;
}

static int rule_parse(struct json_object *e, const char *what, struct ct_seccomp_rule *rule,
		      struct vs_err *err)
{
	int r;
	const char *action = NULL;
	int64_t eret = 0;
	bool has_eret = false;
	if ((r = ctj_expect_object(e, what, err)) < 0 ||
	    (r = ctj_strv(e, "names", what, &rule->names, &rule->nnames, err)) < 0 ||
	    (r = ctj_string(e, "action", what, true, &action, err)) < 0 ||
	    (r = ctj_int64(e, "errnoRet", what, 0, 4095, false, &eret, &has_eret, err)) < 0)
		return r;
	if (rule->nnames == 0)
		return vs_errf(err, EINVAL, "%s.names: must list at least one syscall", what);
	if ((r = action_parse(action, eret, has_eret, &rule->action, what, err)) < 0)
		return r;
	struct json_object *arr;
	size_t n;
	if ((r = ctj_array(e, "args", what, &arr, &n, err)) < 0)
		return r;
	if (n > 6)
		return vs_errf(err, EINVAL, "%s.args: at most 6 conditions", what);
	if (n == 0)
		return 0;
	rule->args = calloc(n, sizeof(*rule->args));
	if (!rule->args)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(arr, i);
		struct ct_seccomp_arg *arg = &rule->args[i];
		char awhat[80];
		snprintf(awhat, sizeof(awhat), "%s.args[%zu]", what, i);
		int64_t index = 0;
		const char *op = NULL;
		if ((r = ctj_expect_object(a, awhat, err)) < 0 ||
		    (r = ctj_int64(a, "index", awhat, 0, 5, true, &index, NULL, err)) < 0 ||
		    (r = ctj_uint64(a, "value", awhat, &arg->value, NULL, err)) < 0 ||
		    (r = ctj_uint64(a, "valueTwo", awhat, &arg->value_two, NULL, err)) < 0 ||
		    (r = ctj_string(a, "op", awhat, true, &op, err)) < 0)
			return r;
		if (op_parse(op, &arg->op) < 0)
			return vs_errf(err, EINVAL, "%s.op: unknown operator \"%s\"", awhat, op);
		arg->index = (unsigned)index;
		rule->nargs++;
	}
	return 0;
}

int ct_seccomp_parse(struct json_object *obj, struct ct_seccomp *sec, struct vs_err *err)
{
	int r;
	const char *def = NULL;
	int64_t eret = 0;
	bool has_eret = false;
	memset(sec, 0, sizeof(*sec));
	if ((r = ctj_expect_object(obj, "linux.seccomp", err)) < 0 ||
	    (r = ctj_string(obj, "defaultAction", "linux.seccomp", true, &def, err)) < 0 ||
	    (r = ctj_int64(obj, "defaultErrnoRet", "linux.seccomp", 0, 4095, false, &eret,
			   &has_eret, err)) < 0 ||
	    (r = action_parse(def, eret, has_eret, &sec->default_action, "linux.seccomp", err)) < 0)
		return r;
	if (ctj_get(obj, "listenerPath"))
		return vs_errf(err, ENOTSUP, "linux.seccomp.listenerPath: not supported");
	struct json_object *arr;
	size_t n;
	if ((r = ctj_array(obj, "architectures", "linux.seccomp", &arr, &n, err)) < 0)
		return r;
	if (n > 0) {
		sec->arches = calloc(n, sizeof(uint32_t));
		if (!sec->arches)
			return vs_errf(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);
			if (!json_object_is_type(e, json_type_string) ||
			    arch_parse(json_object_get_string(e), &sec->arches[i]) < 0)
				return vs_errf(
				    err, EINVAL,
				    "linux.seccomp.architectures[%zu]: unknown architecture %s", i,
				    json_object_to_json_string(e));
			sec->narches++;
		}
	}
	if ((r = ctj_array(obj, "syscalls", "linux.seccomp", &arr, &n, err)) < 0)
		return r;
	if (n > 0) {
		sec->rules = calloc(n, sizeof(*sec->rules));
		if (!sec->rules)
			return vs_errf(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			char what[48];
			snprintf(what, sizeof(what), "linux.seccomp.syscalls[%zu]", i);
			sec->nrules++;
			if ((r = rule_parse(json_object_array_get_idx(arr, i), what, &sec->rules[i],
					    err)) < 0)
				return r;
		}
	}
	return 0;
}

void ct_seccomp_free(struct ct_seccomp *sec)
{
	for (unsigned i = 0; i < sec->nrules; i++) {
		free(sec->rules[i].names);
		free(sec->rules[i].args);
	}
	free(sec->rules);
	free(sec->arches);
	memset(sec, 0, sizeof(*sec));
}
