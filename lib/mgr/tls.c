/*
 * tls.c - certificates with GnuTLS (vessel/mgr/tls.h): key generation,
 * self-signed certificates, fingerprints.  vesseld uses it for its server
 * certificate (STATE/server.crt, server.key) and `vessel remote add` for
 * the client's (~/.config/vessel/client.crt, client.key).
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/tls.h"

static int tls_err(struct vs_err *err, int rc, const char *what)
{
	return vs_errf(err, EIO, "%s: %s", what, gnutls_strerror(rc));
}

int mgr_tls_fingerprint_der(const void *der, size_t len, char out[MGR_FINGERPRINT_LEN + 1],
			    struct vs_err *err)
{
	unsigned char md[32];
	int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, md);
	if (rc < 0)
		return tls_err(err, rc, "sha256");
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int mgr_tls_fingerprint_pem(const char *pem, size_t len, char out[MGR_FINGERPRINT_LEN + 1],
			    struct vs_err *err)
{
	gnutls_x509_crt_t crt;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return tls_err(err, rc, "certificate");
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)len }, der = { 0 };
	rc = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return vs_errf(err, EINVAL, "not a PEM certificate: %s", gnutls_strerror(rc));
	}
	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0)
		return tls_err(err, rc, "certificate export");
	int r = mgr_tls_fingerprint_der(der.data, der.size, out, err);
	gnutls_free(der.data);
	return r;
}

static int write_new(const char *path, const gnutls_datum_t *d, mode_t mode, struct vs_err *err)
{
	vs_cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", tmp);
	if (vs_write_full(fd, d->data, d->size) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return vs_syserrf(err, e, "write %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return vs_syserrf(err, e, "rename %s", tmp);
	}
	return 0;
}

static int make_cert(const char *cert_path, const char *key_path, const char *cn,
		     const char *const *hosts, struct vs_err *err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kpem = { 0 }, cpem = { 0 };
	int r = -1, rc;
	unsigned char serial[16];
	if (getrandom(serial, sizeof(serial), 0) != sizeof(serial))
		return vs_syserrf(err, errno, "getrandom");
	serial[0] &= 0x7f; /* a positive serial */
	time_t now = time(NULL);
#define TRY(call, what)                         \
	do {                                    \
		if ((rc = (call)) < 0) {        \
			tls_err(err, rc, what); \
			goto out;               \
		}                               \
	} while (0)
	TRY(gnutls_x509_privkey_init(&key), "key");
	TRY(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0),
	    "key generation");
	TRY(gnutls_x509_crt_init(&crt), "certificate");
	TRY(gnutls_x509_crt_set_version(crt, 3), "certificate version");
	TRY(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "certificate serial");
	TRY(gnutls_x509_crt_set_activation_time(crt, now - 60), "certificate time");
	TRY(gnutls_x509_crt_set_expiration_time(crt, now + 10 * 365 * 24 * 3600L),
	    "certificate expiry");
	TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "vessel", 6),
	    "certificate subject");
	TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					  (unsigned)strlen(cn)),
	    "certificate subject");
	for (size_t i = 0; hosts && hosts[i]; i++) {
		unsigned char ip[16];
		if (inet_pton(AF_INET, hosts[i], ip) == 1)
			TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
								 GNUTLS_FSAN_APPEND),
			    "certificate address");
		else if (inet_pton(AF_INET6, hosts[i], ip) == 1)
			TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
								 GNUTLS_FSAN_APPEND),
			    "certificate address");
		else
			TRY(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, hosts[i],
								 (unsigned)strlen(hosts[i]),
								 GNUTLS_FSAN_APPEND),
			    "certificate name");
	}
	TRY(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "certificate constraints");
	TRY(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
	TRY(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "key purpose");
	TRY(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "key purpose");
	TRY(gnutls_x509_crt_set_key(crt, key), "certificate key");
	TRY(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA384, 0), "certificate signature");
	TRY(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem), "key export");
	TRY(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem), "certificate export");
#undef TRY
	/* the key first: a certificate without its key is never left alone */
	if (write_new(key_path, &kpem, 0600, err) < 0)
		goto out;
	if (write_new(cert_path, &cpem, 0644, err) < 0) {
		unlink(key_path);
		goto out;
	}
	r = 0;
out:
	gnutls_free(kpem.data);
	gnutls_free(cpem.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return r;
}

int mgr_tls_ensure_cert(const char *cert_path, const char *key_path, const char *cn,
			const char *const *hosts, bool *created, struct vs_err *err)
{
	*created = false;
	bool have_cert = access(cert_path, F_OK) == 0, have_key = access(key_path, F_OK) == 0;
	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key)
		return vs_errf(err, EINVAL, "%s without %s: remove it or supply both",
			       have_cert ? cert_path : key_path, have_cert ? key_path : cert_path);
	if (make_cert(cert_path, key_path, cn, hosts, err) < 0)
		return -1;
	*created = true;
	return 0;
}
