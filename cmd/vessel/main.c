/*
 * vessel - the command-line client of vesseld, in Incus's style: one const
 * table of commands (this file) dispatching to thin functions (cmd_*.c)
 * that build API requests through lib/mgr's client.  Global options may
 * appear anywhere before "--": --socket PATH (or $VESSEL_SOCKET), --remote
 * NAME|URL (or $VESSEL_REMOTE) with --cert, --key and --server-cert (see
 * cmd_remote.c), and --format table|json|yaml|csv.  Every failure is one line on stderr and a
 * non-zero exit status (1: the request failed, 2: bad usage).
 */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_completion(struct cli *cli, int argc, char **argv);
static int cmd_help(struct cli *cli, int argc, char **argv);
static void usage(FILE *out);

#define OPTS(...) ((const struct cli_option[]){ __VA_ARGS__, { NULL, NULL } })

static const struct cli_option create_opts[] = {
	{ "-c, --config KEY=VALUE",
	  "set a configuration key (repeatable): limits.cpu, limits.memory, "
	  "user.*" },
	{ "--vm", "a virtual machine instead of a container" },
	{ "--network NETWORK",
	  "attach a NIC on this managed network (repeatable: eth0, eth1, ...; up to 4, a VM 3)" },
	{ "--expires 7d|TIME",
	  "expire after a duration (counted from the change) or at an RFC 3339 time" },
	{ "--target MEMBER", "in a cluster: the member that runs the instance" },
	{ NULL, NULL },
};
static const struct cli_option stop_opts[] = {
	{ "-f, --force", "kill at once instead of a clean stop" },
	{ "--timeout SECONDS", "how long a clean stop may take before it is forced (default 30)" },
	{ NULL, NULL },
};

static const struct cli_command commands[] = {
	{ "launch", cmd_launch,
	  "launch IMAGE NAME [-c KEY=VALUE]... [--network NETWORK]... [--expires 7d|TIME] "
	  "[--target "
	  "MEMBER]",
	  "create and start an instance", create_opts,
	  "IMAGE is an alias or a fingerprint prefix; busybox and debian (Debian 12) are built "
	  "in." },
	{ "init", cmd_init,
	  "init IMAGE NAME [-c KEY=VALUE]... [--network NETWORK]... [--expires 7d|TIME] [--target "
	  "MEMBER]",
	  "create an instance", create_opts, NULL },
	{ "list", cmd_list, "list", "list instances", NULL,
	  "One row per instance: name, type, status, IPv4 address, image, limits." },
	{ "info", cmd_info, "info NAME", "show an instance", NULL, NULL },
	{ "start", cmd_start, "start NAME...", "start instances", NULL, NULL },
	{ "stop", cmd_stop, "stop [--force] [--timeout SECONDS] NAME...",
	  "stop instances (cleanly, forced after the timeout)", stop_opts, NULL },
	{ "restart", cmd_restart, "restart [--force] [--timeout SECONDS] NAME...",
	  "restart instances", stop_opts, NULL },
	{ "pause", cmd_pause, "pause NAME...", "freeze instances", NULL, NULL },
	{ "resume", cmd_resume, "resume NAME...", "thaw instances", NULL, NULL },
	{ "delete", cmd_delete, "delete [--force] NAME...", "delete instances",
	  OPTS({ "-f, --force", "stop a running instance first" }), NULL },
	{ "rename", cmd_rename, "rename NAME NEW-NAME", "rename a stopped instance", NULL, NULL },
	{ "exec", cmd_exec,
	  "exec NAME [--env KEY=VALUE]... [--cwd DIR] [--user UID[:GID]] [--stdin] -- COMMAND...",
	  "run a command in an instance",
	  OPTS({ "-e, --env KEY=VALUE", "an environment variable for the command (repeatable)" },
	       { "-w, --cwd DIR", "the working directory" },
	       { "-u, --user UID[:GID]", "run as this user and group" },
	       { "-i, --stdin", "pass stdin to the command" }),
	  "The command's stdout and stderr are printed when it ends; vessel exits with its "
	  "status." },
	{ "console", cmd_console, "console NAME [--show-log]",
	  "attach to an instance's console (Ctrl-a q detaches), or print its log",
	  OPTS({ "--show-log", "print what the console printed so far, instead of attaching" }),
	  "Attached, the terminal is in raw mode and every key goes to the instance; Ctrl-a q "
	  "detaches, Ctrl-a Ctrl-a sends one Ctrl-a. A container's console is its terminal (its "
	  "first process's stdio and /dev/console), a VM's its serial port. Over the local socket "
	  "only." },
	{ "file", cmd_file,
	  "file push LOCAL|- NAME/PATH [--mode MODE] [--uid UID] [--gid GID] | "
	  "file pull NAME/PATH LOCAL|-",
	  "copy files into or out of an instance",
	  OPTS({ "--mode MODE", "push: the new file's permission bits, octal (default: the local "
				"file's, 0644 from stdin)" },
	       { "--uid UID", "push: the new file's owner (default 0)" },
	       { "--gid GID", "push: the new file's group (default 0)" }),
	  "PATH is absolute in the instance and resolved inside its root: symlinks and .. cannot "
	  "leave it. Works on running and stopped instances. LOCAL - is stdin (push) or stdout "
	  "(pull); pull into a directory keeps the file's name." },
	{ "config", cmd_config,
	  "config set NAME KEY=VALUE... | get NAME KEY | unset NAME KEY... | show NAME | "
	  "trust add CERTFILE [--name NAME] | trust list | trust remove FINGERPRINT",
	  "instance configuration; the TLS trust store",
	  OPTS({ "--name NAME", "trust add: a name for the certificate" }),
	  "limits.memory and limits.cpu change a running instance live; a value above the host's "
	  "is refused." },
	{ "snapshot", cmd_snapshot,
	  "snapshot create NAME [SNAP] [--stateful] | list NAME | restore NAME SNAP | delete NAME "
	  "SNAP",
	  "snapshots of an instance's root",
	  OPTS({ "--stateful", "create: a running VM's state too (restoring it continues it)" }),
	  NULL },
	{ "image", cmd_image,
	  "image import FILE|DIR [--alias ALIAS] | list | info IMAGE | delete IMAGE... | "
	  "alias create ALIAS IMAGE | alias delete ALIAS",
	  "images", OPTS({ "-a, --alias ALIAS", "import: name the image" }),
	  "import takes an OCI image layout directory or an OCI archive (podman save --format "
	  "oci-archive); a progress bar is drawn when stdout is a terminal." },
	{ "network", cmd_network,
	  "network create NAME [--subnet CIDR] [--nat|--no-nat] [--isolated] | list | info NAME | "
	  "delete NAME",
	  "networks (a bridge, dnsmasq, NAT)",
	  OPTS({ "--subnet CIDR", "create: the IPv4 subnet (default: a free 10.x.y.0/24)" },
	       { "--nat, --no-nat", "create: masquerade traffic out of the host (default on)" },
	       { "--isolated", "create: no route out at all" }),
	  NULL },
	{ "storage", cmd_storage,
	  "storage volume create NAME --size SIZE [--format raw|qcow2] [--target MEMBER] | list | "
	  "info NAME | resize "
	  "NAME SIZE | "
	  "delete NAME | attach NAME INSTANCE PATH | detach NAME INSTANCE | "
	  "snapshot create NAME [SNAP] | snapshot list NAME | snapshot restore NAME SNAP | "
	  "snapshot delete NAME SNAP",
	  "storage volumes (ext4 in raw or qcow2 files; attached to stopped instances) and their "
	  "snapshots",
	  OPTS({ "--size SIZE", "create: the volume's size (e.g. 1GiB)" },
	       { "--format FORMAT", "create: raw (default) or qcow2 (VMs only)" },
	       { "--target MEMBER", "create, in a cluster: the member that holds it (default: the "
				    "one asked); other requests go to the volume's member" }),
	  "info (or show) lists a volume's snapshots. A snapshot is a copy of the volume's file "
	  "(a reflink where the file system allows, else its data only), named snap0, snap1... "
	  "when SNAP is left out; a running container's volume is frozen while it is copied, a "
	  "running VM's is read-only in the guest meanwhile (a file open for writing there makes "
	  "the snapshot fail). restore needs the instance that has the volume stopped; deleting "
	  "a volume deletes its snapshots." },
	{ "remote", cmd_remote,
	  "remote add NAME https://HOST:PORT [--server-cert FILE|--accept-certificate] | list | "
	  "remove NAME",
	  "remote vesseld servers (TLS, a client certificate)",
	  OPTS({ "--server-cert FILE", "add: the server's certificate, pinned" },
	       { "--accept-certificate", "add: pin the certificate the server shows" }),
	  NULL },
	{ "export", cmd_export, "export NAME FILE [--snapshots] [--stateful]",
	  "write an instance and its storage volumes to one file (tar + zstd, checksummed)",
	  OPTS({ "--snapshots", "include its snapshots and its volumes' (a VM's own: refused)" },
	       { "--stateful", "a running VM: its running state too (it is stopped)" }),
	  NULL },
	{ "import", cmd_import, "import FILE [NAME]", "recreate an instance from an export file",
	  NULL, NULL },
	{ "copy", cmd_copy, "copy NAME REMOTE:[NEW-NAME] [--snapshots]",
	  "copy an instance and its storage volumes to another vesseld",
	  OPTS({ "--snapshots", "copy its snapshots too" }), NULL },
	{ "move", cmd_move, "move NAME REMOTE:[NEW-NAME]",
	  "move an instance and its storage volumes to another vesseld (containers: stop, copy, "
	  "start)",
	  NULL, NULL },
	{ "project", cmd_project,
	  "project policy set PROJECT KEY=VALUE... | unset PROJECT KEY... | show PROJECT",
	  "lifecycle policies of a project (instances labelled user.project=PROJECT)", NULL, NULL },
	{ "sprawl", cmd_sprawl, "sprawl",
	  "what holds resources without earning them, with its cost", NULL, NULL },
	{ "prune", cmd_prune, "prune [--dry-run]", "remove the sprawl that policies allow",
	  OPTS({ "--dry-run", "only list what would be removed" }), NULL },
	{ "audit", cmd_audit, "audit [--since TIME] [--instance NAME] | audit --verify",
	  "the audit log of changes, and its hash-chain check",
	  OPTS({ "--since TIME", "only records from this time (RFC 3339) on" },
	       { "--instance NAME", "only records about this instance" },
	       { "--verify", "check the hash chain; exit 1 naming the first bad record" }),
	  NULL },
	{ "cluster", cmd_cluster,
	  "cluster init NAME ADDRESS | join NAME ADDRESS --token TOKEN | "
	  "join NAME ADDRESS MEMBER-ADDRESS | add NAME [--expiry DURATION] | list-tokens | "
	  "revoke-token NAME | list | remove [--force] NAME | evacuate NAME | describe NAME TEXT",
	  "cluster members (dqlite; ADDRESS is HOST:PORT of the member's Raft node, TLS with "
	  "the cluster certificate, which a join token brings)",
	  OPTS({ "--token TOKEN",
		 "join: the token `vessel cluster add NAME` printed on a member (one use, "
		 "3 hours by default)" },
	       { "--expiry DURATION", "add: the token's lifetime (N, Ns, Nm, Nh, Nd; default 3h)" },
	       { "--force", "remove: a member that does not answer" }),
	  "On a member, `vessel cluster add NAME` prints a one-time join token for a new "
	  "member NAME; on the new host, `vessel cluster join NAME ADDRESS --token TOKEN` "
	  "fetches the cluster certificate with it (from a member whose API certificate the "
	  "token pins) and joins. `list-tokens` shows the pending tokens, `revoke-token NAME` "
	  "withdraws one. The older form `join NAME ADDRESS MEMBER-ADDRESS` needs "
	  "STATE/cluster/cluster.crt and .key copied from a member first." },
	{ "top", cmd_top, "top [--sort cpu|memory|name|disk|net] [--interval SECONDS] [--once]",
	  "live usage of every instance (one table when not on a terminal)",
	  OPTS({ "--sort KEY",
		 "sort by cpu, memory, name, disk or net (keys c/m/n/d/t on a terminal)" },
	       { "--interval SECONDS", "refresh period" },
	       { "--once", "print one table and exit" }),
	  NULL },
	{ "advise", cmd_advise, "advise [NAME] [--apply]",
	  "right-sizing advice for limits.cpu and limits.memory from the usage history",
	  OPTS({ "--apply", "apply the advice live" }), NULL },
	{ "operation", cmd_operation, "operation list", "operations", NULL, NULL },
	{ "monitor", cmd_monitor, "monitor [--type TYPE[,TYPE]]", "print events as they happen",
	  OPTS({ "--type TYPE[,TYPE]", "only these event types (lifecycle, operation, logging)" }),
	  NULL },
	{ "completion", cmd_completion, "completion bash", "print a bash completion script", NULL,
	  NULL },
	{ "help", cmd_help, "help [COMMAND]",
	  "show the commands, or one command's usage and options", NULL, NULL },
};

static const struct cli_option global_opts[] = {
	{ "--socket PATH",
	  "vesseld's unix socket (default $VESSEL_SOCKET or /run/vessel/vessel.sock)" },
	{ "--remote NAME|https://HOST:PORT", "a remote vesseld over TLS (default $VESSEL_REMOTE)" },
	{ "--cert FILE, --key FILE", "the client certificate and key for --remote" },
	{ "--server-cert FILE", "the remote server's certificate, pinned" },
	{ "--format table|json|yaml|csv", "output of lists and objects (tables fit the terminal)" },
	{ NULL, NULL },
};

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_options(FILE *out, const struct cli_option *o)
{
	for (; o && o->flags; o++)
		fprintf(out, "  %-34s %s\n", o->flags, o->help);
}

/* `vessel help [COMMAND]` */
static int cmd_help(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct cli_command *c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "vessel: error: help: unknown command \"%s\"\n", argv[1]);
		return 2;
	}
	printf("usage: vessel %s\n\n%s\n", c->usage, c->summary);
	if (c->description)
		printf("\n%s\n", c->description);
	if (c->options) {
		printf("\noptions:\n");
		print_options(stdout, c->options);
	}
	return 0;
}

/* Text for roff: backslashes doubled, "-" as \-, a leading "." or "'" guarded. */
static void roff(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static void man_options(FILE *f, const struct cli_option *o)
{
	for (; o && o->flags; o++) {
		fputs(".TP\n.B ", f);
		roff(f, o->flags);
		fputs("\n", f);
		roff(f, o->help);
		fputs("\n", f);
	}
}

static int write_page(const char *dir, const struct cli_command *c)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/vessel%s%s.1", dir, c ? "-" : "", c ? c->name : "");
	FILE *f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "vessel: error: %s: %s\n", path, strerror(errno));
		return 1;
	}
	char upper[64];
	snprintf(upper, sizeof(upper), "VESSEL%s%s", c ? "-" : "", c ? c->name : "");
	for (char *p = upper; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	fprintf(f, ".TH %s 1 \"\" \"vessel 0.1.0\" \"vessel manual\"\n.SH NAME\n", upper);
	if (c) {
		fprintf(f, "vessel\\-%s \\- ", c->name);
		roff(f, c->summary);
		fputs("\n.SH SYNOPSIS\n.B vessel\n", f);
		roff(f, c->usage);
		fputs("\n.SH DESCRIPTION\n", f);
		roff(f, c->summary);
		fputs(".\n", f);
		if (c->description) {
			fputs(".PP\n", f);
			roff(f, c->description);
			fputs("\n", f);
		}
		if (c->options) {
			fputs(".SH OPTIONS\n", f);
			man_options(f, c->options);
		}
		fputs(".SH GLOBAL OPTIONS\n", f);
		man_options(f, global_opts);
		fputs(".SH EXIT STATUS\n0 on success; 1 when the request failed (one line on "
		      "stderr); 2 on a usage error.\n.SH SEE ALSO\n.BR vessel (1)\n",
		      f);
	} else {
		fputs("vessel \\- the command\\-line client of vesseld\n.SH SYNOPSIS\n.B vessel\n"
		      "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR ...\n.SH DESCRIPTION\n"
		      "Manages the containers and virtual machines, images, networks and storage "
		      "volumes of a vesseld, in Incus's style.\n.SH COMMANDS\n",
		      f);
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			fprintf(f, ".TP\n.BR vessel\\-%s (1)\n", commands[i].name);
			roff(f, commands[i].summary);
			fputs("\n", f);
		}
		fputs(".SH GLOBAL OPTIONS\n", f);
		man_options(f, global_opts);
		fputs(".SH SEE ALSO\n.BR vesseld (8)\n", f);
	}
	return fclose(f) == 0 ? 0 : 1;
}

/* `vessel --generate-man DIR` (the build runs it): vessel.1 and one
 * vessel-COMMAND.1 per entry of the command table. */
static int generate_man(const char *dir)
{
	int r = write_page(dir, NULL);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && r == 0; i++)
		r = write_page(dir, &commands[i]);
	return r;
}

/*
 * `vessel completion bash`: a bash completion script made from the command
 * table (commands, then instance names from `vessel list` for the commands
 * that take one).
 */
static int cmd_completion(struct cli *cli, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "bash") != 0) {
		fprintf(stderr, "vessel: error: completion: expected bash\n");
		return 2;
	}
	printf("# bash completion for vessel (generated by `vessel completion bash`)\n"
	       "_vessel() {\n"
	       "\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n"
	       "\tif [ \"$COMP_CWORD\" = 1 ]; then\n"
	       "\t\tCOMPREPLY=($(compgen -W \"");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("%s%s", i ? " " : "", commands[i].name);
	printf("\" -- \"$cur\"))\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tcase ${COMP_WORDS[1]} in\n"
	       "\tinfo|start|stop|restart|pause|resume|delete|rename|exec|console)\n"
	       "\t\tCOMPREPLY=($(compgen -W \"$(vessel list --format csv 2>/dev/null | "
	       "cut -d, -f1)\" -- \"$cur\"));;\n"
	       "\tconfig|snapshot|image|network|operation|remote|storage|file)\n"
	       "\t\t[ \"$COMP_CWORD\" = 2 ] && COMPREPLY=($(compgen -W \"set get unset show "
	       "create list restore delete import info alias push pull\" -- \"$cur\"));;\n"
	       "\tesac\n"
	       "}\n"
	       "complete -F _vessel vessel\n");
	return 0;
}

int cli_request(struct cli *cli, const char *method, const char *path, struct json_object *body,
		struct json_object **md)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *c = cli_client(cli, &err);
	int r = c ? mgr_client_do(c, method, path, body, md, &err) : -1;
	json_object_put(body);
	return r < 0 ? cli_fail(&err) : 0;
}

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
	if (!cli->client) {
		cli->client = cli->remote ? cli_remote_client(cli, err)
					  : mgr_client_new(cli->socket_path, err);
		/* progress bars on a terminal only (never in pipes or files) */
		if (cli->client && isatty(1))
			mgr_client_set_progress(cli->client, cli_progress, NULL);
	}
	return cli->client;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vessel [--socket PATH | --remote NAME|https://HOST:PORT [--cert FILE]\n"
		"               [--key FILE] [--server-cert FILE]]\n"
		"              [--format table|json|yaml|csv] COMMAND ...\n\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n             %s\n", commands[i].name, commands[i].summary,
			commands[i].usage);
}

/* Take the global options out of argv (up to "--"); 0 or 2. */
static int global_options(struct cli *cli, int *argc, char **argv)
{
	static const char *const opts[] = { "--socket", "--format", "--remote",
					    "--cert",	"--key",    "--server-cert" };
	const char **targets[] = { &cli->socket_path, NULL,	 &cli->remote,
				   &cli->cert,	      &cli->key, &cli->server_cert };
	int w = 1;
	bool rest = false;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		int opt = -1;
		if (!rest && strcmp(a, "--") == 0)
			rest = true;
		for (int k = 0; !rest && k < 6 && opt < 0; k++) {
			size_t l = strlen(opts[k]);
			if (strcmp(a, opts[k]) == 0) {
				if (i + 1 >= *argc) {
					fprintf(stderr, "vessel: error: %s needs a value\n", a);
					return 2;
				}
				opt = k;
				val = argv[++i];
			} else if (strncmp(a, opts[k], l) == 0 && a[l] == '=') {
				opt = k;
				val = a + l + 1;
			}
		}
		if (opt < 0) {
			argv[w++] = argv[i];
			continue;
		}
		if (targets[opt]) {
			*targets[opt] = val;
			continue;
		}
		/* a disk format (`storage volume create --format qcow2`) is the
		 * command's: the two sets of values are disjoint */
		if (strcmp(val, "raw") == 0 || strcmp(val, "qcow2") == 0) {
			if (strcmp(a, "--format") == 0) /* not --format=VALUE */
				argv[w++] = argv[i - 1];
			argv[w++] = argv[i];
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
				"csv (storage volume create: raw or qcow2)\n",
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
	setlocale(LC_CTYPE, ""); /* display widths of UTF-8 in tables */
	struct cli cli = { .socket_path = getenv("VESSEL_SOCKET") };
	if (!cli.socket_path || !*cli.socket_path)
		cli.socket_path = "/run/vessel/vessel.sock";
	cli.remote = getenv("VESSEL_REMOTE");
	if (cli.remote && !*cli.remote)
		cli.remote = NULL;
	int r = global_options(&cli, &argc, argv);
	if (r)
		return r;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--generate-man") == 0 && argc == 3)
		return generate_man(argv[2]);
	if (strcmp(argv[1], "--version") == 0) {
		printf("vessel 0.1.0\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, argv[1]) == 0) {
			r = commands[i].run(&cli, argc - 1, argv + 1);
			cli_progress_end();
			mgr_client_free(cli.client);
			return r;
		}
	fprintf(stderr, "vessel: error: unknown command \"%s\" (see vessel --help)\n", argv[1]);
	return 2;
}
