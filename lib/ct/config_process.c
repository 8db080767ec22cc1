/*
 * config_process.c - the "process" object of config.json (runtime-spec 1.1
 * config.md "Process"): args, env, cwd, user, capabilities, rlimits,
 * noNewPrivileges, oomScoreAdj, terminal/consoleSize.  Also the name tables
 * for capabilities, signals and rlimits that the CLI shares.
 *
 * Invariant: on success every pointer in struct ct_process borrows from the
 * json object (which must outlive it) except the malloc'd vectors freed by
 * ct_process_free().
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include "json_util.h"
#include "vessel/ct/config.h"

static const struct {
	const char *name;
	int num;
} signal_names[] = {
	{ "HUP", SIGHUP },	 { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
	{ "TRAP", SIGTRAP },	 { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
	{ "FPE", SIGFPE },	 { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 },	 { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP },	 { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
	{ "XCPU", SIGXCPU },	 { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH },	 { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
	{ "SYS", SIGSYS },
};

int ct_signal_from_name(const char *name)
{
	if (!name || !*name)
		return -1;
	if (isdigit((unsigned char)name[0])) {
		char *end;
		long v = strtol(name, &end, 10);
		if (*end || v <= 0 || v > SIGRTMAX)
			return -1;
		return (int)v;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (strcasecmp(name, signal_names[i].name) == 0)
			return signal_names[i].num;
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
		bool min = strncasecmp(name, "RTMIN", 5) == 0;
		const char *rest = name + 5;
		long off = 0;
		if (*rest) {
			char *end;
			off = strtol(rest, &end, 10);
			if (*end || (min && off < 0) || (!min && off > 0))
				return -1;
		}
		long s = (min ? SIGRTMIN : SIGRTMAX) + off;
		if (s < SIGRTMIN || s > SIGRTMAX)
			return -1;
		return (int)s;
	}
	return -1;
}

int ct_cap_from_name(const char *name)
{
	char low[64];
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(low))
		return -1;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	if (strncmp(low, "cap_", 4) != 0)
		return -1;
	cap_value_t v;
	if (cap_from_name(low, &v) < 0 || v < 0 || v > 63)
		return -1;
	return v;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static int caps_set_parse(struct json_object *caps, const char *key, uint64_t *mask,
			  struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(caps, key, "process.capabilities", &arr, &n, err);
	if (r < 0)
		return r;
	*mask = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_string))
			return vs_errf(err, EINVAL,
				       "process.capabilities.%s[%zu]: expected a string", key, i);
		int c = ct_cap_from_name(json_object_get_string(e));
		if (c < 0)
			return vs_errf(err, EINVAL,
				       "process.capabilities.%s: unknown capability %s", key,
				       json_object_get_string(e));
		*mask |= 1ULL << c;
	}
	return 0;
}

static int process_caps_parse(struct json_object *proc, struct ct_caps *caps, struct vs_err *err)
{
	struct json_object *c = ctj_get(proc, "capabilities");
	memset(caps, 0, sizeof(*caps));
	if (!c || json_object_is_type(c, json_type_null))
		return 0;
	int r = ctj_expect_object(c, "process.capabilities", err);
	if (r < 0)
		return r;
	caps->present = true;
	if ((r = caps_set_parse(c, "bounding", &caps->bounding, err)) < 0 ||
	    (r = caps_set_parse(c, "effective", &caps->effective, err)) < 0 ||
	    (r = caps_set_parse(c, "permitted", &caps->permitted, err)) < 0 ||
	    (r = caps_set_parse(c, "inheritable", &caps->inheritable, err)) < 0 ||
	    (r = caps_set_parse(c, "ambient", &caps->ambient, err)) < 0)
		return r;
	return 0;
}

static int process_rlimits_parse(struct json_object *proc, struct ct_process *p, struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(proc, "rlimits", "process", &arr, &n, err);
	if (r < 0 || n == 0)
		return r;
	p->rlimits = calloc(n, sizeof(*p->rlimits));
	if (!p->rlimits)
		return vs_errf(err, ENOMEM, "process.rlimits: out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		char what[48];
		snprintf(what, sizeof(what), "process.rlimits[%zu]", i);
		const char *type = NULL;
		if ((r = ctj_expect_object(e, what, err)) < 0 ||
		    (r = ctj_string(e, "type", what, true, &type, err)) < 0)
			return r;
		int res = -1;
		for (size_t k = 0; k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (strcmp(type, rlimit_names[k].name) == 0)
				res = rlimit_names[k].res;
		if (res < 0)
			return vs_errf(err, EINVAL, "%s.type: unknown rlimit %s", what, type);
		for (unsigned k = 0; k < p->nrlimits; k++)
			if (p->rlimits[k].resource == res)
				return vs_errf(err, EINVAL, "%s.type: duplicate rlimit %s", what,
					       type);
		struct ct_rlimit *rl = &p->rlimits[p->nrlimits];
		bool has_soft = false, has_hard = false;
		if ((r = ctj_uint64(e, "soft", what, &rl->soft, &has_soft, err)) < 0 ||
		    (r = ctj_uint64(e, "hard", what, &rl->hard, &has_hard, err)) < 0)
			return r;
		if (!has_soft || !has_hard)
			return vs_errf(err, EINVAL, "%s: soft and hard are required", what);
		if (rl->soft > rl->hard)
			return vs_errf(err, EINVAL, "%s: soft limit %llu exceeds hard limit %llu",
				       what, (unsigned long long)rl->soft,
				       (unsigned long long)rl->hard);
		rl->resource = res;
		p->nrlimits++;
	}
	return 0;
}

static int process_user_parse(struct json_object *proc, struct ct_process *p, struct vs_err *err)
{
	struct json_object *u = ctj_get(proc, "user");
	int r;
	if (!u)
		return 0;
	if ((r = ctj_expect_object(u, "process.user", err)) < 0)
		return r;
	int64_t v = 0;
	if ((r = ctj_int64(u, "uid", "process.user", 0, UINT32_MAX - 1, false, &v, NULL, err)) < 0)
		return r;
	p->uid = (uint32_t)v;
	v = 0;
	if ((r = ctj_int64(u, "gid", "process.user", 0, UINT32_MAX - 1, false, &v, NULL, err)) < 0)
		return r;
	p->gid = (uint32_t)v;
	if ((r = ctj_int64(u, "umask", "process.user", 0, 0777, false, &p->umask, NULL, err)) < 0)
		return r;
	struct json_object *arr;
	size_t n;
	if ((r = ctj_array(u, "additionalGids", "process.user", &arr, &n, err)) < 0)
		return r;
	if (n > 0) {
		p->additional_gids = calloc(n, sizeof(uint32_t));
		if (!p->additional_gids)
			return vs_errf(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);
			if (!json_object_is_type(e, json_type_int) ||
			    json_object_get_int64(e) < 0 || json_object_get_int64(e) >= UINT32_MAX)
				return vs_errf(err, EINVAL,
					       "process.user.additionalGids[%zu]: expected a gid",
					       i);
			p->additional_gids[i] = (uint32_t)json_object_get_int64(e);
		}
		p->nadditional_gids = (unsigned)n;
	}
	if (ctj_get(u, "username") &&
	    !json_object_is_type(ctj_get(u, "username"), json_type_string))
		return vs_errf(err, EINVAL, "process.user.username: expected a string");
	return 0;
}

int ct_process_parse(struct json_object *proc, struct ct_process *p, struct vs_err *err)
{
	int r;
	memset(p, 0, sizeof(*p));
	p->umask = -1;
	if ((r = ctj_expect_object(proc, "process", err)) < 0)
		goto fail;
	if ((r = ctj_bool(proc, "terminal", "process", &p->terminal, err)) < 0)
		goto fail;
	struct json_object *cs = ctj_get(proc, "consoleSize");
	if (cs) {
		int64_t h = 0, w = 0;
		if ((r = ctj_expect_object(cs, "process.consoleSize", err)) < 0 ||
		    (r = ctj_int64(cs, "height", "process.consoleSize", 0, 65535, true, &h, NULL,
				   err)) < 0 ||
		    (r = ctj_int64(cs, "width", "process.consoleSize", 0, 65535, true, &w, NULL,
				   err)) < 0)
			goto fail;
		p->console_height = (unsigned)h;
		p->console_width = (unsigned)w;
	}
	if ((r = process_user_parse(proc, p, err)) < 0)
		goto fail;
	if ((r = ctj_strv(proc, "args", "process", &p->args, &p->nargs, err)) < 0)
		goto fail;
	if (!p->args || p->nargs == 0) {
		r = vs_errf(err, EINVAL, "process.args: must name at least the program to run");
		goto fail;
	}
	if ((r = ctj_strv(proc, "env", "process", &p->env, &p->nenv, err)) < 0)
		goto fail;
	for (unsigned i = 0; i < p->nenv; i++)
		if (!strchr(p->env[i], '=')) {
			r = vs_errf(err, EINVAL, "process.env[%u]: \"%s\" is not KEY=VALUE", i,
				    p->env[i]);
			goto fail;
		}
	if ((r = ctj_string(proc, "cwd", "process", true, &p->cwd, err)) < 0)
		goto fail;
	if (p->cwd[0] != '/') {
		r = vs_errf(err, EINVAL, "process.cwd: %s is not an absolute path", p->cwd);
		goto fail;
	}
	if ((r = process_caps_parse(proc, &p->caps, err)) < 0)
		goto fail;
	if ((r = process_rlimits_parse(proc, p, err)) < 0)
		goto fail;
	if ((r = ctj_bool(proc, "noNewPrivileges", "process", &p->no_new_privileges, err)) < 0)
		goto fail;
	int64_t oom = 0;
	bool has_oom = false;
	if ((r = ctj_int64(proc, "oomScoreAdj", "process", -1000, 1000, false, &oom, &has_oom,
			   err)) < 0)
		goto fail;
	p->has_oom_score_adj = has_oom;
	p->oom_score_adj = (int)oom;
	if ((r = ctj_string(proc, "apparmorProfile", "process", false, &p->apparmor_profile, err)) <
		0 ||
	    (r = ctj_string(proc, "selinuxLabel", "process", false, &p->selinux_label, err)) < 0)
		goto fail;
	return 0;
fail:
	ct_process_free(p);
	return r;
}

void ct_process_free(struct ct_process *p)
{
	free(p->additional_gids);
	free(p->args);
	free(p->env);
	free(p->rlimits);
	p->additional_gids = NULL;
	p->args = p->env = NULL;
	p->rlimits = NULL;
}
