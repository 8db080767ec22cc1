/*
 * raft_tls.c - TLS on a cluster member's Raft port (raft_tls.h).
 *
 * dqlite 1.11 has no TLS of its own.  As LXD and Incus do with go-dqlite,
 * the member's dqlite node binds a private abstract unix socket
 * (dqlite_node_set_bind_address("@"): libdqlite accepts there only
 * connections of its own process) and vesseld carries every byte of Raft
 * and SQL traffic over TLS (GnuTLS):
 *   - incoming: a thread accepts TCP connections on the member's public
 *     cluster address; each is a TLS server handshake (a client
 *     certificate required) and, once verified, is relayed to a new
 *     connection to the node's socket;
 *   - outgoing: the node's connections to other members
 *     (dqlite_node_set_connect_func) and the manager's own dqlite client
 *     (dqlite_client.c's dialer) connect by TCP, handshake as TLS client
 *     and get one end of a socketpair whose other end is relayed to the
 *     TLS session.
 * Both sides present the cluster certificate (STATE/cluster/cluster.crt
 * and .key: made by `cluster init`, copied to a host before it joins) and
 * accept only a peer presenting the same certificate (its SHA-256
 * fingerprint pinned, checked in the handshake): mutual verification.  A
 * peer without a certificate, with another one, or speaking plain TCP
 * fails the handshake and never reaches the node.
 *
 * A relayed connection has two threads, one per direction (GnuTLS allows
 * one sending and one receiving thread on a session), blocking; when
 * either direction ends both sockets are shut down so the other ends
 * too, and the last one frees the connection.  Handshakes have a
 * deadline (HANDSHAKE_S); relayed connections none (Raft's idle
 * connections stay up).  The credentials are reference-counted: a
 * connection still relaying keeps them after mgr_raft_tls_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "raft_tls.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/dqlite_client.h"
#include "vessel/mgr/tls.h"

#define HANDSHAKE_S 10
#define BUF	    (64 * 1024)

struct mgr_raft_tls {
	gnutls_certificate_credentials_t cred;
	char fingerprint[MGR_FINGERPRINT_LEN + 1];
	int refs; /* the owner's and each connection's */
	int lfd, wake[2];
	char local[108];
	pthread_t thread;
	bool listening;
};

static void tls_ref(struct mgr_raft_tls *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
}

static void tls_unref(struct mgr_raft_tls *t)
{
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		gnutls_certificate_free_credentials(t->cred);
		free(t);
	}
}

/* In the handshake (both sides): the peer presented the cluster's certificate. */
static int verify_peer(gnutls_session_t s)
{
	struct mgr_raft_tls *t = gnutls_session_get_ptr(s);
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
	char fp[MGR_FINGERPRINT_LEN + 1];
	struct vs_err e = VS_ERR_INIT;
	if (!t || !certs || n == 0 ||
	    mgr_tls_fingerprint_der(certs[0].data, certs[0].size, fp, &e) < 0 ||
	    strcmp(fp, t->fingerprint) != 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	return 0;
}

int mgr_raft_tls_new(const char *cert, const char *key, struct mgr_raft_tls **out,
		     struct vs_err *err)
{
	*out = NULL;
	struct mgr_raft_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return vs_errf(err, ENOMEM, "out of memory");
	t->refs = 1;
	t->lfd = t->wake[0] = t->wake[1] = -1;
	int rc = gnutls_certificate_allocate_credentials(&t->cred);
	if (rc < 0) {
		free(t);
		return vs_errf(err, EIO, "TLS credentials: %s", gnutls_strerror(rc));
	}
	gnutls_datum_t pem = { 0 };
	if ((rc = gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM)) <
		0 ||
	    (rc = gnutls_load_file(cert, &pem)) < 0) {
		int r = vs_errf(err, EIO, "cluster certificate %s (key %s): %s", cert, key,
				gnutls_strerror(rc));
		tls_unref(t);
		return r;
	}
	int r = mgr_tls_fingerprint_pem((const char *)pem.data, pem.size, t->fingerprint, err);
	gnutls_free(pem.data);
	if (r < 0) {
		tls_unref(t);
		return vs_err_prefix(err, "cluster certificate %s", cert);
	}
	gnutls_certificate_set_verify_function(t->cred, verify_peer);
	*out = t;
	return 0;
}

void mgr_raft_tls_free(struct mgr_raft_tls *t)
{
	if (!t)
		return;
	mgr_raft_tls_unlisten(t);
	tls_unref(t);
}

/* ---- a handshake ---- */

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A verified session on the connected TCP socket fd (blocking), or NULL;
 * the handshake bounded by ms (a peer whose kernel accepts while its
 * process hangs never answers). */
static gnutls_session_t handshake(struct mgr_raft_tls *t, int fd, bool server, const char *peer,
				  int ms, struct vs_err *err)
{
	gnutls_session_t s;
	int rc = gnutls_init(&s, server ? GNUTLS_SERVER : GNUTLS_CLIENT);
	if (rc < 0) {
		vs_errf(err, EIO, "TLS: %s", gnutls_strerror(rc));
		return NULL;
	}
	gnutls_session_set_ptr(s, t);
	if ((rc = gnutls_set_default_priority(s)) < 0 ||
	    (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred)) < 0) {
		gnutls_deinit(s);
		vs_errf(err, EIO, "TLS: %s", gnutls_strerror(rc));
		return NULL;
	}
	if (server)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, (unsigned)ms);
	set_timeouts(fd, ms);
	do
		rc = gnutls_handshake(s);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc < 0) {
		gnutls_deinit(s);
		bool cert = rc == GNUTLS_E_CERTIFICATE_ERROR ||
			    rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
		bool none = rc == GNUTLS_E_NO_CERTIFICATE_FOUND;
		vs_errf(err, cert || none ? EACCES : ECONNREFUSED, "cluster TLS with %s: %s", peer,
			cert   ? "its certificate is not the cluster's"
			: none ? "it presented no certificate"
			       : gnutls_strerror(rc));
		return NULL;
	}
	set_timeouts(fd, 0); /* relayed from now on: Raft's connections idle */
	return s;
}

/* ---- relaying a session and a plain socket ---- */

struct relay {
	struct mgr_raft_tls *t;
	gnutls_session_t s;
	int net, app;
	int refs; /* the two directions */
};

static void relay_unref(struct relay *r)
{
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	close(r->net);
	close(r->app);
	gnutls_deinit(r->s);
	tls_unref(r->t);
	free(r);
}

static void relay_end(struct relay *r)
{
	shutdown(r->net, SHUT_RDWR);
	shutdown(r->app, SHUT_RDWR);
}

static bool tls_send(gnutls_session_t s, const char *p, size_t n)
{
	while (n) {
		ssize_t w = gnutls_record_send(s, p, n);
		if (w == GNUTLS_E_INTERRUPTED || w == GNUTLS_E_AGAIN)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* TLS to the plain socket. */
static void *relay_in(void *arg)
{
	struct relay *r = arg;
	char *buf = malloc(BUF);
	for (bool ok = buf != NULL; ok;) {
		ssize_t n = gnutls_record_recv(r->s, buf, BUF);
		if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
			continue;
		ok = n > 0 && vs_send_full(r->app, buf, (size_t)n) == 0;
	}
	free(buf);
	relay_end(r);
	relay_unref(r);
	return NULL;
}

/* The plain socket to TLS. */
static void *relay_out(void *arg)
{
	struct relay *r = arg;
	char *buf = malloc(BUF);
	for (bool ok = buf != NULL; ok;) {
		ssize_t n = read(r->app, buf, BUF);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0 && tls_send(r->s, buf, (size_t)n);
	}
	free(buf);
	relay_end(r);
	relay_unref(r);
	return NULL;
}

static bool spawn(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	bool ok = pthread_create(&th, &a, fn, arg) == 0;
	pthread_attr_destroy(&a);
	return ok;
}

/* Relay session s on net with app: two threads (or, with inline_in, this
 * thread for one direction); owns net, app and s in any case. */
static int relay_start(struct mgr_raft_tls *t, gnutls_session_t s, int net, int app, bool inline_in,
		       struct vs_err *err)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (!r) {
		close(net);
		close(app);
		gnutls_deinit(s);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	tls_ref(t);
	*r = (struct relay){ .t = t, .s = s, .net = net, .app = app, .refs = 2 };
	if (!spawn(relay_out, r)) {
		r->refs = 1;
		relay_end(r);
		relay_unref(r);
		return vs_errf(err, EAGAIN, "cannot start a relay thread");
	}
	if (inline_in) {
		relay_in(r);
		return 0;
	}
	if (!spawn(relay_in, r)) {
		relay_end(r);
		relay_unref(r);
		return vs_errf(err, EAGAIN, "cannot start a relay thread");
	}
	return 0;
}

/* ---- outgoing ---- */

int mgr_raft_tls_dial(void *arg, const char *address, int timeout_ms, struct vs_err *err)
{
	struct mgr_raft_tls *t = arg;
	int fd = mgr_dq_tcp_connect(address, timeout_ms, err);
	if (fd < 0)
		return fd;
	/* within the caller's timeout: a leader search tries the next */
	int ms =
	    timeout_ms > 0 && timeout_ms < HANDSHAKE_S * 1000 ? timeout_ms : HANDSHAKE_S * 1000;
	gnutls_session_t s = handshake(t, fd, false, address, ms, err);
	if (!s) {
		close(fd);
		return -err->code;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		int e = errno;
		gnutls_deinit(s);
		close(fd);
		return vs_syserrf(err, e, "socketpair");
	}
	int r = relay_start(t, s, fd, sp[1], false, err);
	if (r < 0) {
		close(sp[0]);
		return r;
	}
	return sp[0];
}

int mgr_raft_tls_node_connect(void *arg, const char *address, int *fd)
{
	struct vs_err err = VS_ERR_INIT;
	int r = mgr_raft_tls_dial(arg, address, 5000, &err);
	if (r < 0) {
		vs_log(VS_LOG_DEBUG, "cluster: raft connection to %s: %s", address, err.msg);
		return 1;
	}
	*fd = r;
	return 0;
}

/* ---- incoming ---- */

struct incoming {
	struct mgr_raft_tls *t;
	int fd;
	char peer[64];
};

static int connect_local(const char *local, struct vs_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(local);
	if (n < 2 || local[0] != '@' || n > sizeof(a.sun_path))
		return vs_errf(err, EINVAL, "node address %s: expected @NAME", local);
	memcpy(a.sun_path + 1, local + 1, n - 1); /* abstract: a leading NUL */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return vs_syserrf(err, e, "connect to the dqlite node (%s)", local);
	}
	return s;
}

static void *serve(void *arg)
{
	struct incoming *in = arg;
	struct mgr_raft_tls *t = in->t;
	struct vs_err err = VS_ERR_INIT;
	gnutls_session_t s = handshake(t, in->fd, true, in->peer, HANDSHAKE_S * 1000, &err);
	int app = -1;
	if (!s) {
		vs_log(VS_LOG_INFO, "cluster: refused a connection: %s", err.msg);
		close(in->fd);
	} else if ((app = connect_local(t->local, &err)) < 0) {
		vs_log(VS_LOG_WARN, "cluster: %s", err.msg);
		gnutls_deinit(s);
		close(in->fd);
	} else {
		relay_start(t, s, in->fd, app, true, &err);
	}
	tls_unref(t);
	free(in);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct mgr_raft_tls *t = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = t->lfd, .events = POLLIN },
				       { .fd = t->wake[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(t->lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct incoming *in = calloc(1, sizeof(*in));
		if (!in) {
			close(fd);
			continue;
		}
		in->t = t;
		in->fd = fd;
		char host[48] = "?", port[8] = "?";
		getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(in->peer, sizeof(in->peer), "%s:%s", host, port);
		tls_ref(t);
		if (!spawn(serve, in)) {
			tls_unref(t);
			close(fd);
			free(in);
		}
	}
	return NULL;
}

int mgr_raft_tls_listen(struct mgr_raft_tls *t, const char *address, const char *local,
			struct vs_err *err)
{
	if (t->listening)
		return vs_errf(err, EALREADY, "cluster TLS: already listening");
	if (!local || strlen(local) >= sizeof(t->local))
		return vs_errf(err, EINVAL, "node address %s: too long", local ? local : "(none)");
	snprintf(t->local, sizeof(t->local), "%s", local);
	char host[256];
	const char *port;
	if (vs_split_hostport(address, host, sizeof(host), &port) < 0)
		return vs_errf(err, EINVAL, "cluster address %s: expected HOST:PORT", address);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g)
		return vs_errf(err, EINVAL, "cluster address %s: %s", address, gai_strerror(g));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return vs_syserrf(err, e, "cluster address %s: listen", address);
	}
	freeaddrinfo(ai);
	if (pipe2(t->wake, O_CLOEXEC) < 0) {
		int e = errno;
		close(fd);
		return vs_syserrf(err, e, "pipe");
	}
	t->lfd = fd;
	if (pthread_create(&t->thread, NULL, accept_loop, t) != 0) {
		close(fd);
		close(t->wake[0]);
		close(t->wake[1]);
		t->lfd = t->wake[0] = t->wake[1] = -1;
		return vs_errf(err, EAGAIN, "cannot start the cluster TLS listener");
	}
	t->listening = true;
	return 0;
}

void mgr_raft_tls_unlisten(struct mgr_raft_tls *t)
{
	if (!t || !t->listening)
		return;
	char b = 0;
	if (write(t->wake[1], &b, 1) < 0)
		vs_log(VS_LOG_WARN, "cluster TLS: cannot wake the listener");
	pthread_join(t->thread, NULL);
	close(t->lfd);
	close(t->wake[0]);
	close(t->wake[1]);
	t->lfd = t->wake[0] = t->wake[1] = -1;
	t->listening = false;
}
