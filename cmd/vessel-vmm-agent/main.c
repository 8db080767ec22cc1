/*
 * vessel-vmm-agent - talk to a VM's guest agent through the socket of
 * `vessel-vmm --agent PATH` (docs/vessel-vmm.md, docs/agent-protocol.md).
 *
 *   vessel-vmm-agent [options] SOCKET hello
 *   vessel-vmm-agent [options] SOCKET ping [COUNT]
 *   vessel-vmm-agent [options] SOCKET exec [--env K=V]... [--cwd DIR] [--no-stdin] -- CMD...
 *   vessel-vmm-agent [options] SOCKET push LOCAL REMOTE [MODE]
 *   vessel-vmm-agent [options] SOCKET pull REMOTE LOCAL
 *   vessel-vmm-agent [options] SOCKET latency COUNT
 *
 * A thin front end over lib/vm/agent.  exec's exit status is the guest
 * command's (128 + N when it died of signal N); 125 when the exchange
 * failed, 126 when the command could not run, 127 when it was not found.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/vm/agent.h"

#define EXIT_FAILED   125
#define EXIT_CANNOT   126
#define EXIT_NOTFOUND 127
#define MAX_ENV	      256

struct cli {
	double timeout;		/* per operation; 0: none */
	double connect_timeout; /* for the hello */
	const char *socket;
};

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: vessel-vmm-agent [--timeout S] [--connect-timeout S] SOCKET COMMAND\n"
	       "commands:\n"
	       "  hello                      print the agent's version\n"
	       "  ping [COUNT]               round trips, prints each in ms\n"
	       "  exec [--env K=V]... [--cwd DIR] [--no-stdin] -- CMD [ARG]...\n"
	       "                             run CMD in the guest (stdin/stdout/stderr are ours);\n"
	       "                             exit status is CMD's (128+N on signal N)\n"
	       "  push LOCAL REMOTE [MODE]   copy a file into the guest (MODE octal)\n"
	       "  pull REMOTE LOCAL          copy a guest file here\n"
	       "  latency COUNT              run `true` COUNT times, print min/median/max ms\n"
	       "exit status: the command's for exec; 0 ok, 125 failure, 126 cannot run,\n"
	       "127 not found\n");
}

static int fail(const struct vs_err *err)
{
	fprintf(stderr, "vessel-vmm-agent: %s\n", err->msg);
	return err->code == ENOENT ? EXIT_NOTFOUND : EXIT_FAILED;
}

static int cmd_exec(struct vm_agent *a, const struct cli *c, int argc, char **argv)
{
	const char *env[MAX_ENV + 1] = { 0 };
	unsigned nenv = 0;
	const char *cwd = NULL;
	bool no_stdin = false;
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--env") == 0 && i + 1 < argc && nenv < MAX_ENV)
			env[nenv++] = argv[++i];
		else if (strcmp(argv[i], "--cwd") == 0 && i + 1 < argc)
			cwd = argv[++i];
		else if (strcmp(argv[i], "--no-stdin") == 0)
			no_stdin = true;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "vessel-vmm-agent: exec: unknown option '%s'\n", argv[i]);
			return EXIT_FAILED;
		} else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "vessel-vmm-agent: exec: no command\n");
		return EXIT_FAILED;
	}
	struct vm_agent_exec req = {
		.argv = (const char *const *)argv + i,
		.env = env,
		.cwd = cwd,
		.stdin_fd = no_stdin ? -1 : STDIN_FILENO,
		.stdout_fd = STDOUT_FILENO,
		.stderr_fd = STDERR_FILENO,
		.timeout_sec = c->timeout,
	};
	struct vm_agent_exec_result res;
	struct vs_err err = VS_ERR_INIT;
	if (vm_agent_exec(a, &req, &res, &err) < 0) {
		int st = fail(&err);
		return err.code == EACCES || err.code == ENOEXEC ? EXIT_CANNOT : st;
	}
	vm_agent_exec_result_free(&res);
	return res.signal ? 128 + res.signal : res.exit_status;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int cmd_latency(struct vm_agent *a, const struct cli *c, unsigned long n)
{
	double *ms = calloc(n, sizeof(double));
	if (!ms)
		return EXIT_FAILED;
	static const char *const argv[] = { "true", NULL };
	for (unsigned long i = 0; i < n; i++) {
		struct vm_agent_exec req = { .argv = argv,
					     .stdin_fd = -1,
					     .stdout_fd = -1,
					     .stderr_fd = -1,
					     .timeout_sec = c->timeout };
		struct vm_agent_exec_result res;
		struct vs_err err = VS_ERR_INIT;
		uint64_t t0 = vs_now_ns();
		int r = vm_agent_exec(a, &req, &res, &err);
		ms[i] = (double)(vs_now_ns() - t0) / 1e6;
		if (r < 0 || res.exit_status != 0) {
			if (r == 0)
				vm_agent_exec_result_free(&res);
			free(ms);
			return r < 0 ? fail(&err) : EXIT_FAILED;
		}
		vm_agent_exec_result_free(&res);
	}
	qsort(ms, n, sizeof(double), cmp_double);
	printf("exec true: n=%lu min=%.2f ms median=%.2f ms max=%.2f ms\n", n, ms[0], ms[n / 2],
	       ms[n - 1]);
	free(ms);
	return 0;
}

static int parse_count(const char *s, unsigned long *n)
{
	char *end;
	errno = 0;
	*n = strtoul(s, &end, 10);
	if (errno || end == s || *end || *n == 0 || *n > 1000000) {
		fprintf(stderr, "vessel-vmm-agent: bad count '%s'\n", s);
		return -1;
	}
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e7) {
		fprintf(stderr, "vessel-vmm-agent: bad number of seconds '%s'\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .timeout = 0, .connect_timeout = 60 };
	struct vs_err err = VS_ERR_INIT;
	int i = 1;
	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_seconds(argv[++i], &c.timeout) < 0)
				return EXIT_FAILED;
		} else if (strcmp(argv[i], "--connect-timeout") == 0 && i + 1 < argc) {
			if (parse_seconds(argv[++i], &c.connect_timeout) < 0)
				return EXIT_FAILED;
		} else {
			fprintf(stderr, "vessel-vmm-agent: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_FAILED;
		}
	}
	if (argc - i < 2) {
		usage(stderr);
		return EXIT_FAILED;
	}
	c.socket = argv[i];
	const char *cmd = argv[i + 1];
	char **rest = argv + i + 2;
	int nrest = argc - i - 2;
	static const char *const known[] = { "hello", "ping", "exec", "push", "pull", "latency" };
	bool ok = false;
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		ok |= strcmp(cmd, known[k]) == 0;
	if (!ok) {
		fprintf(stderr, "vessel-vmm-agent: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_FAILED;
	}
	unsigned long count = 1;
	if ((strcmp(cmd, "ping") == 0 && nrest > 1) || (strcmp(cmd, "hello") == 0 && nrest) ||
	    (strcmp(cmd, "pull") == 0 && nrest != 2) ||
	    (strcmp(cmd, "push") == 0 && (nrest < 2 || nrest > 3)) ||
	    (strcmp(cmd, "latency") == 0 && nrest != 1)) {
		usage(stderr);
		return EXIT_FAILED;
	}
	if ((strcmp(cmd, "ping") == 0 && nrest == 1) || strcmp(cmd, "latency") == 0)
		if (parse_count(rest[0], &count) < 0)
			return EXIT_FAILED;
	int mode = -1;
	if (strcmp(cmd, "push") == 0 && nrest == 3) {
		char *end;
		long m = strtol(rest[2], &end, 8);
		if (*end || end == rest[2] || m < 0 || m > 07777) {
			fprintf(stderr, "vessel-vmm-agent: bad mode '%s' (octal)\n", rest[2]);
			return EXIT_FAILED;
		}
		mode = (int)m;
	}

	struct vm_agent *a = vm_agent_connect(c.socket, c.connect_timeout, &err);
	if (!a)
		return fail(&err);
	int status = 0;
	if (strcmp(cmd, "hello") == 0) {
		printf("%s\n", vm_agent_version(a));
	} else if (strcmp(cmd, "ping") == 0) {
		for (unsigned long k = 0; k < count && status == 0; k++) {
			uint64_t t0 = vs_now_ns();
			if (vm_agent_ping(a, c.timeout, &err) < 0)
				status = fail(&err);
			else
				printf("pong %.3f ms\n", (double)(vs_now_ns() - t0) / 1e6);
		}
	} else if (strcmp(cmd, "exec") == 0) {
		status = cmd_exec(a, &c, nrest, rest);
	} else if (strcmp(cmd, "push") == 0) {
		if (vm_agent_push(a, rest[0], rest[1], mode, c.timeout, &err) < 0)
			status = (fail(&err), EXIT_FAILED);
	} else if (strcmp(cmd, "pull") == 0) {
		if (vm_agent_pull(a, rest[0], rest[1], c.timeout, &err) < 0)
			status = (fail(&err), EXIT_FAILED);
	} else {
		status = cmd_latency(a, &c, count);
	}
	vm_agent_close(a);
	return status;
}
