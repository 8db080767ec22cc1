/*
 * hooks.c - POSIX-platform hooks (runtime-spec 1.1 config.md "POSIX-platform
 * Hooks", runtime.md "Lifecycle"): each hook is executed with its own args
 * and env, receives the container state JSON on stdin, and must exit 0
 * within its timeout (it is SIGKILLed otherwise).  Before the process runs
 * (prestart, createRuntime, createContainer, startContainer) the first
 * failing hook stops the chain and fails the operation; after it started
 * (poststart, poststop) the spec asks for a warning and the remaining hooks
 * of that kind still run (ct_hooks_run_all).
 *
 * stdin is a socket (not a pipe) so that a hook which never reads its state
 * cannot make the runtime die of SIGPIPE.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux_internal.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"

static int hook_wait(pid_t pid, int timeout_s, int *status)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0 && timeout_s > 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int n;
		do
			n = poll(&pfd, 1, timeout_s * 1000);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			close(pidfd);
			return -ETIMEDOUT;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int hook_run(const struct ct_hook *h, const char *kind, const char *state_json,
		    struct vs_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return vs_syserrf(err, errno, "%s hook %s: socketpair", kind, h->path);
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return vs_syserrf(err, errno, "%s hook %s: fork", kind, h->path);
	}
	if (pid == 0) {
		/* `run` blocks every signal in the runtime; a hook starts with none */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(sv[1], 0) < 0)
			_exit(127);
		const char *argv_default[] = { h->path, NULL };
		const char *empty_env[] = { NULL };
		execve(h->path, (char *const *)(h->args && h->args[0] ? h->args : argv_default),
		       (char *const *)(h->env ? h->env : empty_env));
		_exit(127);
	}
	close(sv[1]);
	size_t len = strlen(state_json);
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(sv[0], state_json + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the hook does not read its state: not an error */
		off += (size_t)n;
	}
	close(sv[0]);
	int status = 0;
	int r = hook_wait(pid, h->timeout, &status);
	if (r == -ETIMEDOUT)
		return vs_errf(err, ETIMEDOUT, "%s hook %s: timed out after %d s", kind, h->path,
			       h->timeout);
	if (r < 0)
		return vs_syserrf(err, -r, "%s hook %s: wait", kind, h->path);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return vs_errf(err, ENOEXEC, "%s hook %s: could not be executed (exit 127)", kind,
			       h->path);
	if (WIFEXITED(status))
		return vs_errf(err, EIO, "%s hook %s: exited with status %d", kind, h->path,
			       WEXITSTATUS(status));
	return vs_errf(err, EIO, "%s hook %s: killed by signal %d", kind, h->path,
		       WTERMSIG(status));
}

int ct_hooks_run(const struct ct_hook *hooks, unsigned n, const char *kind, const char *state_json,
		 struct vs_err *err)
{
	for (unsigned i = 0; i < n; i++) {
		int r = hook_run(&hooks[i], kind, state_json, err);
		if (r < 0)
			return r;
	}
	return 0;
}

unsigned ct_hooks_run_all(const struct ct_hook *hooks, unsigned n, const char *kind,
			  const char *state_json)
{
	unsigned failed = 0;
	for (unsigned i = 0; i < n; i++) {
		struct vs_err err = VS_ERR_INIT;
		if (hook_run(&hooks[i], kind, state_json, &err) < 0) {
			vs_log(VS_LOG_WARN, "%s", err.msg);
			failed++;
		}
	}
	return failed;
}
