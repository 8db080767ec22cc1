/*
 * agent.h - host-side client of the vessel guest agent (guest/agent/,
 * docs/agent-protocol.md), reached through the unix socket of
 * `vessel-vmm --agent PATH`: run commands in the guest with their output
 * and exit status, push and pull files.
 *
 * One client per VM at a time (the VMM's agent socket accepts one
 * connection) and one operation at a time per client.  The guest is not
 * trusted: every frame is checked, captured output is bounded, and every
 * call has a deadline.  An operation that fails half-way (timeout, bad
 * local file) leaves the connection usable: the next call starts with a
 * fresh HELLO, which makes the agent drop what it was doing.
 */
#ifndef VESSEL_VM_AGENT_H
#define VESSEL_VM_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "vessel/core/err.h"

struct vm_agent;

/*
 * Connect to the agent socket at path (retrying while it does not exist yet
 * or refuses, e.g. while the VMM starts) and wait until the agent has said
 * hello, within timeout_sec (0: wait forever).
 */
struct vm_agent *vm_agent_connect(const char *path, double timeout_sec, struct vs_err *err);
void vm_agent_close(struct vm_agent *agent);

/* The agent's hello text ("vessel-agent 1 Linux 6.1.0 riscv64"). */
const char *vm_agent_version(const struct vm_agent *agent);

/* A round trip: 0 when the agent answered within timeout_sec. */
int vm_agent_ping(struct vm_agent *agent, double timeout_sec, struct vs_err *err);

struct vm_agent_exec {
	const char *const *argv; /* NULL-terminated, argv[0] looked up in PATH */
	const char *const *env;	 /* extra NAME=VALUE entries, NULL-terminated; may be NULL */
	const char *cwd;	 /* NULL: / */
	/* stdin: from stdin_fd until EOF when >= 0, else stdin_data (may be
	 * empty), else (stdin_data NULL) the command reads /dev/null. */
	int stdin_fd;
	const void *stdin_data;
	size_t stdin_len;
	/* Output: written to these fds when >= 0, else captured. */
	int stdout_fd, stderr_fd;
	size_t capture_max; /* bytes captured per stream; 0: 64 MiB */
	double timeout_sec; /* 0: none */
};

struct vm_agent_exec_result {
	int exit_status; /* 0..255, or -1 when the command was killed by a signal */
	int signal;	 /* the signal, or 0 */
	char *out, *err; /* captured output, NUL-terminated (NULL when sent to an fd) */
	size_t out_len, err_len;
};

/*
 * Run a command and wait for it.  Returns 0 when it ran (its status is in
 * res, whatever it is), -errno when it could not be started (no such
 * command: -ENOENT) or the exchange failed.  Free res with
 * vm_agent_exec_result_free.
 */
int vm_agent_exec(struct vm_agent *agent, const struct vm_agent_exec *req,
		  struct vm_agent_exec_result *res, struct vs_err *err);
void vm_agent_exec_result_free(struct vm_agent_exec_result *res);

/* Copy a local file to the guest (mode < 0: the local file's permissions). */
int vm_agent_push(struct vm_agent *agent, const char *local, const char *remote, int mode,
		  double timeout_sec, struct vs_err *err);
/* Copy a guest file here (written to a temporary, renamed when complete). */
int vm_agent_pull(struct vm_agent *agent, const char *remote, const char *local, double timeout_sec,
		  struct vs_err *err);

#endif
