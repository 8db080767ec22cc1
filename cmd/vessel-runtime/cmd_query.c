/*
 * cmd_query.c - update, ps, events, list, features, spec: argument parsing
 * and output formatting; the work is in lib/ct.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/ct/container.h"

static int read_stream(FILE *f, char **out, struct vs_err *err)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	size_t n;
	while ((n = fread(buf + used, 1, cap - used - 1, f)) > 0) {
		used += n;
		if (used + 1 == cap) {
			if (cap >= (1u << 20)) {
				free(buf);
				return vs_errf(err, EFBIG, "resources: larger than 1 MiB");
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return vs_errf(err, ENOMEM, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
	}
	buf[used] = 0;
	*out = buf;
	return 0;
}

struct update_flag {
	const char *name;
	const char *group;
	const char *key;
	bool size;   /* accepts 512m style sizes */
	bool string; /* kept as a string (cpuset lists) */
};

static const struct update_flag update_flags[] = {
	{ "memory", "memory", "limit", true, false },
	{ "memory-reservation", "memory", "reservation", true, false },
	{ "memory-swap", "memory", "swap", true, false },
	{ "kernel-memory", NULL, NULL, true, false },
	{ "cpu-shares", "cpu", "shares", false, false },
	{ "cpu-quota", "cpu", "quota", false, false },
	{ "cpu-period", "cpu", "period", false, false },
	{ "cpu-rt-period", "cpu", "realtimePeriod", false, false },
	{ "cpu-rt-runtime", "cpu", "realtimeRuntime", false, false },
	{ "cpuset-cpus", "cpu", "cpus", false, true },
	{ "cpuset-mems", "cpu", "mems", false, true },
	{ "pids-limit", "pids", "limit", false, false },
	{ "blkio-weight", "blockIO", "weight", false, false },
};

static int update_set(struct json_object *res, const struct update_flag *f, const char *val,
		      struct vs_err *err)
{
	if (!f->group)
		return 0;
	struct json_object *grp = NULL;
	if (!json_object_object_get_ex(res, f->group, &grp)) {
		grp = json_object_new_object();
		json_object_object_add(res, f->group, grp);
	}
	if (f->string) {
		json_object_object_add(grp, f->key, json_object_new_string(val));
		return 0;
	}
	int64_t v;
	if (strcmp(val, "-1") == 0) {
		v = -1;
	} else if (f->size) {
		uint64_t u;
		if (vs_parse_size(val, &u, err) < 0 || u > INT64_MAX)
			return vs_errf(err, EINVAL, "--%s %s: expected a size", f->name, val);
		v = (int64_t)u;
	} else {
		char *end;
		errno = 0;
		long long x = strtoll(val, &end, 10);
		if (*end || end == val || errno)
			return vs_errf(err, EINVAL, "--%s %s: expected an integer", f->name, val);
		v = x;
	}
	json_object_object_add(grp, f->key, json_object_new_int64(v));
	return 0;
}

int cmd_update(const struct cli_globals *g, int argc, char **argv)
{
	struct option opts[VS_ARRAY_SIZE(update_flags) + 2];
	memset(opts, 0, sizeof(opts));
	opts[0] = (struct option){ "resources", required_argument, NULL, 'r' };
	for (size_t i = 0; i < VS_ARRAY_SIZE(update_flags); i++)
		opts[i + 1] = (struct option){ update_flags[i].name, required_argument, NULL,
					       (int)(256 + i) };
	const char *values[VS_ARRAY_SIZE(update_flags)] = { NULL };
	const char *resources = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+r:", opts, NULL)) != -1) {
		if (c == 'r')
			resources = optarg;
		else if (c >= 256 && c < 256 + (int)VS_ARRAY_SIZE(update_flags))
			values[c - 256] = optarg;
		else
			return cli_usage_error("update", "unknown option %s", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("update", "expected exactly one container ID");
	struct vs_err err = VS_ERR_INIT;
	struct json_object *res = NULL;
	if (resources) {
		vs_cleanup_free char *text = NULL;
		int r;
		if (strcmp(resources, "-") == 0) {
			r = read_stream(stdin, &text, &err);
		} else {
			r = vs_read_file(resources, &text, NULL, 1 << 20, &err);
		}
		if (r < 0)
			return cli_fail(&err);
		res = json_tokener_parse(text);
		if (!res || !json_object_is_type(res, json_type_object)) {
			json_object_put(res);
			vs_errf(&err, EINVAL, "update --resources %s: not a JSON object",
				resources);
			return cli_fail(&err);
		}
	} else {
		res = json_object_new_object();
	}
	for (size_t i = 0; i < VS_ARRAY_SIZE(update_flags); i++)
		if (values[i] && update_set(res, &update_flags[i], values[i], &err) < 0) {
			json_object_put(res);
			return cli_fail(&err);
		}
	int r =
	    ct_container_update(g->root, argv[optind],
				json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN), &err);
	json_object_put(res);
	return r < 0 ? cli_fail(&err) : 0;
}

static const char *format_arg(const char *cmd, int argc, char **argv, bool *quiet, int *ret)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "table";
	int c;
	optind = 1;
	opterr = 0;
	*ret = 0;
	while ((c = getopt_long(argc, argv, "+f:q", opts, NULL)) != -1) {
		if (c == 'f' && (!strcmp(optarg, "table") || !strcmp(optarg, "json"))) {
			format = optarg;
		} else if (c == 'q' && quiet) {
			*quiet = true;
		} else {
			*ret = cli_usage_error(cmd, "bad option %s", argv[optind - 1]);
			return NULL;
		}
	}
	return format;
}

int cmd_ps(const struct cli_globals *g, int argc, char **argv)
{
	int ret;
	const char *format = format_arg("ps", argc, argv, NULL, &ret);
	if (!format)
		return ret;
	if (optind >= argc)
		return cli_usage_error("ps", "expected a container ID");
	struct vs_err err = VS_ERR_INIT;
	pid_t *pids = NULL;
	size_t n = 0;
	if (ct_container_pids(g->root, argv[optind], &pids, &n, &err) < 0)
		return cli_fail(&err);
	if (strcmp(format, "json") == 0) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int)pids[i]);
		printf("]\n");
	} else {
		printf("%-8s %s\n", "PID", "CMD");
		for (size_t i = 0; i < n; i++) {
			char path[64], comm[64] = "?";
			snprintf(path, sizeof(path), "/proc/%d/comm", (int)pids[i]);
			FILE *f = fopen(path, "re");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = 0;
				fclose(f);
			}
			printf("%-8d %s\n", (int)pids[i], comm);
		}
	}
	free(pids);
	return 0;
}

/* add "key": v to obj when v is non-zero (runc's omitempty fields) */
static void add_u64(struct json_object *obj, const char *key, uint64_t v)
{
	if (v)
		json_object_object_add(obj, key, json_object_new_uint64(v));
}

static struct json_object *child(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

/* One runc-style stats event: {"type":"stats","id":ID,"data":{...}}; only
 * the counters the cgroup module reads are present. */
static int print_stats(const struct cli_globals *g, const char *id, struct vs_err *err)
{
	struct ct_cgroup_stats st;
	if (ct_container_stats(g->root, id, &st, err) < 0)
		return -err->code;
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "type", json_object_new_string("stats"));
	json_object_object_add(ev, "id", json_object_new_string(id));
	struct json_object *data = child(ev, "data");
	add_u64(child(child(data, "cpu"), "usage"), "total", st.cpu_usage_ns);
	struct json_object *mem = child(child(data, "memory"), "usage");
	json_object_object_add(mem, "limit", json_object_new_uint64(st.memory_limit));
	add_u64(mem, "usage", st.memory_usage);
	add_u64(mem, "max", st.memory_max_usage);
	struct json_object *pids = child(data, "pids");
	add_u64(pids, "current", st.pids_current);
	add_u64(pids, "limit", st.pids_limit == UINT64_MAX ? 0 : st.pids_limit); /* "max" */
	printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(ev);
	return 0;
}

/* "5s", "500ms", "2m" (runc takes a Go duration); 1 ms .. 1 day */
static int parse_interval(const char *text, long *ms)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || v <= 0)
		return -1;
	long unit = !strcmp(end, "ms")	? 1
		    : !strcmp(end, "s") ? 1000
		    : !strcmp(end, "m") ? 60000
					: 0;
	if (!unit || v > 86400000L / unit)
		return -1;
	*ms = v * unit;
	return 0;
}

int cmd_events(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	bool once = false;
	long interval_ms = 5000;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 's')
			once = true;
		else if (c == 'i' && parse_interval(optarg, &interval_ms) == 0)
			continue;
		else if (c == 'i')
			return cli_usage_error("events",
					       "--interval %s: expected a duration such "
					       "as 5s or 500ms",
					       optarg);
		else
			return cli_usage_error("events", "unknown option %s", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("events", "expected exactly one container ID");
	const char *id = argv[optind];
	struct vs_err err = VS_ERR_INIT;
	if (print_stats(g, id, &err) < 0)
		return cli_fail(&err);
	if (once)
		return 0;
	/* stream until the container stops or is deleted */
	struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
	for (;;) {
		nanosleep(&ts, NULL);
		if (print_stats(g, id, &err) < 0)
			return err.code == ESRCH || err.code == ENOENT ? 0 : cli_fail(&err);
	}
}

struct list_ctx {
	const char *root;
	struct json_object *arr;
};

static int list_one(const char *id, void *opaque)
{
	struct list_ctx *l = opaque;
	char *text = NULL;
	if (ct_container_state(l->root, id, &text, NULL) < 0)
		return 0; /* deleted meanwhile */
	struct json_object *o = json_tokener_parse(text);
	free(text);
	if (o)
		json_object_array_add(l->arr, o);
	return 0;
}

int cmd_list(const struct cli_globals *g, int argc, char **argv)
{
	bool quiet = false;
	int ret;
	const char *format = format_arg("list", argc, argv, &quiet, &ret);
	if (!format)
		return ret;
	struct list_ctx l = { g->root, json_object_new_array() };
	struct vs_err err = VS_ERR_INIT;
	if (ct_state_list(g->root, list_one, &l, &err) < 0) {
		json_object_put(l.arr);
		return cli_fail(&err);
	}
	size_t n = json_object_array_length(l.arr);
	if (strcmp(format, "json") == 0) {
		printf("%s\n",
		       n ? json_object_to_json_string_ext(l.arr, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE)
			 : "null");
	} else {
		if (!quiet)
			printf("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE",
			       "CREATED");
		for (size_t i = 0; i < n; i++) {
			struct json_object *o = json_object_array_get_idx(l.arr, i), *v;
#define FIELD(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
			if (quiet)
				printf("%s\n", FIELD("id"));
			else
				printf("%-24s %-8s %-10s %-40s %s\n", FIELD("id"), FIELD("pid"),
				       FIELD("status"), FIELD("bundle"), FIELD("created"));
#undef FIELD
		}
	}
	json_object_put(l.arr);
	return 0;
}

int cmd_features(const struct cli_globals *g, int argc, char **argv)
{
	char *s = ct_features_json();
	if (!s)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

int cmd_spec(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "rootless", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bundle = ".";
	bool rootless = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
		if (c == 'b')
			bundle = optarg;
		else if (c == 'r')
			rootless = true;
		else
			return cli_usage_error("spec", "unknown option %s", argv[optind - 1]);
	}
	struct vs_err err = VS_ERR_INIT;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path)) {
		vs_errf(&err, ENAMETOOLONG, "spec: bundle path too long");
		return cli_fail(&err);
	}
	if (access(path, F_OK) == 0) {
		vs_errf(&err, EEXIST, "spec: %s already exists", path);
		return cli_fail(&err);
	}
	char *s = ct_default_spec_json(rootless);
	if (!s) {
		vs_errf(&err, ENOMEM, "spec: out of memory");
		return cli_fail(&err);
	}
	size_t len = strlen(s);
	s[len] = '\n';
	int r = vs_write_file_atomic(path, s, len + 1, &err);
	free(s);
	return r < 0 ? cli_fail(&err) : 0;
}
