/*
 * vessel-runtime - an OCI runtime (runtime-spec 1.1) with runc's command
 * line, so podman/conmon and containerd's shim can drive it.  This file
 * parses the global options, installs the log handler and dispatches
 * through a const command table; the commands live in cmd_*.c and the
 * logic in lib/ct.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/ct/config.h"

static const struct cli_command commands[] = {
	{ "create", cmd_create,
	  "create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] "
	  "[--no-new-keyring] [--preserve-fds N] ID" },
	{ "start", cmd_start, "start ID" },
	{ "run", cmd_run, "run [create options] [--detach] ID" },
	{ "state", cmd_state, "state ID" },
	{ "kill", cmd_kill, "kill [--all] ID [SIGNAL]" },
	{ "delete", cmd_delete, "delete [--force] ID" },
	{ "exec", cmd_exec,
	  "exec [--process F | ARGS] [--detach] [--pid-file F] [--tty] [--console-socket S] "
	  "[--cwd DIR] [--env K=V] [--user UID[:GID]] ID [ARGS...]" },
	{ "pause", cmd_pause, "pause ID" },
	{ "resume", cmd_resume, "resume ID" },
	{ "update", cmd_update,
	  "update [--resources F|-] [--memory N] [--cpu-quota N] [--pids-limit N] ... ID" },
	{ "ps", cmd_ps, "ps [--format table|json] ID" },
	{ "events", cmd_events, "events [--stats] [--interval 5s] ID" },
	{ "checkpoint", cmd_checkpoint, "checkpoint [runc options] ID (refused: no CRIU support)" },
	{ "restore", cmd_restore, "restore [runc options] ID (refused: no CRIU support)" },
	{ "list", cmd_list, "list [--format table|json] [--quiet]" },
	{ "features", cmd_features, "features" },
	{ "spec", cmd_spec, "spec [--bundle DIR] [--rootless]" },
};

static struct cli_globals globals = { .root = "/run/vessel" };
static FILE *log_file;

static void log_write_file(const char *level, const char *msg)
{
	if (!log_file)
		return;
	char ts[40];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (globals.log_json) {
		fputs("{\"level\":\"", log_file);
		fputs(level, log_file);
		fputs("\",\"msg\":\"", log_file);
		for (const char *p = msg; *p; p++) {
			unsigned char ch = (unsigned char)*p;
			if (ch == '"' || ch == '\\')
				fprintf(log_file, "\\%c", ch);
			else if (ch < 0x20)
				fprintf(log_file, "\\u%04x", ch);
			else
				fputc(ch, log_file);
		}
		fprintf(log_file, "\",\"time\":\"%s\"}\n", ts);
	} else {
		fprintf(log_file, "time=\"%s\" level=%s msg=\"%s\"\n", ts, level, msg);
	}
	fflush(log_file);
}

static void log_handler(enum vs_log_level level, const char *msg, void *opaque)
{
	const char *name = level == VS_LOG_WARN ? "warning" : vs_log_level_name(level);
	log_write_file(name, msg);
	if (level <= VS_LOG_WARN || globals.debug)
		fprintf(stderr, "vessel-runtime: %s: %s\n", name, msg);
}

int cli_fail(const struct vs_err *err)
{
	const char *msg = err && err->msg[0] ? err->msg : "unknown error";
	log_write_file("error", msg);
	fprintf(stderr, "vessel-runtime: error: %s\n", msg);
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	struct vs_err err = VS_ERR_INIT;
	char msg[VS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *usage = "";
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			usage = commands[i].usage;
	vs_errf(&err, EINVAL, "%s: %s (usage: vessel-runtime %s)", cmd, msg, usage);
	return cli_fail(&err);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: vessel-runtime [--root DIR] [--log FILE] [--log-format text|json] "
		     "[--debug] COMMAND ...\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	enum { OPT_ROOT = 256, OPT_LOG, OPT_LOG_FORMAT, OPT_SYSTEMD, OPT_ROOTLESS, OPT_CRIU };
	static const struct option opts[] = {
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "debug", no_argument, NULL, 'd' },
		{ "systemd-cgroup", no_argument, NULL, OPT_SYSTEMD },
		{ "rootless", required_argument, NULL, OPT_ROOTLESS },
		{ "criu", required_argument, NULL, OPT_CRIU },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	vs_stdio_ensure(); /* CI and some supervisors start us without stdin */
	bool systemd = false;
	const char *log_format = "text";
	int c;
	while ((c = getopt_long(argc, argv, "+dvh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT: globals.root = optarg; break;
		case OPT_LOG: globals.log_path = optarg; break;
		case OPT_LOG_FORMAT: log_format = optarg; break;
		case 'd': globals.debug = true; break;
		case OPT_SYSTEMD: systemd = true; break;
		case OPT_ROOTLESS:
		case OPT_CRIU: break; /* accepted for runc compatibility */
		case 'v':
			printf("vessel-runtime version 0.1.0\nspec: %s\n", CT_OCI_VERSION);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (strcmp(log_format, "json") == 0) {
		globals.log_json = true;
	} else if (strcmp(log_format, "text") != 0) {
		fprintf(stderr, "vessel-runtime: error: --log-format %s: expected text or json\n",
			log_format);
		return 1;
	}
	if (globals.log_path) {
		int fd = open(globals.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0)
			log_file = fdopen(fd, "a");
	}
	vs_log_set_handler(log_handler, NULL);
	vs_log_set_level(globals.debug ? VS_LOG_DEBUG : VS_LOG_INFO);
	if (systemd) {
		struct vs_err err = VS_ERR_INIT;
		vs_errf(&err, ENOTSUP,
			"--systemd-cgroup is not supported: vessel-runtime manages cgroupfs "
			"directly (use cgroup_manager = \"cgroupfs\")");
		return cli_fail(&err);
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0) {
			int r = commands[i].run(&globals, argc - optind, argv + optind);
			if (log_file)
				fclose(log_file);
			return r;
		}
	struct vs_err err = VS_ERR_INIT;
	vs_errf(&err, EINVAL, "unknown command \"%s\" (see vessel-runtime --help)", name);
	return cli_fail(&err);
}
