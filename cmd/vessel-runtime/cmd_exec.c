/*
 * cmd_exec.c - `exec`: runc-compatible options; the work is
 * ct_container_exec() in lib/ct/exec.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vessel/ct/container.h"

#define EXEC_MAX_LIST 256

int cmd_exec(const struct cli_globals *g, int argc, char **argv)
{
	enum {
		OPT_PID_FILE = 256,
		OPT_CONSOLE,
		OPT_CWD,
		OPT_PRESERVE,
		OPT_NNP,
		OPT_IGNORE_ARG,
		OPT_IGNORE
	};
	static const struct option opts[] = {
		{ "process", required_argument, NULL, 'p' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "tty", no_argument, NULL, 't' },
		{ "console-socket", required_argument, NULL, OPT_CONSOLE },
		{ "cwd", required_argument, NULL, OPT_CWD },
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "cap", required_argument, NULL, 'c' },
		{ "preserve-fds", required_argument, NULL, OPT_PRESERVE },
		{ "no-new-privs", no_argument, NULL, OPT_NNP },
		{ "apparmor", required_argument, NULL, OPT_IGNORE_ARG },
		{ "process-label", required_argument, NULL, OPT_IGNORE_ARG },
		{ "cgroup", required_argument, NULL, OPT_IGNORE_ARG },
		{ "ignore-paused", no_argument, NULL, OPT_IGNORE },
		{ NULL, 0, NULL, 0 },
	};
	struct ct_exec_opts o = { .root = g->root };
	const char *env[EXEC_MAX_LIST + 1] = { NULL };
	const char *caps[EXEC_MAX_LIST + 1] = { NULL };
	unsigned nenv = 0, ncaps = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:dte:u:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.process_file = optarg; break;
		case 'd': o.detach = true; break;
		case OPT_PID_FILE: o.pid_file = optarg; break;
		case 't': o.tty = true; break;
		case OPT_CONSOLE: o.console_socket = optarg; break;
		case OPT_CWD: o.cwd = optarg; break;
		case 'e':
			if (nenv == EXEC_MAX_LIST)
				return cli_usage_error("exec", "too many --env");
			env[nenv++] = optarg;
			break;
		case 'u': o.user = optarg; break;
		case 'c':
			if (ncaps == EXEC_MAX_LIST)
				return cli_usage_error("exec", "too many --cap");
			caps[ncaps++] = optarg;
			break;
		case OPT_PRESERVE: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 1000)
				return cli_usage_error(
				    "exec", "--preserve-fds %s: expected 0..1000", optarg);
			o.preserve_fds = (int)n;
			break;
		}
		case OPT_NNP: o.no_new_privs = true; break;
		case OPT_IGNORE_ARG:
		case OPT_IGNORE: break;
		default: return cli_usage_error("exec", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("exec", "expected a container ID");
	o.id = argv[optind];
	o.args = (const char *const *)&argv[optind + 1];
	o.env = env;
	o.caps = caps;
	if (o.process_file && argv[optind + 1])
		return cli_usage_error("exec", "give either --process or a command, not both");
	struct vs_err err = VS_ERR_INIT;
	int status = 0;
	if (ct_container_exec(&o, &status, &err) < 0)
		return cli_fail(&err);
	return status;
}
