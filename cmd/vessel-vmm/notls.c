/*
 * notls.c - vessel-vmm's libmicrohttpd without GnuTLS.
 *
 * vessel-vmm serves its control API on a unix socket only and never asks
 * libmicrohttpd for TLS (no MHD_USE_TLS, no HTTPS options).  Debian builds
 * libmicrohttpd with HTTPS support, so the shared library drags GnuTLS and
 * its eight dependencies (p11-kit, nettle, hogweed, gmp, libtasn1, libidn2,
 * libunistring, libffi) into every vessel-vmm process, and GnuTLS's global
 * init (run by libmicrohttpd's constructor) reads its configuration and
 * sets up its random generator at every start: ~2.4 MiB of resident pages
 * and ~2 ms of start-up that a VMM restoring a snapshot pays for nothing.
 *
 * So vessel-vmm links Debian's static libmicrohttpd.a (cmd/vessel-vmm/
 * meson.build) and this file provides the GnuTLS entry points that
 * libmicrohttpd's TLS code references.  Global init and deinit succeed (the
 * library constructor calls them); every session or credential call fails
 * with GNUTLS_E_UNIMPLEMENTED_FEATURE, so a TLS daemon, were one ever
 * requested, would fail to start with an error instead of running without
 * encryption.  vesseld, which does serve TLS, links the real GnuTLS.
 * The prototypes come from GnuTLS's own headers, so a mismatch does not
 * compile.
 */
#include <stdlib.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#define NOTLS GNUTLS_E_UNIMPLEMENTED_FEATURE

gnutls_alloc_function gnutls_malloc = malloc;

int gnutls_global_init(void)
{
	return 0;
}

void gnutls_global_deinit(void)
{
}

const char *gnutls_strerror(int error)
{
	(void)error;
	return "TLS is not built into vessel-vmm";
}

int gnutls_init(gnutls_session_t *session, unsigned int flags)
{
	*session = NULL;
	return NOTLS;
}

void gnutls_deinit(gnutls_session_t session)
{
}

int gnutls_priority_init(gnutls_priority_t *priority_cache, const char *priorities,
			 const char **err_pos)
{
	*priority_cache = NULL;
	return NOTLS;
}

void gnutls_priority_deinit(gnutls_priority_t priority_cache)
{
}

int gnutls_priority_set(gnutls_session_t session, gnutls_priority_t priority)
{
	return NOTLS;
}

int gnutls_certificate_allocate_credentials(gnutls_certificate_credentials_t *res)
{
	*res = NULL;
	return NOTLS;
}

void gnutls_certificate_free_credentials(gnutls_certificate_credentials_t sc)
{
}

void gnutls_certificate_server_set_request(gnutls_session_t session,
					   gnutls_certificate_request_t req)
{
}

void gnutls_certificate_set_dh_params(gnutls_certificate_credentials_t res,
				      gnutls_dh_params_t dh_params)
{
}

void gnutls_certificate_set_retrieve_function2(gnutls_certificate_credentials_t cred,
					       gnutls_certificate_retrieve_function2 *func)
{
}

void gnutls_certificate_set_retrieve_function3(gnutls_certificate_credentials_t cred,
					       gnutls_certificate_retrieve_function3 *func)
{
}

int gnutls_certificate_set_x509_key_mem(gnutls_certificate_credentials_t res,
					const gnutls_datum_t *cert, const gnutls_datum_t *key,
					gnutls_x509_crt_fmt_t type)
{
	return NOTLS;
}

int gnutls_certificate_set_x509_key_mem2(gnutls_certificate_credentials_t res,
					 const gnutls_datum_t *cert, const gnutls_datum_t *key,
					 gnutls_x509_crt_fmt_t type, const char *pass,
					 unsigned int flags)
{
	return NOTLS;
}

int gnutls_certificate_set_x509_trust_mem(gnutls_certificate_credentials_t res,
					  const gnutls_datum_t *ca, gnutls_x509_crt_fmt_t type)
{
	return NOTLS;
}

int gnutls_psk_allocate_server_credentials(gnutls_psk_server_credentials_t *sc)
{
	*sc = NULL;
	return NOTLS;
}

void gnutls_psk_free_server_credentials(gnutls_psk_server_credentials_t sc)
{
}

void gnutls_psk_set_server_credentials_function(gnutls_psk_server_credentials_t cred,
						gnutls_psk_server_credentials_function *func)
{
}

int gnutls_dh_params_init(gnutls_dh_params_t *dh_params)
{
	*dh_params = NULL;
	return NOTLS;
}

void gnutls_dh_params_deinit(gnutls_dh_params_t dh_params)
{
}

int gnutls_dh_params_import_pkcs3(gnutls_dh_params_t params, const gnutls_datum_t *pkcs3_params,
				  gnutls_x509_crt_fmt_t format)
{
	return NOTLS;
}

int gnutls_credentials_set(gnutls_session_t session, gnutls_credentials_type_t type, void *cred)
{
	return NOTLS;
}

int gnutls_alpn_set_protocols(gnutls_session_t session, const gnutls_datum_t *protocols,
			      unsigned protocols_size, unsigned flags)
{
	return NOTLS;
}

void gnutls_transport_set_int2(gnutls_session_t session, int r, int s)
{
}

void gnutls_session_set_ptr(gnutls_session_t session, void *ptr)
{
}

void *gnutls_session_get_ptr(gnutls_session_t session)
{
	return NULL;
}

int gnutls_handshake(gnutls_session_t session)
{
	return NOTLS;
}

int gnutls_bye(gnutls_session_t session, gnutls_close_request_t how)
{
	return NOTLS;
}

ssize_t gnutls_record_recv(gnutls_session_t session, void *data, size_t data_size)
{
	return NOTLS;
}

ssize_t gnutls_record_send(gnutls_session_t session, const void *data, size_t data_size)
{
	return NOTLS;
}

size_t gnutls_record_check_pending(gnutls_session_t session)
{
	return 0;
}

int gnutls_record_get_direction(gnutls_session_t session)
{
	return 0;
}

gnutls_cipher_algorithm_t gnutls_cipher_get(gnutls_session_t session)
{
	return GNUTLS_CIPHER_UNKNOWN;
}

gnutls_protocol_t gnutls_protocol_get_version(gnutls_session_t session)
{
	return GNUTLS_VERSION_UNKNOWN;
}
