/*
 * raft_tls.h - TLS on a cluster member's Raft port (raft_tls.c): the
 * member's dqlite node listens on a private abstract socket, vesseld
 * accepts TLS on the public cluster address and relays to it, and every
 * outgoing connection (the node's to other members, the manager's dqlite
 * client) goes through a TLS client.  Both ends present the cluster
 * certificate and accept only a peer presenting the same one.
 */
#ifndef VESSEL_MGR_RAFT_TLS_H
#define VESSEL_MGR_RAFT_TLS_H

#include "vessel/core/err.h"

struct mgr_raft_tls;

/* The cluster's certificate and key (PEM files): what this member
 * presents and the only certificate it accepts from a peer. */
int mgr_raft_tls_new(const char *cert, const char *key, struct mgr_raft_tls **out,
		     struct vs_err *err);
/* Stop listening (if it did) and drop the credentials once the last
 * relayed connection ended. */
void mgr_raft_tls_free(struct mgr_raft_tls *t);
/* Accept TLS on address (HOST:PORT) and relay each verified connection to
 * local (the node's bind address, "@NAME": an abstract unix socket). */
int mgr_raft_tls_listen(struct mgr_raft_tls *t, const char *address, const char *local,
			struct vs_err *err);
void mgr_raft_tls_unlisten(struct mgr_raft_tls *t);
/* Connect to a member's address over TLS: a stream socket whose other end
 * is relayed to the verified TLS session (closing it ends the session). */
int mgr_raft_tls_dial(void *t, const char *address, int timeout_ms, struct vs_err *err);
/* dqlite_node_set_connect_func's function (arg: the mgr_raft_tls). */
int mgr_raft_tls_node_connect(void *t, const char *address, int *fd);

#endif
