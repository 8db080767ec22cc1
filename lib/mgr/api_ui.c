/*
 * api_ui.c - the web UI's side of vesseld's HTTP server: the static files
 * at /ui/ and the loopback UI listener's token.
 *
 * Static files.  The UI is bundled at build time (ui/build.sh) into one
 * flat directory (index.html, app.js, app.css) installed beside vesseld.
 * Only a plain file name directly in that directory is ever opened: a name
 * of letters, digits, '-', '_' and '.', not starting with '.', with a known
 * extension (which also gives the Content-Type), so no path can leave the
 * directory ("..", "/", "%2f" decoded by libmicrohttpd: all refused before
 * any open) and nothing else in it (dot files, subdirectories) is served.
 * The file is opened with O_NOFOLLOW and must be a regular file.  Each
 * response carries an ETag made of the file's inode, size and mtime and
 * "Cache-Control: no-cache": the browser keeps the file and revalidates it
 * (If-None-Match -> 304), so a newer UI is picked up at once after an
 * upgrade.  The pages' Content-Security-Policy allows scripts and styles
 * from the same origin only.
 *
 * The UI listener (--ui-listen, off by default) is plain HTTP on a
 * loopback address only, for a browser on the host itself.  Its static
 * files are the public bundle and are served to anyone who can connect;
 * its API (/1.0/...) needs "Authorization: Bearer TOKEN", where TOKEN is
 * 32 random bytes made at each start and written to STATE/ui-token (mode
 * 0600, so only root, or vesseld's user, can read it).  The browser is
 * given the token in the URL's fragment (/ui/#token=...), which is never
 * sent to a server, and keeps it in the tab's sessionStorage (origin- and
 * port-scoped).  No cookie is used: a cookie for 127.0.0.1 would be sent
 * to every other port on that host, and a cross-site page cannot send an
 * Authorization header without a CORS preflight, which is not answered
 * (no CSRF).  The Host header must name the listener (127.0.0.1:PORT,
 * localhost:PORT or [::1]:PORT), which stops DNS rebinding.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

struct ui_type {
	const char *ext;
	const char *type;
};

static const struct ui_type ui_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
};

bool api_ui_path(const char *url)
{
	return strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0;
}

/* The Content-Type of a servable file name, or NULL when it is not one. */
static const char *ui_name_type(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128 || name[0] == '.')
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return NULL;
	}
	for (size_t i = 0; i < sizeof(ui_types) / sizeof(ui_types[0]); i++) {
		size_t el = strlen(ui_types[i].ext);
		if (n > el && strcmp(name + n - el, ui_types[i].ext) == 0)
			return ui_types[i].type;
	}
	return NULL;
}

static enum MHD_Result ui_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void ui_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; "
				"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
}

enum MHD_Result api_ui_respond(const char *dir, struct MHD_Connection *conn, const char *url,
			       const char *method)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return ui_text(conn, 405, "method not allowed: the UI's files are read-only\n");
	if (strcmp(url, "/ui") == 0) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Location", "/ui/");
		enum MHD_Result ret = MHD_queue_response(conn, 301, r);
		MHD_destroy_response(r);
		return ret;
	}
	const char *name = url + 4; /* after "/ui/" */
	if (!*name)
		name = "index.html";
	const char *type = ui_name_type(name);
	if (!type)
		return ui_text(conn, 404, "not found\n");
	if (!dir)
		return ui_text(conn, 404,
			       "the web UI is not installed (vesseld --ui-dir, see vesseld.md)\n");
	vs_cleanup_free char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return MHD_NO;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return ui_text(conn, 404, "not found\n");
	}
	char etag[96];
	snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%lx\"",
		 (uint64_t)st.st_ino, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
		 (unsigned long)st.st_mtim.tv_nsec);
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	bool fresh = inm && strstr(inm, etag);
	struct MHD_Response *r;
	if (fresh) {
		close(fd);
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		/* the response owns fd from here on (closed by libmicrohttpd) */
		r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
		if (!r)
			close(fd);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	ui_headers(r);
	enum MHD_Result ret = MHD_queue_response(conn, fresh ? 304 : 200, r);
	MHD_destroy_response(r);
	return ret;
}

int api_ui_token_make(const char *state_dir, char token[API_UI_TOKEN_LEN + 1], struct vs_err *err)
{
	unsigned char b[API_UI_TOKEN_LEN / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return vs_syserrf(err, errno, "getrandom");
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(token + 2 * i, 3, "%02x", b[i]);
	vs_cleanup_free char *path = NULL, *tmp = NULL;
	if (asprintf(&path, "%s/ui-token", state_dir) < 0 ||
	    asprintf(&tmp, "%s/ui-token.tmp", state_dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	unlink(tmp);
	vs_cleanup_close int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", tmp);
	char line[API_UI_TOKEN_LEN + 2];
	snprintf(line, sizeof(line), "%s\n", token);
	if (fchmod(fd, 0600) < 0 || vs_write_full(fd, line, strlen(line)) < 0 || fsync(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return vs_syserrf(err, e, "write %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return vs_syserrf(err, e, "rename %s", path);
	}
	return 0;
}

bool api_ui_token_ok(struct MHD_Connection *conn, const char *token)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	if (strlen(h) != API_UI_TOKEN_LEN)
		return false;
	unsigned char diff = 0; /* constant time: no early exit on a mismatch */
	for (size_t i = 0; i < API_UI_TOKEN_LEN; i++)
		diff |= (unsigned char)(h[i] ^ token[i]);
	return diff == 0;
}

bool api_ui_host_ok(struct MHD_Connection *conn, unsigned port)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	if (!h)
		return false;
	static const char *const hosts[] = { "127.0.0.1", "localhost", "[::1]" };
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s:%u", hosts[i], port);
		if (strcmp(h, want) == 0)
			return true;
	}
	return false;
}
