/*
 * broker.c - the connect broker of a sandboxed VMM (contract and threat
 * model in include/vessel/vm/broker.h and docs/vessel-vmm-board.md,
 * "Confinement").
 *
 * Channel: a SOCK_SEQPACKET socketpair, so a message is one request or one
 * reply, each of an exact size (a reader refuses any other size, a
 * truncated message or, on the broker's side, any descriptor: it passes no
 * control buffer, so the kernel discards descriptors sent to it):
 *   request { u32 seq; char uri[256] }         NUL-terminated URI
 *   reply   { u32 seq; i32 errnum; char msg[] } and, with errnum 0, exactly
 *                                              one descriptor (SCM_RIGHTS)
 * The broker's first reply (seq 0) is unsolicited: its set-up result.  A
 * reply whose seq is not the request's is stale (its request timed out on
 * the VMM's side) and dropped.  The broker's messages carry no strerror()
 * text (no locale files to read): the VMM appends it.
 *
 * The child, in order: its channel moves to fd 3 and every other
 * descriptor but stderr closes (stdin/stdout become /dev/null); a session
 * of its own; vm_sandbox_drop() (empty root, capabilities, uid/gid 65534
 * when root, NO_NEW_PRIVS) keeping the network namespace;
 * PR_SET_PDEATHSIG(SIGKILL), set after the uid change (which clears it),
 * then a check that the parent still is the VMM (it may have died before);
 * the filter.  It never returns: it ends with the raw exit_group (no
 * atexit handlers, no stdio buffers inherited from the VMM flushed, no
 * sanitizer leak scan, which needs calls the filter forbids).
 * While a connect is in progress it also watches its channel, so a VMM
 * that goes away never waits for a connect timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vessel/vm/broker.h"
#include "vessel/vm/sandbox.h"

#define BROKER_URI_MAX	       256
#define BROKER_MSG_MAX	       200
#define BROKER_CHAN_FD	       3
#define BROKER_START_MS	       60000 /* the child's set-up (a loaded host) */
#define BROKER_REPLY_MARGIN_MS 5000  /* beyond the connect timeout */

struct broker_request {
	uint32_t seq;
	char uri[BROKER_URI_MAX];
};

struct broker_reply {
	uint32_t seq;
	int32_t errnum;
	char msg[BROKER_MSG_MAX];
};

struct vm_broker {
	int chan;
	pid_t pid;
	uint32_t seq;
	pthread_mutex_t lock;
	unsigned timeout_ms;
	unsigned nallow;
	struct vm_broker_allow allow[VM_BROKER_MAX_ALLOW];
};

/* ---- addresses and the allow-list ------------------------------------------ */

/* A numeric address of len bytes at s (IPv6 with or without brackets). */
static int parse_addr(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char buf[64];
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* A decimal in [lo, hi], the whole string. */
static int parse_number(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > hi)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* "tcp:HOST:PORT" -> address and port; a numeric HOST only. */
static int parse_uri(const char *uri, int *family, uint8_t addr[16], unsigned *port,
		     struct vs_err *err)
{
	if (strncmp(uri, "tcp:", 4) != 0)
		return vs_errf(err, EINVAL, "%s: expected tcp:HOST:PORT", uri);
	const char *host = uri + 4, *colon;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');
		colon = close && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strrchr(host, ':');
	}
	if (!colon || colon == host || parse_number(colon + 1, 1, 65535, port) < 0)
		return vs_errf(err, EINVAL, "%s: expected tcp:HOST:PORT (PORT 1-65535)", uri);
	if (parse_addr(host, (size_t)(colon - host), family, addr) < 0)
		return vs_errf(err, EINVAL,
			       "%s: HOST must be a numeric IPv4 or IPv6 address (the sandbox "
			       "resolves no names)",
			       uri);
	return 0;
}

int vm_broker_allow_parse(const char *spec, struct vm_broker_allow *out, struct vs_err *err)
{
	memset(out, 0, sizeof(*out));
	if (strlen(spec) >= sizeof(out->spec) || strncmp(spec, "tcp:", 4) != 0)
		goto bad;
	snprintf(out->spec, sizeof(out->spec), "%s", spec);
	const char *a = spec + 4, *end;
	if (a[0] == '[') {
		end = strchr(a, ']');
		if (!end)
			goto bad;
		end++;
	} else {
		end = a + strcspn(a, "/:");
	}
	if (parse_addr(a, (size_t)(end - a), &out->family, out->addr) < 0)
		goto bad;
	unsigned max = out->family == AF_INET ? 32 : 128;
	out->prefix = max;
	const char *p = end;
	if (*p == '/') {
		char num[8];
		size_t n = strcspn(p + 1, ":");
		if (n >= sizeof(num))
			goto bad;
		memcpy(num, p + 1, n);
		num[n] = 0;
		if (parse_number(num, 0, max, &out->prefix) < 0)
			goto bad;
		p += 1 + n;
	}
	if (*p != ':')
		goto bad;
	if (strcmp(p + 1, "*") == 0)
		out->port = 0;
	else if (parse_number(p + 1, 1, 65535, &out->port) < 0)
		goto bad;
	return 0;
bad:
	return vs_errf(err, EINVAL,
		       "%s: expected tcp:ADDR[/PREFIX]:PORT|* (ADDR numeric, IPv6 in brackets)",
		       spec);
}

static bool allow_match(const struct vm_broker_allow *a, int family, const uint8_t addr[16],
			unsigned port)
{
	if (a->family != family || (a->port && a->port != port))
		return false;
	unsigned full = a->prefix / 8, rest = a->prefix % 8;
	if (memcmp(a->addr, addr, full) != 0)
		return false;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return rest == 0 || ((a->addr[full] ^ addr[full]) & mask) == 0;
}

/* Parse and check against the allow-list. */
static int check_uri(const struct vm_broker_allow *allow, unsigned nallow, const char *uri,
		     int *family, uint8_t addr[16], unsigned *port, struct vs_err *err)
{
	int r = parse_uri(uri, family, addr, port, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nallow; i++)
		if (allow_match(&allow[i], *family, addr, *port))
			return 0;
	char list[BROKER_MSG_MAX / 2] = "";
	size_t len = 0;
	for (unsigned i = 0; i < nallow && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? " " : "",
					allow[i].spec);
	return vs_errf(err, EACCES, "%s: not allowed by --sandbox-connect (%s)", uri, list);
}

int vm_broker_check(const struct vm_broker *b, const char *uri, struct vs_err *err)
{
	int family;
	uint8_t addr[16];
	unsigned port;
	return check_uri(b->allow, b->nallow, uri, &family, addr, &port, err);
}

/* ---- the broker process ------------------------------------------------------ */

/* SCM_RIGHTS with fd >= 0.  Failures are the VMM's problem (it times out). */
static void broker_reply(int chan, uint32_t seq, int errnum, const char *msg, int fd)
{
	struct broker_reply rep = { .seq = seq, .errnum = errnum };
	snprintf(rep.msg, sizeof(rep.msg), "%s", msg);
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(chan, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* The raw exit_group: the sanitizers' _exit interceptor may start a leak
 * scan (ptrace, threads, /proc) that the filter forbids. */
static void broker_exit(int status) __attribute__((noreturn));
static void broker_exit(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect within timeout_ms; the blocking socket or -errno with err.  The
 * broker exits if its channel hangs up meanwhile. */
static int broker_connect(int chan, const char *uri, int family, const uint8_t addr[16],
			  unsigned port, unsigned timeout_ms, struct vs_err *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, addr, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, addr, 16);
		len = sizeof(*in6);
	}
	int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vs_errf(err, errno, "connect broker: socket for %s", uri);
	int e = 0;
	if (connect(s, (struct sockaddr *)&ss, len) < 0) {
		e = errno;
		int64_t deadline = now_ms() + timeout_ms;
		while (e == EINPROGRESS || e == EINTR) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				close(s);
				return vs_errf(err, ETIMEDOUT,
					       "connect to %s: no answer within %u ms", uri,
					       timeout_ms);
			}
			/* events 0 on the channel: only its hang-up is reported */
			struct pollfd p[2] = { { .fd = s, .events = POLLOUT },
					       { .fd = chan, .events = 0 } };
			int n = poll(p, 2, (int)left);
			if (n < 0) {
				e = errno == EINTR ? EINPROGRESS : errno;
				if (e != EINPROGRESS)
					break;
				continue;
			}
			if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
				broker_exit(0); /* the VMM is gone */
			if (n == 0 || !(p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
				continue;
			socklen_t el = sizeof(e);
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
			break;
		}
	}
	if (e != 0) {
		close(s);
		return vs_errf(err, e, "connect to %s", uri);
	}
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
		close(s);
		return vs_errf(err, e, "connect broker: fcntl on the socket to %s", uri);
	}
	return s;
}

static void broker_serve(int chan, const struct vm_broker_config *cfg) __attribute__((noreturn));
static void broker_serve(int chan, const struct vm_broker_config *cfg)
{
	unsigned timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : VM_BROKER_CONNECT_TIMEOUT_MS;
	for (;;) {
		struct broker_request req;
		struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(chan, &mh, 0);
		if (n == 0)
			broker_exit(0); /* the VMM closed its end */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			broker_exit(1);
		}
		if ((size_t)n != sizeof(req) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    !memchr(req.uri, 0, sizeof(req.uri))) {
			broker_reply(chan, (size_t)n >= sizeof(req.seq) ? req.seq : 0, EINVAL,
				     "connect broker: malformed request", -1);
			continue;
		}
		struct vs_err err = VS_ERR_INIT;
		int family;
		uint8_t addr[16];
		unsigned port;
		int fd = check_uri(cfg->allow, cfg->nallow, req.uri, &family, addr, &port, &err);
		if (fd == 0) /* allowed */
			fd = broker_connect(chan, req.uri, family, addr, port, timeout_ms, &err);
		broker_reply(chan, req.seq, fd < 0 ? err.code : 0, fd < 0 ? err.msg : "", fd);
		if (fd >= 0)
			close(fd);
	}
}

/* Everything, the filter last; *chan ends up as BROKER_CHAN_FD. */
static int broker_confine(int *chan, pid_t parent, const struct vm_broker_config *cfg,
			  struct vs_err *err)
{
	if (*chan != BROKER_CHAN_FD && dup2(*chan, BROKER_CHAN_FD) < 0)
		return vs_syserrf(err, errno, "connect broker: dup2");
	*chan = BROKER_CHAN_FD;
	if (syscall(SYS_close_range, BROKER_CHAN_FD + 1, ~0U, 0) < 0) {
		for (int fd = BROKER_CHAN_FD + 1; fd < 65536; fd++)
			close(fd);
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 2; fd++)
		if (null < 0 || dup2(null, fd) < 0)
			close(fd);
	if (null > 2)
		close(null);
	if (setsid() < 0)
		return vs_syserrf(err, errno, "connect broker: setsid");
	/* the raw call: the sanitizers' prctl wrapper takes locks */
	syscall(SYS_prctl, PR_SET_NAME, (unsigned long)"vessel-broker", 0UL, 0UL, 0UL);
	struct vm_sandbox_config sc = { .uid = cfg->uid, .gid = cfg->gid, .keep_network = true };
	int r = vm_sandbox_drop(&sc, err);
	if (r < 0)
		return r;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return vs_syserrf(err, errno, "connect broker: PR_SET_PDEATHSIG");
	if (getppid() != parent)
		broker_exit(0); /* the VMM died before the signal was armed */
	return vm_broker_filter_load(BROKER_CHAN_FD, err);
}

static void broker_main(int chan, pid_t parent, const struct vm_broker_config *cfg)
    __attribute__((noreturn));
static void broker_main(int chan, pid_t parent, const struct vm_broker_config *cfg)
{
	struct vs_err err = VS_ERR_INIT;
	int r = broker_confine(&chan, parent, cfg, &err);
	broker_reply(chan, 0, r < 0 ? err.code : 0, r < 0 ? err.msg : "ready", -1);
	if (r < 0)
		broker_exit(1);
	broker_serve(chan, cfg);
}

/* ---- the broker's seccomp filter -------------------------------------------- */

int vm_broker_filter_load(int chan, struct vs_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return vs_errf(err, ENOMEM, "connect broker: seccomp_init failed");
	const scmp_datum_t ch = (scmp_datum_t)chan;
	/* socket types: SOCK_STREAM with only SOCK_NONBLOCK/SOCK_CLOEXEC besides */
	const scmp_datum_t type_mask = (scmp_datum_t)(~(unsigned)(SOCK_NONBLOCK | SOCK_CLOEXEC));
	int r = 0;
#define RULE(nr, ...)                                                                         \
	do {                                                                                  \
		if (r == 0)                                                                   \
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(nr), __VA_ARGS__); \
	} while (0)
	RULE(recvmsg, 1, SCMP_A0(SCMP_CMP_EQ, ch));
	RULE(sendmsg, 1, SCMP_A0(SCMP_CMP_EQ, ch));
	RULE(socket, 3, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)AF_INET),
	     SCMP_A1(SCMP_CMP_MASKED_EQ, type_mask, (scmp_datum_t)SOCK_STREAM),
	     SCMP_A2(SCMP_CMP_EQ, 0));
	RULE(socket, 3, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)AF_INET6),
	     SCMP_A1(SCMP_CMP_MASKED_EQ, type_mask, (scmp_datum_t)SOCK_STREAM),
	     SCMP_A2(SCMP_CMP_EQ, 0));
	RULE(connect, 0);
	RULE(poll, 0);
	RULE(ppoll, 0);
	RULE(getsockopt, 2, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)SOL_SOCKET),
	     SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)SO_ERROR));
	RULE(fcntl, 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)F_GETFL));
	RULE(fcntl, 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)F_SETFL));
	RULE(close, 0);
	RULE(clock_gettime, 0);
	RULE(write, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)STDERR_FILENO)); /* sanitizer reports */
	/* sanitizers: querying the signal stack (before a noreturn call) */
	RULE(sigaltstack, 1, SCMP_A0(SCMP_CMP_EQ, 0));
	RULE(rt_sigreturn, 0);
	RULE(restart_syscall, 0);
	RULE(exit, 0);
	RULE(exit_group, 0);
#undef RULE
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return vs_errf(err, -r, "connect broker: seccomp filter: %s", strerror(-r));
	return 0;
}

/* ---- the VMM's side --------------------------------------------------------- */

/* One reply (any seq) within timeout_ms: 0, *fd the descriptor or -1. */
static int recv_reply(int chan, struct broker_reply *rep, int *fd, int timeout_ms,
		      struct vs_err *err)
{
	*fd = -1;
	struct pollfd p = { .fd = chan, .events = POLLIN };
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - now_ms();
		int n = poll(&p, 1, left > 0 ? (int)left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "connect broker: poll");
		if (n == 0)
			return vs_errf(err, ETIMEDOUT, "connect broker: no answer within %d ms",
				       timeout_ms);
		break;
	}
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	while ((n = recvmsg(chan, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return vs_syserrf(err, errno, "connect broker: receive");
	if (n == 0)
		return vs_errf(err, EPIPE, "connect broker: the broker process is gone");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)) && *fd < 0)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n != sizeof(*rep) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    !memchr(rep->msg, 0, sizeof(rep->msg)) || rep->errnum < 0 || rep->errnum > 4095) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return vs_errf(err, EPROTO, "connect broker: malformed reply");
	}
	return 0;
}

struct vm_broker *vm_broker_start(const struct vm_broker_config *cfg, struct vs_err *err)
{
	if (!cfg->nallow || cfg->nallow > VM_BROKER_MAX_ALLOW) {
		vs_errf(err, EINVAL, "connect broker: 1 to %d allowed destinations",
			VM_BROKER_MAX_ALLOW);
		return NULL;
	}
	struct vm_broker *b = calloc(1, sizeof(*b));
	if (!b) {
		vs_errf(err, ENOMEM, "connect broker: out of memory");
		return NULL;
	}
	b->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : VM_BROKER_CONNECT_TIMEOUT_MS;
	b->nallow = cfg->nallow;
	memcpy(b->allow, cfg->allow, cfg->nallow * sizeof(cfg->allow[0]));
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		vs_syserrf(err, errno, "connect broker: socketpair");
		free(b);
		return NULL;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		vs_syserrf(err, errno, "connect broker: fork");
		close(sv[0]);
		close(sv[1]);
		free(b);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		broker_main(sv[1], parent, cfg);
	}
	close(sv[1]);
	b->chan = sv[0];
	b->pid = pid;
	pthread_mutex_init(&b->lock, NULL);
	struct broker_reply rep;
	int fd;
	int r = recv_reply(b->chan, &rep, &fd, BROKER_START_MS, err);
	if (r == 0 && (rep.seq != 0 || rep.errnum != 0))
		r = rep.errnum ? vs_errf(err, rep.errnum, "%s", rep.msg)
			       : vs_errf(err, EPROTO, "connect broker: unexpected first reply");
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		kill(pid, SIGKILL); /* if it still runs (no answer) */
		vm_broker_free(b);
		return NULL;
	}
	return b;
}

int vm_broker_connect(struct vm_broker *b, const char *uri, struct vs_err *err)
{
	struct broker_request req = { 0 };
	if (strlen(uri) >= sizeof(req.uri))
		return vs_errf(err, EINVAL, "%s: URI too long for the connect broker", uri);
	strcpy(req.uri, uri);
	pthread_mutex_lock(&b->lock);
	req.seq = ++b->seq;
	int r;
	for (;;) {
		ssize_t n = send(b->chan, &req, sizeof(req), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		r = n == (ssize_t)sizeof(req) ? 0
					      : vs_syserrf(err, n < 0 ? errno : EPIPE,
							   "connect broker: the broker process is "
							   "gone (request for %s)",
							   uri);
		break;
	}
	while (r == 0) {
		struct broker_reply rep;
		int fd;
		r = recv_reply(b->chan, &rep, &fd, (int)b->timeout_ms + BROKER_REPLY_MARGIN_MS,
			       err);
		if (r < 0)
			break;
		if (rep.seq != req.seq) { /* a late answer to an earlier request */
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (rep.errnum == 0 && fd >= 0) {
			r = fd;
			break;
		}
		if (fd >= 0)
			close(fd);
		r = rep.errnum ? vs_syserrf(err, rep.errnum, "%s", rep.msg)
			       : vs_errf(err, EPROTO, "connect broker: no socket in its answer");
		break;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

pid_t vm_broker_pid(const struct vm_broker *b)
{
	return b->pid;
}

int vm_broker_channel(const struct vm_broker *b)
{
	return b->chan;
}

void vm_broker_free(struct vm_broker *b)
{
	if (!b)
		return;
	close(b->chan); /* end of file: the broker exits at once */
	while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_destroy(&b->lock);
	free(b);
}
