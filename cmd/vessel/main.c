/*
 * vessel - the command-line client of vesseld, in Incus's style: one const
 * table of commands (this file) dispatching to thin functions (cmd_*.c)
 * that build API requests through lib/mgr's client.  Global options may
 * appear anywhere before "--": --socket PATH (or $VESSEL_SOCKET) and
 * --format table|json|yaml|csv.  Every failure is one line on stderr and a
 * non-zero exit status (1: the request failed, 2: bad usage).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
	{ "launch", cmd_launch, "launch IMAGE NAME [-c KEY=VALUE]... [--network NETWORK]",
	  "create and start an instance" },
	{ "init", cmd_init, "init IMAGE NAME [-c KEY=VALUE]... [--network NETWORK]",
	  "create an instance" },
	{ "list", cmd_list, "list", "list instances" },
	{ "info", cmd_info, "info NAME", "show an instance" },
	{ "start", cmd_start, "start NAME...", "start instances" },
	{ "stop", cmd_stop, "stop [--force] [--timeout SECONDS] NAME...",
	  "stop instances (cleanly, forced after the timeout)" },
	{ "restart", cmd_restart, "restart [--force] [--timeout SECONDS] NAME...",
	  "restart instances" },
	{ "pause", cmd_pause, "pause NAME...", "freeze instances" },
	{ "resume", cmd_resume, "resume NAME...", "thaw instances" },
	{ "delete", cmd_delete, "delete [--force] NAME...", "delete instances" },
	{ "rename", cmd_rename, "rename NAME NEW-NAME", "rename a stopped instance" },
	{ "exec", cmd_exec,
	  "exec NAME [--env KEY=VALUE]... [--cwd DIR] [--user UID[:GID]] [--stdin] -- COMMAND...",
	  "run a command in an instance" },
	{ "config", cmd_config,
	  "config set NAME KEY=VALUE... | get NAME KEY | unset NAME KEY... | show NAME",
	  "instance configuration" },
	{ "snapshot", cmd_snapshot,
	  "snapshot create NAME [SNAP] | list NAME | restore NAME SNAP | delete NAME SNAP",
	  "snapshots of an instance's root" },
	{ "image", cmd_image,
	  "image import FILE|DIR [--alias ALIAS] | list | info IMAGE | delete IMAGE... | "
	  "alias create ALIAS IMAGE | alias delete ALIAS",
	  "images" },
	{ "network", cmd_network,
	  "network create NAME [--subnet CIDR] [--nat|--no-nat] [--isolated] | list | info NAME | "
	  "delete NAME",
	  "networks (a bridge, dnsmasq, NAT)" },
	{ "operation", cmd_operation, "operation list", "operations" },
	{ "monitor", cmd_monitor, "monitor [--type TYPE[,TYPE]]", "print events as they happen" },
};

int cli_fail(const struct vs_err *err)
{
	fprintf(stderr, "vessel: error: %s\n", err && err->msg[0] ? err->msg : "failed");
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *usage = "";
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			usage = commands[i].usage;
	fprintf(stderr, "vessel: error: %s: %s (usage: vessel %s)\n", cmd, msg, usage);
	return 2;
}

struct mgr_client *cli_client(struct cli *cli, struct vs_err *err)
{
	if (!cli->client)
		cli->client = mgr_client_new(cli->socket_path, err);
	return cli->client;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: vessel [--socket PATH] [--format table|json|yaml|csv] COMMAND ...\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n             %s\n", commands[i].name, commands[i].summary,
			commands[i].usage);
}

/* Take --socket and --format out of argv (up to "--"); 0 or 2. */
static int global_options(struct cli *cli, int *argc, char **argv)
{
	int w = 1;
	bool rest = false;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		int opt = 0; /* 1 socket, 2 format */
		if (!rest && strcmp(a, "--") == 0)
			rest = true;
		if (!rest && (strcmp(a, "--socket") == 0 || strcmp(a, "--format") == 0)) {
			opt = a[2] == 's' ? 1 : 2;
			if (i + 1 >= *argc) {
				fprintf(stderr, "vessel: error: %s needs a value\n", a);
				return 2;
			}
			val = argv[++i];
		} else if (!rest &&
			   (strncmp(a, "--socket=", 9) == 0 || strncmp(a, "--format=", 9) == 0)) {
			opt = a[2] == 's' ? 1 : 2;
			val = a + 9;
		}
		if (!opt) {
			argv[w++] = argv[i];
			continue;
		}
		if (opt == 1) {
			cli->socket_path = val;
			continue;
		}
		static const char *const names[] = { "table", "json", "yaml", "csv" };
		bool ok = false;
		for (int k = 0; k < 4; k++)
			if (strcmp(val, names[k]) == 0) {
				cli->format = (enum cli_format)k;
				ok = true;
			}
		if (!ok) {
			fprintf(stderr,
				"vessel: error: --format %s: expected table, json, yaml or "
				"csv\n",
				val);
			return 2;
		}
	}
	argv[w] = NULL;
	*argc = w;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { .socket_path = getenv("VESSEL_SOCKET") };
	if (!cli.socket_path || !*cli.socket_path)
		cli.socket_path = "/run/vessel/vessel.sock";
	int r = global_options(&cli, &argc, argv);
	if (r)
		return r;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vessel 0.1.0\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, argv[1]) == 0) {
			r = commands[i].run(&cli, argc - 1, argv + 1);
			mgr_client_free(cli.client);
			return r;
		}
	fprintf(stderr, "vessel: error: unknown command \"%s\" (see vessel --help)\n", argv[1]);
	return 2;
}
