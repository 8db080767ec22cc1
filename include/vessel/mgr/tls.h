/*
 * tls.h - the certificates of vesseld's TLS listener and of its clients,
 * with GnuTLS: a key and a self-signed certificate made on first use
 * (ECDSA P-384, ten years, usable for TLS server and client auth), their
 * SHA-256 fingerprints (of the DER certificate, lowercase hex, as Incus
 * shows them), and the fingerprint of the certificate a TLS peer presented.
 */
#ifndef VESSEL_MGR_TLS_H
#define VESSEL_MGR_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "vessel/core/err.h"

#define MGR_FINGERPRINT_LEN 64 /* hex digits of a SHA-256 */

/*
 * Make KEY_PATH (mode 0600) and CERT_PATH (0644) unless both exist; cn is
 * the subject's common name, hosts (NULL-terminated, may be NULL) the
 * subject alternative names (IP addresses or DNS names).  *created says
 * whether new files were written.
 */
int mgr_tls_ensure_cert(const char *cert_path, const char *key_path, const char *cn,
			const char *const *hosts, bool *created, struct vs_err *err);

/* The fingerprint of the first certificate in a PEM text. */
int mgr_tls_fingerprint_pem(const char *pem, size_t len, char out[MGR_FINGERPRINT_LEN + 1],
			    struct vs_err *err);
/* The fingerprint of a DER certificate. */
int mgr_tls_fingerprint_der(const void *der, size_t len, char out[MGR_FINGERPRINT_LEN + 1],
			    struct vs_err *err);

#endif
