/*
 * trust.h - the trust store of vesseld's TLS listener: the client
 * certificates allowed in, kept in the database (table `certificates`,
 * schema 4) by their SHA-256 fingerprint, as Incus keeps its trust store.
 * A TLS caller is served when the fingerprint of the certificate it
 * presented (and proved to hold the key of, in the handshake) is listed.
 */
#ifndef VESSEL_MGR_TRUST_H
#define VESSEL_MGR_TRUST_H

#include <json-c/json.h>
#include <stdbool.h>

#include "vessel/core/err.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/tls.h"

/* Add a PEM certificate under a name (a label, 1-64 printable characters);
 * fp gets its fingerprint.  EEXIST when it is already trusted. */
int mgr_trust_add(struct mgr_db *db, const char *pem, const char *name,
		  char fp[MGR_FINGERPRINT_LEN + 1], struct vs_err *err);
/* Remove by fingerprint (the full 64 digits, or a unique prefix of at
 * least 12); ENOENT when none matches. */
int mgr_trust_remove(struct mgr_db *db, const char *fingerprint, struct vs_err *err);
/* Whether the exact fingerprint is trusted (false on any error). */
bool mgr_trust_check(struct mgr_db *db, const char *fingerprint);
/* One certificate, by fingerprint (or unique prefix), as JSON. */
int mgr_trust_get(struct mgr_db *db, const char *fingerprint, struct json_object **out,
		  struct vs_err *err);
/* All of them: an array of {"fingerprint","name","type","certificate","created_at"}. */
int mgr_trust_list(struct mgr_db *db, struct json_object **out, struct vs_err *err);

#endif
