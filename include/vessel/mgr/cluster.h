/*
 * cluster.h - vessel clusters: several vesseld hosts acting as one, their
 * shared state in a dqlite database (Raft-replicated SQLite).  See
 * cluster.c for the design and docs/vesseld.md for its use.
 */
#ifndef VESSEL_MGR_CLUSTER_H
#define VESSEL_MGR_CLUSTER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

struct mgr_cluster;

/* A member as the cluster database records it. */
struct mgr_cluster_member {
	char name[64];
	char address[128]; /* dqlite (Raft) address HOST:PORT */
	char url[160];	   /* API: https://HOST:PORT */
	char fingerprint[65];
	char cert_path[300]; /* its server certificate, pinned when forwarding */
	char description[256];
	int64_t heartbeat; /* unix seconds of its last report */
	int64_t memory_free, cpus;
	bool online, self;
};

/*
 * Open the cluster side of m: when STATE/cluster/member.json exists (this
 * host was initialised or joined), start the dqlite node and the sync
 * thread; otherwise stay single-host until mgr_cluster_init/join.  listen
 * is vesseld's TLS listener ("ADDR:PORT", NULL when none): its port is the
 * member's API port.  Attaches itself to m (mgr_get_cluster).
 */
int mgr_cluster_open(struct mgr *m, const char *listen, struct mgr_cluster **out,
		     struct vs_err *err);
void mgr_cluster_close(struct mgr_cluster *c);

bool mgr_cluster_enabled(struct mgr_cluster *c);
const char *mgr_cluster_self(struct mgr_cluster *c);
/* The schema version of the cluster database (db.c's migrations). */
int mgr_cluster_schema_version(struct mgr_cluster *c, struct vs_err *err);
/* The Raft address of the leader this member talks to ("" when none). */
void mgr_cluster_leader(struct mgr_cluster *c, char *out, size_t cap);

/* Bootstrap a new cluster of one: this host, named NAME, with its Raft
 * node on ADDRESS (HOST:PORT). */
int mgr_cluster_init(struct mgr_cluster *c, const char *name, const char *address,
		     struct vs_err *err);
/* Join the cluster that the member at JOIN (its Raft address) belongs to. */
int mgr_cluster_join(struct mgr_cluster *c, const char *name, const char *address, const char *join,
		     struct vs_err *err);
/* Remove member NAME (not this one) from Raft and the database; EBUSY while
 * it still has instances unless force. */
int mgr_cluster_remove(struct mgr_cluster *c, const char *name, bool force, struct vs_err *err);
int mgr_cluster_set_description(struct mgr_cluster *c, const char *name, const char *desc,
				struct vs_err *err);

/* The members (fresh from the database when reachable). */
int mgr_cluster_members(struct mgr_cluster *c, struct mgr_cluster_member **out, size_t *n,
			struct vs_err *err);
struct json_object *mgr_cluster_member_json(const struct mgr_cluster_member *mb);

/* Where instance NAME lives: *member filled; ENOENT when no member has it. */
int mgr_cluster_locate(struct mgr_cluster *c, const char *name, struct mgr_cluster_member *member,
		       struct vs_err *err);
/* The cluster's copy of instance NAME: its API object as its member last
 * reported it (config, devices, "snapshots"), with "location" and the
 * status "Offline" when that member is; *member filled.  ENOENT when no
 * member has it. */
int mgr_cluster_instance_copy(struct mgr_cluster *c, const char *name,
			      struct mgr_cluster_member *member, struct json_object **copy,
			      struct vs_err *err);
/* Instances of other members, as list objects with "location" (status
 * "Offline" when their member is). */
int mgr_cluster_remote_instances(struct mgr_cluster *c, struct json_object *into,
				 struct vs_err *err);
/* The member a new instance goes to: target when given (must exist and be
 * online), else the one with the most free memory per instance. */
int mgr_cluster_place(struct mgr_cluster *c, const char *target, struct mgr_cluster_member *out,
		      struct vs_err *err);
/* Send a request to another member's API as this member (its server
 * certificate as the client certificate, the member's pinned), with the
 * header MGR_CLUSTER_FORWARDED_HEADER naming this member: the receiving
 * member does not audit it again. */
#define MGR_CLUSTER_FORWARDED_HEADER "X-Vessel-Forwarded-By"
int mgr_cluster_forward(struct mgr_cluster *c, const struct mgr_cluster_member *to,
			const char *method, const char *path, struct json_object *body,
			struct json_object **metadata, struct vs_err *err);
/* GET path (a stream: an export) from another member's API into the new
 * file, as mgr_cluster_forward sends requests.  EIO with the member's
 * error when it answers otherwise than 200. */
int mgr_cluster_download(struct mgr_cluster *c, const struct mgr_cluster_member *from,
			 const char *path, const char *file, struct vs_err *err);
/*
 * Images and volumes cluster-wide (cluster_image.c).  Each member keeps
 * its own image store and volumes; the cluster finds them by asking the
 * other online members (forwarded requests, answered for that member
 * only).
 *
 * Make image REF (alias or fingerprint) present on this host: when it is
 * not and this host is a cluster member, the first online member that has
 * it sends it (GET /1.0/images/FP/export: its OCI layout or VM image
 * directory as a tar, streamed into images/tmp) and it is imported here
 * with every check of an import, the result's fingerprint compared with
 * the sender's; its aliases follow where free here.  ENOENT (the local
 * error) when no member has it; EAGAIN naming the member when only an
 * offline member's last report lists it (mgr_cluster_image_offline).
 */
int mgr_cluster_image_ensure(struct mgr *m, const char *ref, struct vs_err *err);
/* Whether image object img (an API object) is what ref names: one of its
 * aliases, or a prefix of its fingerprint (6 hex digits or more). */
bool mgr_cluster_image_is(struct json_object *img, const char *ref);
/* "/1.0/images/REF" + sub, REF escaped, for requests to other members
 * (malloc'd; NULL when out of memory). */
char *mgr_cluster_image_path(const char *ref, const char *sub);
/* The offline member whose last report lists an image ref names: EAGAIN,
 * its name in member and an error naming it; ENOENT when none does. */
int mgr_cluster_image_offline(struct mgr_cluster *c, const char *ref, char member[64],
			      struct vs_err *err);
/* GET /1.0/images/REF on every other member, as mgr_cluster_fanout, where
 * an unreachable member's answer is the array of the images of its last
 * report that ref names (possibly empty), marked "unreachable": true. */
int mgr_cluster_fanout_image(struct mgr_cluster *c, const char *ref, struct json_object **out,
			     struct vs_err *err);
/* The images (volumes false) or storage volumes of member as it last
 * reported them to the cluster (a JSON array of their API objects, without
 * locations): what the others list while it is unreachable. */
int mgr_cluster_member_objects(struct mgr_cluster *c, const char *member, bool volumes,
			       struct json_object **out, struct vs_err *err);
/* A listing (GET path, answered with an array) from every other member, as
 * mgr_cluster_fanout, where an unreachable member's answer is its last
 * report's images or volumes (mgr_cluster_member_objects) marked
 * "unreachable": true. */
int mgr_cluster_fanout_listing(struct mgr_cluster *c, const char *path, bool volumes,
			       struct json_object **out, struct vs_err *err);
/* Claim image alias name for image fp (64 hex digits) in the cluster
 * before making it: 0 when the name is free or names fp already
 * (*inserted: this call made the claim, to release if the alias is not
 * made after all); EEXIST naming the image it names otherwise.  A claim of
 * another image is taken over when it is old and listed(arg, name) says
 * no member lists the alias. */
int mgr_cluster_alias_claim(struct mgr_cluster *c, const char *name, const char *fp,
			    bool (*listed)(void *arg, const char *name), void *arg, bool *inserted,
			    struct vs_err *err);
/* Drop the claim of alias name (fp NULL: whatever image it names; name
 * NULL: every alias of image fp). */
int mgr_cluster_alias_release(struct mgr_cluster *c, const char *name, const char *fp,
			      struct vs_err *err);
/* Send a request to every other member (as mgr_cluster_forward): *out gets
 * [{"member", "metadata"} | {"member", "code", "error", "offline"}], one
 * per member, offline ones not asked. */
int mgr_cluster_fanout(struct mgr_cluster *c, const char *method, const char *path,
		       struct json_object *body, struct json_object **out, struct vs_err *err);
/* Is FINGERPRINT a member's certificate (members trust each other)? */
bool mgr_cluster_trusts(struct mgr_cluster *c, const char *fingerprint);
/*
 * Move every instance of this member to the others (each placed as a new
 * instance would be, this member excluded): stopped, exported through
 * this member's API (GET /1.0/instances/NAME/export?snapshots=1: its
 * snapshots and its volumes with theirs), imported on the other member
 * (POST /1.0/instances, the file as the body; the image fetched there
 * when it lacks it), deleted here with its volumes, started there when it
 * was running.  Refused before anything moves (ENOTSUP) when a VM has
 * snapshots of its own (inside its disk, which an export cannot carry).
 * Stops at the first failure (that instance stays here, running as
 * before).  moved gets [{"name","from","to"}].
 */
int mgr_cluster_evacuate(struct mgr_cluster *c, struct json_object *moved, struct vs_err *err);
/*
 * The database of what a cluster shares (policies, the audit log): the
 * cluster's dqlite database when this host is a member (a connection of
 * its own, opened at first use), else the host's own file.  NULL (err
 * filled) when the cluster's cannot be opened.
 */
struct mgr_db *mgr_shared_db(struct mgr *m, struct vs_err *err);
/* Ask the sync thread to report this member's instances now. */
void mgr_cluster_kick(struct mgr_cluster *c);

/*
 * Join tokens (cluster_token.c): `vessel cluster add NAME` on a member
 * issues a one-time token (base64 of JSON: the joiner's name, a secret,
 * the online members' API addresses and certificate fingerprints, an
 * expiry); the new host joins with it alone (no certificate copied).
 */
#define MGR_CLUSTER_TOKEN_TTL_S (3 * 3600) /* default lifetime: 3 hours */
#define MGR_CLUSTER_TOKEN_MAX	8192	   /* bytes of a token's text */
/* Issue a token for member NAME (ttl_s <= 0: the default): *out gets
 * {"server_name","token","expires_at"}.  EEXIST when NAME is a member or
 * has a pending token. */
int mgr_cluster_token_issue(struct mgr_cluster *c, const char *name, int64_t ttl_s,
			    struct json_object **out, struct vs_err *err);
/* The pending tokens (not used, not revoked; expired ones flagged), never
 * their secrets: [{"server_name","created_by","created_at","expires_at","expired"}]. */
int mgr_cluster_tokens(struct mgr_cluster *c, struct json_object **out, struct vs_err *err);
/* Revoke NAME's pending token (ENOENT when there is none). */
int mgr_cluster_token_revoke(struct mgr_cluster *c, const char *name, struct vs_err *err);
/*
 * Spend a token for a joining host (cert_pem its API certificate;
 * peer_fp the fingerprint of the TLS client certificate it presented, NULL
 * on the unix socket: both must agree).  *out gets {"server_name",
 * "cluster_certificate","cluster_key","members":[{"server_name","address"}]}.
 * EINVAL for a malformed token, EACCES (with the reason) for an unknown,
 * altered, revoked, used or expired one, EEXIST when the name is taken.
 */
int mgr_cluster_token_redeem(struct mgr_cluster *c, const char *token, const char *cert_pem,
			     const char *peer_fp, struct json_object **out, struct vs_err *err);
/* Join the cluster with a token (decoded, its name must be NAME; redeemed
 * at a listed member over TLS pinned to the token's fingerprint; the
 * cluster certificate written only then). */
int mgr_cluster_join_token(struct mgr_cluster *c, const char *name, const char *address,
			   const char *token, struct vs_err *err);

#endif
