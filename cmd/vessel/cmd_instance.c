/*
 * cmd_instance.c - the instance commands: launch, init, list, info, the
 * state changes, delete, rename, exec and config.  Argument parsing and
 * request building only; the daemon decides and explains.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/cleanup.h"

/* "/1.0/instances/NAME" + suffix, NAME escaped. */
static char *instance_path(const char *name, const char *suffix)
{
	char *e = curl_easy_escape(NULL, name, 0);
	char *p = NULL;
	if (!e || asprintf(&p, "/1.0/instances/%s%s", e, suffix) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

static int create(struct cli *cli, const char *cmd, int argc, char **argv, bool start)
{
	struct json_object *cfg = json_object_new_object();
	int c;
	optind = 1;
	opterr = 0;
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "vm", no_argument, NULL, 'V' },
					      { "network", required_argument, NULL, 'n' },
					      { "expires", required_argument, NULL, 'e' },
					      { "target", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	const char *target = NULL;
	bool vm = false;
	const char *networks[4], *expires = NULL; /* eth0, eth1, ... */
	size_t nnetworks = 0;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c') {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				json_object_put(cfg);
				return cli_usage(cmd, "-c %s: expected KEY=VALUE", optarg);
			}
			*eq = 0;
			json_object_object_add(cfg, optarg, json_object_new_string(eq + 1));
		} else if (c == 'V') {
			vm = true;
		} else if (c == 'n') {
			if (nnetworks == VS_ARRAY_SIZE(networks)) {
				json_object_put(cfg);
				return cli_usage(cmd, "--network: at most %zu NICs",
						 VS_ARRAY_SIZE(networks));
			}
			networks[nnetworks++] = optarg;
		} else if (c == 'e') {
			expires = optarg;
		} else if (c == 't') {
			target = optarg;
		} else {
			json_object_put(cfg);
			return cli_usage(cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	if (argc - optind != 2) {
		json_object_put(cfg);
		return cli_usage(cmd, "expected IMAGE and NAME");
	}
	struct json_object *b = json_object_new_object(), *src = json_object_new_object();
	json_object_object_add(src, "type", json_object_new_string("image"));
	json_object_object_add(src, "alias", json_object_new_string(argv[optind]));
	json_object_object_add(b, "name", json_object_new_string(argv[optind + 1]));
	json_object_object_add(b, "type",
			       json_object_new_string(vm ? "virtual-machine" : "container"));
	json_object_object_add(b, "source", src);
	json_object_object_add(b, "config", cfg);
	json_object_object_add(b, "start", json_object_new_boolean(start));
	if (expires)
		json_object_object_add(b, "expires", json_object_new_string(expires));
	if (nnetworks) {
		struct json_object *devs = json_object_new_object();
		for (size_t i = 0; i < nnetworks; i++) {
			struct json_object *nic = json_object_new_object();
			char dev[32];
			snprintf(dev, sizeof(dev), "eth%u", (unsigned)i);
			json_object_object_add(nic, "type", json_object_new_string("nic"));
			json_object_object_add(nic, "network", json_object_new_string(networks[i]));
			json_object_object_add(devs, dev, nic);
		}
		json_object_object_add(b, "devices", devs);
	}
	if (target) { /* a cluster member to create it on */
		char *e = curl_escape(target, 0), *p = NULL;
		int r = e && asprintf(&p, "/1.0/instances?target=%s", e) >= 0
			    ? cli_request(cli, "POST", p, b, NULL)
			    : (json_object_put(b), 1);
		curl_free(e);
		free(p);
		return r;
	}
	return cli_request(cli, "POST", "/1.0/instances", b, NULL);
}

int cmd_launch(struct cli *cli, int argc, char **argv)
{
	return create(cli, "launch", argc, argv, true);
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	return create(cli, "init", argc, argv, false);
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("list", "no arguments expected");
	struct json_object *md = NULL;
	int r = cli_get_listing(cli, "/1.0/instances?recursion=1", &md);
	if (r || !md)
		return r;
	static const char *const headers[] = { "NAME", "TYPE",	  "STATUS",  "IMAGE",
					       "PID",  "CREATED", "LOCATION" };
	size_t n = json_object_array_length(md);
	/* a cluster's list says where each instance runs */
	size_t ncol = 6;
	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(json_object_array_get_idx(md, i), "location", NULL))
			ncol = 7;
	char **cells = calloc(n * ncol + 1, sizeof(char *));
	if (!cells) {
		json_object_put(md);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(md, i);
		const char *t = jstr(o, "type");
		cells[i * ncol + 0] = strdup(jstr(o, "name"));
		cells[i * ncol + 1] = strdup(strcmp(t, "container") == 0 ? "CONTAINER" : "VM");
		cells[i * ncol + 2] = strdup(jstr(o, "status"));
		cells[i * ncol + 3] = strndup(jstr(o, "image"), 12);
		const char *pid = jstr(o, "pid");
		cells[i * ncol + 4] = strdup(strcmp(pid, "0") == 0 ? "" : pid);
		cells[i * ncol + 5] = strdup(jstr(o, "created_at"));
		if (ncol == 7)
			cells[i * ncol + 6] = strdup(jstr(o, "location"));
	}
	out_rows(cli, headers, ncol, cells, n);
	for (size_t i = 0; i < n * ncol; i++)
		free(cells[i]);
	free(cells);
	json_object_put(md);
	return 0;
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage("info", "expected NAME");
	char *path = instance_path(argv[1], "");
	struct json_object *md = NULL;
	int r = cli_request(cli, "GET", path, NULL, &md);
	free(path);
	if (r)
		return r;
	out_value(cli, md);
	/* Offline: a copy from the cluster, no usage to show */
	bool running = strcmp(jstr(md, "status"), "Stopped") != 0 &&
		       strcmp(jstr(md, "status"), "Offline") != 0;
	json_object_put(md);
	if (cli->format == CLI_FORMAT_TABLE && running)
		cli_print_usage_summary(cli, argv[1]);
	return 0;
}

static int change_state(struct cli *cli, const char *cmd, const char *action, int argc, char **argv,
			bool takes_force)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
					      { "timeout", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	bool force = false;
	long timeout = 30;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c == 'f' && takes_force) {
			force = true;
		} else if (c == 't' && takes_force) {
			char *end;
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < -1 || timeout > 3600)
				return cli_usage(cmd, "--timeout %s: -1 to 3600 seconds", optarg);
		} else {
			return cli_usage(cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(cmd, "expected at least one NAME");
	for (int i = optind; i < argc; i++) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "action", json_object_new_string(action));
		json_object_object_add(b, "force", json_object_new_boolean(force));
		json_object_object_add(b, "timeout", json_object_new_int((int)timeout));
		char *path = instance_path(argv[i], "/state");
		int r = cli_request(cli, "PUT", path, b, NULL);
		free(path);
		if (r)
			return r;
	}
	return 0;
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	return change_state(cli, "start", "start", argc, argv, false);
}
int cmd_stop(struct cli *cli, int argc, char **argv)
{
	return change_state(cli, "stop", "stop", argc, argv, true);
}
int cmd_restart(struct cli *cli, int argc, char **argv)
{
	return change_state(cli, "restart", "restart", argc, argv, true);
}
int cmd_pause(struct cli *cli, int argc, char **argv)
{
	return change_state(cli, "pause", "freeze", argc, argv, false);
}
int cmd_resume(struct cli *cli, int argc, char **argv)
{
	return change_state(cli, "resume", "unfreeze", argc, argv, false);
}

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
					      { NULL, 0, NULL, 0 } };
	bool force = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c != 'f')
			return cli_usage("delete", "unknown option %s", argv[optind - 1]);
		force = true;
	}
	if (optind >= argc)
		return cli_usage("delete", "expected at least one NAME");
	for (int i = optind; i < argc; i++) {
		char *path = instance_path(argv[i], force ? "?force=1" : "");
		int r = cli_request(cli, "DELETE", path, NULL, NULL);
		free(path);
		if (r)
			return r;
	}
	return 0;
}

int cmd_rename(struct cli *cli, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage("rename", "expected NAME and NEW-NAME");
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "name", json_object_new_string(argv[2]));
	char *path = instance_path(argv[1], "");
	int r = cli_request(cli, "POST", path, b, NULL);
	free(path);
	return r;
}

static char *read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		ssize_t got = read(0, buf + n, cap - n - 1);
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n + 1 == cap) {
			if (cap >= (64u << 20))
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "env", required_argument, NULL, 'e' },
					      { "cwd", required_argument, NULL, 'w' },
					      { "user", required_argument, NULL, 'u' },
					      { "stdin", no_argument, NULL, 'i' },
					      { NULL, 0, NULL, 0 } };
	struct json_object *b = json_object_new_object(), *env = json_object_new_object();
	bool with_stdin = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "e:w:u:i", opts, NULL)) != -1) {
		switch (c) {
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				json_object_put(b);
				json_object_put(env);
				return cli_usage("exec", "--env %s: expected KEY=VALUE", optarg);
			}
			*eq = 0;
			json_object_object_add(env, optarg, json_object_new_string(eq + 1));
			break;
		}
		case 'w': json_object_object_add(b, "cwd", json_object_new_string(optarg)); break;
		case 'u': {
			char *end;
			long uid = strtol(optarg, &end, 10), gid = uid;
			if (*end == ':')
				gid = strtol(end + 1, &end, 10);
			if (*end || uid < 0 || gid < 0) {
				json_object_put(b);
				json_object_put(env);
				return cli_usage("exec", "--user %s: expected UID[:GID]", optarg);
			}
			json_object_object_add(b, "user", json_object_new_int64(uid));
			json_object_object_add(b, "group", json_object_new_int64(gid));
			break;
		}
		case 'i': with_stdin = true; break;
		default:
			json_object_put(b);
			json_object_put(env);
			return cli_usage("exec", "unknown option %s", argv[optind - 1]);
		}
	}
	if (argc - optind < 2) {
		json_object_put(b);
		json_object_put(env);
		return cli_usage("exec", "expected NAME -- COMMAND...");
	}
	const char *name = argv[optind++];
	if (strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		json_object_put(b);
		json_object_put(env);
		return cli_usage("exec", "expected a COMMAND after --");
	}
	struct json_object *cmd = json_object_new_array();
	for (int i = optind; i < argc; i++)
		json_object_array_add(cmd, json_object_new_string(argv[i]));
	json_object_object_add(b, "command", cmd);
	json_object_object_add(b, "environment", env);
	json_object_object_add(b, "record-output", json_object_new_boolean(true));
	if (with_stdin) {
		size_t len;
		char *in = read_stdin(&len);
		if (in)
			json_object_object_add(b, "stdin",
					       json_object_new_string_len(in, (int)len));
		free(in);
	}
	char *path = instance_path(name, "/exec");
	struct json_object *md = NULL;
	int r = cli_request(cli, "POST", path, b, &md);
	free(path);
	if (r)
		return r;
	struct json_object *v;
	if (json_object_object_get_ex(md, "stdout", &v))
		fwrite(json_object_get_string(v), 1, (size_t)json_object_get_string_len(v), stdout);
	fflush(stdout);
	if (json_object_object_get_ex(md, "stderr", &v))
		fwrite(json_object_get_string(v), 1, (size_t)json_object_get_string_len(v), stderr);
	int code = json_object_object_get_ex(md, "return", &v) ? json_object_get_int(v) : 1;
	json_object_put(md);
	return code;
}

/* What cannot change live says so: a running VM keeps its harts until its
 * next start (limits.cpu is a CPU quota meanwhile). */
static void vm_cpu_notice(struct cli *cli, const char *name, const char *path, const char *cpu)
{
	struct json_object *md = NULL;
	if (cli_request(cli, "GET", path, NULL, &md) == 0 &&
	    strcmp(jstr(md, "type"), "virtual-machine") == 0 &&
	    (strcmp(jstr(md, "status"), "Running") == 0 ||
	     strcmp(jstr(md, "status"), "Frozen") == 0))
		fprintf(stderr,
			"%s is a running VM: limits.cpu=%s is a CPU quota now; its hart count "
			"follows at its next start\n",
			name, cpu);
	json_object_put(md);
}

int cmd_config(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "trust") == 0)
		return cmd_config_trust(cli, argc - 1, argv + 1);
	if (argc < 3)
		return cli_usage("config", "expected set, get, unset or show and a NAME");
	const char *sub = argv[1], *name = argv[2];
	char *path = instance_path(name, "");
	int r;
	if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0) {
		bool set = sub[0] == 's';
		if (argc < 4) {
			free(path);
			return cli_usage("config", "%s: expected %s", sub,
					 set ? "KEY=VALUE..." : "KEY...");
		}
		struct json_object *cfg = json_object_new_object(), *exp = NULL;
		bool has_exp = false;
		for (int i = 3; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			if (set && (!eq || eq == argv[i])) {
				json_object_put(cfg);
				free(path);
				return cli_usage("config", "set %s: expected KEY=VALUE", argv[i]);
			}
			if (set)
				*eq = 0;
			if (strcmp(argv[i], "expires") == 0) { /* not a config key: policy.h */
				json_object_put(exp);
				exp = set ? json_object_new_string(eq + 1) : NULL;
				has_exp = true;
			} else {
				json_object_object_add(cfg, argv[i],
						       set ? json_object_new_string(eq + 1) : NULL);
			}
		}
		struct json_object *b = json_object_new_object();
		if (json_object_object_length(cfg) || !has_exp)
			json_object_object_add(b, "config", cfg);
		else
			json_object_put(cfg);
		if (has_exp)
			json_object_object_add(b, "expires", exp);
		char *cpu = NULL; /* the body goes with the request */
		struct json_object *v;
		if (set && json_object_object_get_ex(cfg, "limits.cpu", &v))
			cpu = strdup(json_object_get_string(v));
		r = cli_request(cli, "PATCH", path, b, NULL);
		if (r == 0 && cpu)
			vm_cpu_notice(cli, name, path, cpu);
		free(cpu);
	} else if (strcmp(sub, "get") == 0 || strcmp(sub, "show") == 0) {
		bool get = sub[0] == 'g';
		if (argc != (get ? 4 : 3)) {
			free(path);
			return cli_usage("config",
					 get ? "get: expected NAME KEY" : "show: expected NAME");
		}
		struct json_object *md = NULL, *cfg = NULL;
		r = cli_request(cli, "GET", path, NULL, &md);
		if (r == 0) {
			json_object_object_get_ex(md, "config", &cfg);
			if (get) {
				printf("%s\n", strcmp(argv[3], "expires") == 0
						   ? jstr(md, "expires_at")
						   : jstr(cfg, argv[3]));
			} else {
				struct json_object *o = json_object_new_object();
				json_object_object_add(o, "config", json_object_get(cfg));
				out_value(cli, o);
				json_object_put(o);
			}
		}
		json_object_put(md);
	} else {
		r = cli_usage("config", "unknown subcommand %s", sub);
	}
	free(path);
	return r;
}

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	if (argc < 3)
		return cli_usage("snapshot", "expected create, list, restore or delete and a NAME");
	const char *sub = argv[1], *name = argv[2];
	int r;
	bool stateful = false;
	if (strcmp(sub, "create") == 0 && argc >= 4 && strcmp(argv[argc - 1], "--stateful") == 0) {
		stateful = true;
		argc--;
	}
	if (strcmp(sub, "create") == 0 && (argc == 3 || argc == 4)) {
		char snap[32];
		if (argc == 4) {
			snprintf(snap, sizeof(snap), "%.31s", argv[3]);
		} else { /* snap0, snap1, ...: the first free one, as Incus names them */
			char *lp = instance_path(name, "/snapshots?recursion=1");
			struct json_object *list = NULL;
			r = cli_request(cli, "GET", lp, NULL, &list);
			free(lp);
			if (r)
				return r;
			for (unsigned i = 0;; i++) {
				snprintf(snap, sizeof(snap), "snap%u", i);
				bool used = false;
				for (size_t k = 0; k < json_object_array_length(list); k++)
					used |=
					    strcmp(jstr(json_object_array_get_idx(list, k), "name"),
						   snap) == 0;
				if (!used)
					break;
			}
			json_object_put(list);
		}
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "name", json_object_new_string(snap));
		if (stateful)
			json_object_object_add(b, "stateful", json_object_new_boolean(true));
		char *path = instance_path(name, "/snapshots");
		r = cli_request(cli, "POST", path, b, NULL);
		free(path);
		if (r == 0 && argc == 3)
			printf("Snapshot %s created\n", snap);
		return r;
	}
	if (strcmp(sub, "list") == 0 && argc == 3) {
		char *path = instance_path(name, "/snapshots?recursion=1");
		static const char *const headers[] = { "NAME", "CREATED" };
		static const char *const keys[] = { "name", "created_at" };
		r = cli_list(cli, path, headers, keys, 2);
		free(path);
		return r;
	}
	if (strcmp(sub, "restore") == 0 && argc == 4) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "restore", json_object_new_string(argv[3]));
		char *path = instance_path(name, "");
		r = cli_request(cli, "PUT", path, b, NULL);
		free(path);
		return r;
	}
	if (strcmp(sub, "delete") == 0 && argc == 4) {
		char *e = curl_easy_escape(NULL, argv[3], 0);
		char *suffix = NULL;
		if (!e || asprintf(&suffix, "/snapshots/%s", e) < 0)
			suffix = NULL;
		curl_free(e);
		char *path = suffix ? instance_path(name, suffix) : NULL;
		free(suffix);
		r = path ? cli_request(cli, "DELETE", path, NULL, NULL) : 1;
		free(path);
		return r;
	}
	return cli_usage("snapshot", "create NAME [SNAP] | list NAME | restore NAME SNAP | delete "
				     "NAME SNAP");
}
