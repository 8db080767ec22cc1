/*
 * export_member.c - the digest of one export member (export_member.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "export_member.h"

int export_member_begin(gnutls_hash_hd_t *h, struct archive_entry *e, struct vs_err *err)
{
	if (gnutls_hash_init(h, GNUTLS_DIG_SHA256) < 0)
		return vs_errf(err, EIO, "sha256: cannot initialise");
	const char *path = archive_entry_pathname(e), *sl = archive_entry_symlink(e),
		   *hl = archive_entry_hardlink(e);
	char line[256];
	int n = snprintf(
	    line, sizeof(line), "%o %" PRId64 " %" PRId64 " %u:%u %" PRId64 " %" PRId64 " %d%d\n",
	    hl ? (unsigned)archive_entry_perm(e) : (unsigned)archive_entry_mode(e),
	    (int64_t)archive_entry_uid(e), (int64_t)archive_entry_gid(e),
	    (unsigned)archive_entry_rdevmajor(e), (unsigned)archive_entry_rdevminor(e),
	    archive_entry_filetype(e) == AE_IFREG && !hl ? (int64_t)archive_entry_size(e) : 0,
	    (int64_t)archive_entry_mtime(e), sl != NULL, hl != NULL);
	/* tar writers add a '/' to directories' names: not part of the name */
	size_t plen = path ? strlen(path) : 0;
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	gnutls_hash(*h, path ? path : "", plen);
	gnutls_hash(*h, "", 1);
	gnutls_hash(*h, line, (size_t)n);
	gnutls_hash(*h, sl ? sl : "", sl ? strlen(sl) + 1 : 1);
	gnutls_hash(*h, hl ? hl : "", hl ? strlen(hl) + 1 : 1);
	const char *name;
	const void *val;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		gnutls_hash(*h, name, strlen(name) + 1);
		uint64_t sz = size;
		gnutls_hash(*h, &sz, sizeof(sz));
		gnutls_hash(*h, val, size);
	}
	return 0;
}

void export_member_end(gnutls_hash_hd_t h, char hex[65])
{
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}
