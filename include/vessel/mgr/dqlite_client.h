/*
 * dqlite_client.h - a small client of dqlite's wire protocol (protocol
 * version 1, https://canonical.com/dqlite/docs/reference/wire-protocol).
 *
 * Debian 12's libdqlite (1.11) ships only the node (server) API; its C
 * client is internal.  This speaks the documented protocol over TCP:
 * handshake, LEADER, OPEN, EXEC_SQL, QUERY_SQL (with bound parameters),
 * and the membership requests ADD, ASSIGN, REMOVE and CLUSTER.  A client
 * is connected to the current Raft leader (found by asking the given
 * addresses), since only the leader executes statements; a failure that
 * says leadership moved is reported as EAGAIN so the caller reconnects.
 */
#ifndef VESSEL_MGR_DQLITE_CLIENT_H
#define VESSEL_MGR_DQLITE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"

/* SQLite type codes as the protocol carries them. */
enum mgr_dq_type {
	MGR_DQ_INTEGER = 1,
	MGR_DQ_FLOAT = 2,
	MGR_DQ_TEXT = 3,
	MGR_DQ_BLOB = 4,
	MGR_DQ_NULL = 5,
};

struct mgr_dq_value {
	enum mgr_dq_type type;
	int64_t i;
	double f;
	char *s; /* TEXT (and BLOB bytes, NUL-terminated); owned in results */
};

#define MGR_DQ_INT(v)  ((struct mgr_dq_value){ .type = MGR_DQ_INTEGER, .i = (v) })
#define MGR_DQ_TEXT(v) ((struct mgr_dq_value){ .type = MGR_DQ_TEXT, .s = (char *)(v) })

struct mgr_dq_rows {
	size_t ncols, nrows;
	struct mgr_dq_value *v; /* nrows * ncols, row-major */
};

struct mgr_dq_server {
	uint64_t id;
	char *address;
	uint64_t role; /* 0 voter, 1 stand-by, 2 spare */
};

struct mgr_dq;

/* How connections are made: TCP to HOST:PORT (mgr_dq_tcp_connect: a
 * blocking socket with send/receive timeouts), or, once a dialer is set
 * (process-wide; NULL: TCP again), through it: it returns a connected
 * stream socket or a negative errno with err set. */
typedef int (*mgr_dq_dial_fn)(void *arg, const char *address, int timeout_ms, struct vs_err *err);
void mgr_dq_set_dialer(mgr_dq_dial_fn fn, void *arg);
int mgr_dq_tcp_connect(const char *address, int timeout_ms, struct vs_err *err);

/* Connect to the leader, asking addrs[] ("HOST:PORT") in turn, until
 * timeout_ms passes (each address at most 2 s at a time).  ENOTCONN when
 * no leader could be found.  The connection's requests then get
 * timeout_ms each (mgr_dq_set_timeout changes it). */
int mgr_dq_connect(const char *const *addrs, size_t n, int timeout_ms, struct mgr_dq **out,
		   struct vs_err *err);
/* Connect to one node as it is, leader or not (for LEADER and ADD on an
 * empty node). */
int mgr_dq_connect_one(const char *addr, int timeout_ms, struct mgr_dq **out, struct vs_err *err);
/* How long each later request may wait for its answer (ETIMEDOUT after). */
void mgr_dq_set_timeout(struct mgr_dq *c, int timeout_ms);
void mgr_dq_close(struct mgr_dq *c);
/* The address the client is connected to. */
const char *mgr_dq_address(const struct mgr_dq *c);

/* Whether the connection still stands, as far as this end can tell
 * without a request (false once the server closed or reset it). */
bool mgr_dq_alive(struct mgr_dq *c);
/* The SQLite (extended) code of the last FAILURE response since the
 * previous call, 0 when none: tells a statement that did not run (not the
 * leader) from a failed one. */
uint64_t mgr_dq_last_code(struct mgr_dq *c);

/* Who the connected node thinks leads (id 0 and "" when none). */
int mgr_dq_leader(struct mgr_dq *c, uint64_t *id, char **address, struct vs_err *err);
/* Open (creating) database NAME on this connection. */
int mgr_dq_open(struct mgr_dq *c, const char *name, struct vs_err *err);
/* Execute SQL (several statements when no parameters). */
int mgr_dq_exec(struct mgr_dq *c, const char *sql, const struct mgr_dq_value *params, size_t np,
		uint64_t *last_id, uint64_t *changes, struct vs_err *err);
int mgr_dq_query(struct mgr_dq *c, const char *sql, const struct mgr_dq_value *params, size_t np,
		 struct mgr_dq_rows *out, struct vs_err *err);
void mgr_dq_rows_free(struct mgr_dq_rows *r);
/* Row r, column k. */
static inline const struct mgr_dq_value *mgr_dq_at(const struct mgr_dq_rows *rows, size_t r,
						   size_t k)
{
	return &rows->v[r * rows->ncols + k];
}

/* Membership (on the leader). */
int mgr_dq_add(struct mgr_dq *c, uint64_t id, const char *address, struct vs_err *err);
int mgr_dq_assign(struct mgr_dq *c, uint64_t id, uint64_t role, struct vs_err *err);
int mgr_dq_remove(struct mgr_dq *c, uint64_t id, struct vs_err *err);
int mgr_dq_cluster(struct mgr_dq *c, struct mgr_dq_server **out, size_t *n, struct vs_err *err);
void mgr_dq_servers_free(struct mgr_dq_server *s, size_t n);

#endif
