/*
 * cluster_internal.h - what cluster.c lends to cluster_token.c (the join
 * tokens): statements on the leader, the member's directories, and a join
 * split into its check (no side effect) and the join through several
 * members' Raft addresses.
 */
#ifndef VESSEL_MGR_CLUSTER_INTERNAL_H
#define VESSEL_MGR_CLUSTER_INTERNAL_H

#include <stddef.h>

#include "vessel/core/err.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/dqlite_client.h"

/* Run fn with a connection to the Raft leader (the cluster's lock held;
 * retried on a moved leader or a busy database, so fn rolls back what it
 * began when it fails).  ENOENT when this host is not a member. */
int mgr_cluster_run(struct mgr_cluster *c,
		    int (*fn)(struct mgr_dq *q, void *arg, struct vs_err *err), void *arg,
		    struct vs_err *err);
/* STATE/cluster, and STATE. */
const char *mgr_cluster_dir(struct mgr_cluster *c);
const char *mgr_cluster_state_dir(struct mgr_cluster *c);
/* Would mgr_cluster_join accept NAME and ADDRESS here (not a member yet, a
 * valid name, HOST:PORT, a TLS listener)?  Writes nothing. */
int mgr_cluster_join_check(struct mgr_cluster *c, const char *name, const char *address,
			   struct vs_err *err);
/* mgr_cluster_join through any of joins[] (Raft addresses of members). */
int mgr_cluster_join_peers(struct mgr_cluster *c, const char *name, const char *address,
			   const char *const *joins, size_t njoins, struct vs_err *err);

#endif
