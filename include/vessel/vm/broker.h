/*
 * broker.h - the connect broker of `vessel-vmm --sandbox --sandbox-connect`:
 * privilege separation (as OpenSSH's monitor and Chrome's broker do) so
 * that a sandboxed VMM, which has no network namespace to speak of and
 * whose seccomp filter forbids AF_INET sockets, can still migrate over TCP.
 *
 * vm_broker_start() forks a tiny process while the VMM is still
 * single-threaded and unconfined.  The broker stays in the VMM's original
 * network namespace but is otherwise confined as tightly as the VMM, more
 * tightly even: when root, uid/gid 65534, no capabilities, an empty deleted
 * root (vm_sandbox_drop() with keep_network); always NO_NEW_PRIVS and a
 * seccomp filter of its own that allows little more than
 * socket(AF_INET|AF_INET6, SOCK_STREAM), connect, poll, and recvmsg/sendmsg
 * on its channel (vm_broker_filter_load()).  It holds no descriptor but
 * its channel and stderr.
 *
 * The VMM asks over a socketpair: "connect to tcp:HOST:PORT", HOST a
 * numeric IPv4 or IPv6 address (no name resolution: the broker opens no
 * file and the sandboxed VMM none either); the broker checks the
 * destination against the allow-list given on the command line
 * (`--sandbox-connect`, copied into the broker at the fork, so a VMM that a
 * guest took over cannot widen it), connects with a bounded timeout and
 * passes the connected socket back (SCM_RIGHTS), or an errno and a message.
 *
 * Lifetime: the broker exits when its channel reaches end of file
 * (vm_broker_free(), or the VMM's death closing it) and is killed by
 * PR_SET_PDEATHSIG when the VMM's main thread (the one that forked it)
 * dies, SIGKILL included.  It is in a session of its own (no terminal
 * signals).
 */
#ifndef VESSEL_VM_BROKER_H
#define VESSEL_VM_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"

#define VM_BROKER_MAX_ALLOW	     16
#define VM_BROKER_CONNECT_TIMEOUT_MS 10000 /* default connect timeout */

/* One allowed destination: `tcp:ADDR[/PREFIX]:PORT|*` (IPv6 in brackets). */
struct vm_broker_allow {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order (4 bytes for IPv4) */
	unsigned prefix;  /* leading bits that must match */
	unsigned port;	  /* 0: any port */
	char spec[80];	  /* as given, for messages */
};

/* Parse an allow-list entry; 0 or -EINVAL with err. */
int vm_broker_allow_parse(const char *spec, struct vm_broker_allow *out, struct vs_err *err);

struct vm_broker_config {
	const struct vm_broker_allow *allow; /* destinations; at least one */
	unsigned nallow;		     /* at most VM_BROKER_MAX_ALLOW */
	uid_t uid;			     /* switched to when started as root */
	gid_t gid;
	unsigned timeout_ms; /* per connect; 0: VM_BROKER_CONNECT_TIMEOUT_MS */
};

struct vm_broker;

/*
 * Fork the broker and wait until it is confined (its set-up error, if any,
 * comes back in err).  Call from the thread that stays for the process's
 * lifetime (PR_SET_PDEATHSIG follows the forking thread), before other
 * threads start.  NULL with err on failure (no process left).
 */
struct vm_broker *vm_broker_start(const struct vm_broker_config *cfg, struct vs_err *err);

/*
 * Would the broker accept this URI?  "tcp:HOST:PORT" with a numeric HOST
 * inside the allow-list: 0, else -EINVAL (not numeric, malformed) or
 * -EACCES (not allowed) with err naming the allow-list.  The broker checks
 * again on its side; this is for a precise answer before anything starts.
 */
int vm_broker_check(const struct vm_broker *b, const char *uri, struct vs_err *err);

/*
 * A connected TCP socket to uri (blocking, O_CLOEXEC): the descriptor, or
 * -errno with err (the broker's errno and message, e.g. "connect to
 * tcp:10.0.0.2:4000: Connection refused", or the broker gone).  Waits at
 * most the broker's timeout plus a margin.  Thread-safe (one request at a
 * time); allowed inside the VMM's sandbox (send, ppoll, recvmsg).
 */
int vm_broker_connect(struct vm_broker *b, const char *uri, struct vs_err *err);

/* The broker's pid (for vm_sandbox_config.reap_pid and tests). */
pid_t vm_broker_pid(const struct vm_broker *b);

/* The VMM's end of the channel (tests: malformed requests). */
int vm_broker_channel(const struct vm_broker *b);

/* Close the channel (the broker exits), reap the broker, free.  NULL: no-op. */
void vm_broker_free(struct vm_broker *b);

/*
 * The broker's seccomp filter on the calling (single-threaded) process,
 * chan being its channel: exposed for the unit tests, which check that
 * anything outside it kills the process.
 */
int vm_broker_filter_load(int chan, struct vs_err *err);

#endif
