/*
 * cmd_lifecycle.c - create, run, start, state, kill, delete, pause, resume,
 * checkpoint and restore: argument parsing only; the operations are in
 * lib/ct (container.h).  checkpoint and restore take runc's options so that
 * their refusal (no CRIU support) is the error a client sees, not an
 * "unknown option".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vessel/ct/container.h"

enum { OPT_PID_FILE = 256, OPT_CONSOLE, OPT_NO_PIVOT, OPT_NO_KEYRING, OPT_PRESERVE, OPT_IGNORE };

static const struct option create_opts[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE },
	{ "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
	{ "no-new-keyring", no_argument, NULL, OPT_NO_KEYRING },
	{ "preserve-fds", required_argument, NULL, OPT_PRESERVE },
	{ "detach", no_argument, NULL, 'd' },
	{ "keep", no_argument, NULL, OPT_IGNORE },
	{ "no-subreaper", no_argument, NULL, OPT_IGNORE },
	{ NULL, 0, NULL, 0 },
};

/* Shared by create and run; returns 0, or 1 after reporting a usage error. */
static int parse_create(const char *cmd, int argc, char **argv, struct ct_create_opts *o,
			bool *detach)
{
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+b:d", create_opts, NULL)) != -1) {
		switch (c) {
		case 'b': o->bundle = optarg; break;
		case OPT_PID_FILE: o->pid_file = optarg; break;
		case OPT_CONSOLE: o->console_socket = optarg; break;
		case OPT_NO_PIVOT: o->no_pivot = true; break;
		case OPT_NO_KEYRING: o->no_new_keyring = true; break;
		case OPT_PRESERVE: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 1000)
				return cli_usage_error(cmd, "--preserve-fds %s: expected 0..1000",
						       optarg);
			o->preserve_fds = (int)n;
			break;
		}
		case 'd':
			if (!detach)
				return cli_usage_error(cmd, "unknown option --detach");
			*detach = true;
			break;
		case OPT_IGNORE: break;
		default: return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cmd, "expected exactly one container ID");
	o->id = argv[optind];
	return 0;
}

int cmd_create(const struct cli_globals *g, int argc, char **argv)
{
	struct ct_create_opts o = { .root = g->root };
	if (parse_create("create", argc, argv, &o, NULL))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	pid_t pid;
	if (ct_container_create(&o, &pid, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct ct_create_opts o = { .root = g->root };
	bool detach = false;
	if (parse_create("run", argc, argv, &o, &detach))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	int status = 0;
	if (ct_container_run(&o, detach, &status, &err) < 0)
		return cli_fail(&err);
	return status;
}

/* Commands taking just an ID (and known harmless flags). */
static int parse_id(const char *cmd, int argc, char **argv, const char **id)
{
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(cmd, "expected exactly one container ID");
	*id = argv[1];
	return 0;
}

int cmd_start(const struct cli_globals *g, int argc, char **argv)
{
	const char *id = NULL;
	if (parse_id("start", argc, argv, &id))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	if (ct_container_start(g->root, id, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_state(const struct cli_globals *g, int argc, char **argv)
{
	const char *id = NULL;
	if (parse_id("state", argc, argv, &id))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	char *json = NULL;
	if (ct_container_state(g->root, id, &json, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", json);
	free(json);
	return 0;
}

int cmd_kill(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else
			return cli_usage_error("kill", "unknown option %s", argv[optind - 1]);
	}
	if (optind >= argc || argc - optind > 2)
		return cli_usage_error("kill", "expected a container ID and an optional signal");
	const char *id = argv[optind];
	const char *signame = optind + 1 < argc ? argv[optind + 1] : "SIGTERM";
	int sig = ct_signal_from_name(signame);
	struct vs_err err = VS_ERR_INIT;
	if (sig < 0) {
		vs_errf(&err, EINVAL, "kill: unknown signal \"%s\"", signame);
		return cli_fail(&err);
	}
	if (ct_container_kill(g->root, id, sig, all, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_delete(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f", opts, NULL)) != -1) {
		if (c == 'f')
			force = true;
		else
			return cli_usage_error("delete", "unknown option %s", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("delete", "expected exactly one container ID");
	struct vs_err err = VS_ERR_INIT;
	if (ct_container_delete(g->root, argv[optind], force, &err) < 0)
		return cli_fail(&err);
	return 0;
}

static int pause_resume(const struct cli_globals *g, int argc, char **argv, bool pause)
{
	const char *id = NULL;
	if (parse_id(pause ? "pause" : "resume", argc, argv, &id))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	if (ct_container_pause(g->root, id, pause, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_pause(const struct cli_globals *g, int argc, char **argv)
{
	return pause_resume(g, argc, argv, true);
}

int cmd_resume(const struct cli_globals *g, int argc, char **argv)
{
	return pause_resume(g, argc, argv, false);
}

/* runc's checkpoint and restore options (none changes the answer) */
static const struct option criu_opts[] = {
	{ "image-path", required_argument, NULL, 0 },
	{ "work-path", required_argument, NULL, 0 },
	{ "parent-path", required_argument, NULL, 0 },
	{ "leave-running", no_argument, NULL, 0 },
	{ "tcp-established", no_argument, NULL, 0 },
	{ "ext-unix-sk", no_argument, NULL, 0 },
	{ "shell-job", no_argument, NULL, 0 },
	{ "lazy-pages", no_argument, NULL, 0 },
	{ "status-fd", required_argument, NULL, 0 },
	{ "page-server", required_argument, NULL, 0 },
	{ "file-locks", no_argument, NULL, 0 },
	{ "pre-dump", no_argument, NULL, 0 },
	{ "manage-cgroups-mode", required_argument, NULL, 0 },
	{ "empty-ns", required_argument, NULL, 0 },
	{ "auto-dedup", no_argument, NULL, 0 },
	{ "bundle", required_argument, NULL, 'b' },
	{ "detach", no_argument, NULL, 'd' },
	{ "pid-file", required_argument, NULL, 0 },
	{ "console-socket", required_argument, NULL, 0 },
	{ "no-subreaper", no_argument, NULL, 0 },
	{ "no-pivot", no_argument, NULL, 0 },
	{ "lsm-profile", required_argument, NULL, 0 },
	{ "lsm-mount-context", required_argument, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

static int parse_criu(const char *cmd, int argc, char **argv, const char **id)
{
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+b:d", criu_opts, NULL)) != -1)
		if (c == '?' || c == ':')
			return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
	if (optind != argc - 1)
		return cli_usage_error(cmd, "expected exactly one container ID");
	*id = argv[optind];
	return 0;
}

int cmd_checkpoint(const struct cli_globals *g, int argc, char **argv)
{
	const char *id = NULL;
	if (parse_criu("checkpoint", argc, argv, &id))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	ct_container_checkpoint(g->root, id, &err);
	return cli_fail(&err);
}

int cmd_restore(const struct cli_globals *g, int argc, char **argv)
{
	const char *id = NULL;
	if (parse_criu("restore", argc, argv, &id))
		return 1;
	struct vs_err err = VS_ERR_INIT;
	if (ct_id_validate(id, &err) == 0)
		vs_errf(&err, ENOTSUP,
			"restore of container %s refused: vessel-runtime does not implement "
			"checkpoint/restore (it has no CRIU support); nothing was created",
			id);
	return cli_fail(&err);
}
