/*
 * export_member.h - what export.c and import.c agree on about one member of
 * an export file: its digest, the SHA-256 of a canonical line of its
 * header fields (path, type, permissions, owner, device numbers, size,
 * mtime seconds, link targets, extended attributes in archive order)
 * followed by its data, so that a changed byte anywhere in a member, not
 * only in file contents, changes the digest.
 */
#ifndef VESSEL_MGR_EXPORT_MEMBER_H
#define VESSEL_MGR_EXPORT_MEMBER_H

#include <archive.h>
#include <archive_entry.h>
#include <gnutls/crypto.h>
#include <stddef.h>

#include "vessel/core/err.h"

#define EXPORT_META_NAME      "vessel-export.json"
#define EXPORT_CHECKSUMS_NAME "checksums.json"
#define EXPORT_JSON_MAX	      (4u << 20)

/* Start a member's digest with its header fields. */
int export_member_begin(gnutls_hash_hd_t *h, struct archive_entry *e, struct vs_err *err);
/* Finish it: hex (65 bytes). */
void export_member_end(gnutls_hash_hd_t h, char hex[65]);

#endif
