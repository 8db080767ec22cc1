/*
 * client.c - the API client (client.h) on libcurl: over the unix socket,
 * or over HTTPS to a remote vesseld with a client certificate, the
 * server's certificate pinned (it is the only one trusted, and as it is
 * pinned the host name is not checked against it).  One easy handle per
 * client, reused (keep-alive) across requests.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/mgr/client.h"

#define RESPONSE_MAX (256u << 20)

struct mgr_client {
	CURL *curl;
	char *socket_path; /* or: */
	char *url, *cert, *key, *server_cert;
	const char *where; /* for messages */
	void (*progress)(void *opaque, struct json_object *metadata);
	void *progress_opaque;
	/* an upload read by a callback (mgr_client_upload_fd) */
	size_t (*read_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
	void *read_data;
	/* mgr_client_set_deadlines: 0 for none (the operation wait: 60 s) */
	long connect_ms, idle_s;
	int wait_s;
};

void mgr_client_set_deadlines(struct mgr_client *c, long connect_ms, long idle_s, int wait_s)
{
	c->connect_ms = connect_ms;
	c->idle_s = idle_s;
	c->wait_s = wait_s;
}

void mgr_client_set_progress(struct mgr_client *c,
			     void (*fn)(void *opaque, struct json_object *metadata), void *opaque)
{
	c->progress = fn;
	c->progress_opaque = opaque;
}

struct buf {
	int out_fd; /* download: a 200's bytes go here (see on_data) */
	CURL *h;
	bool to_fd;
	char *data;
	size_t len, cap;
	int (*on_line)(const char *line, void *opaque);
	void *opaque;
	bool stop;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;
	if (b->h) {
		long status = 0;
		curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
		b->to_fd = status == 200;
	}
	if (b->to_fd) {
		for (size_t off = 0; off < n;) {
			ssize_t w = write(b->out_fd, ptr + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return 0;
			off += (size_t)w;
		}
		return n;
	}
	if (b->len + n + 1 > b->cap) {
		if (b->len + n + 1 > RESPONSE_MAX)
			return 0;
		size_t cap = (b->len + n + 1) * 2;
		char *nd = realloc(b->data, cap);
		if (!nd)
			return 0;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = 0;
	if (b->on_line) {
		char *nl;
		while (!b->stop && (nl = memchr(b->data, '\n', b->len))) {
			*nl = 0;
			if (nl != b->data && b->on_line(b->data, b->opaque))
				b->stop = true;
			size_t used = (size_t)(nl - b->data) + 1;
			memmove(b->data, nl + 1, b->len - used);
			b->len -= used;
			b->data[b->len] = 0;
		}
		if (b->stop)
			return 0;
	}
	return n;
}

struct mgr_client *mgr_client_new(const char *socket_path, struct vs_err *err)
{
	static bool inited;
	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	struct mgr_client *c = calloc(1, sizeof(*c));
	if (!c || !(c->socket_path = strdup(socket_path)) || !(c->curl = curl_easy_init())) {
		if (c)
			free(c->socket_path);
		free(c);
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->where = c->socket_path;
	return c;
}

struct mgr_client *mgr_client_new_remote(const char *url, const char *cert, const char *key,
					 const char *server_cert, struct vs_err *err)
{
	if (strncmp(url, "https://", 8) != 0 || !url[8]) {
		vs_errf(err, EINVAL, "remote %s: expected https://HOST:PORT", url);
		return NULL;
	}
	if (!cert || !key) {
		vs_errf(err, EINVAL,
			"remote %s: a client certificate and key are needed "
			"(--cert and --key, or vessel remote add)",
			url);
		return NULL;
	}
	if (!server_cert) {
		vs_errf(err, EINVAL,
			"remote %s: the server's certificate is needed to check it "
			"(--server-cert FILE, or vessel remote add)",
			url);
		return NULL;
	}
	const char *files[] = { cert, key, server_cert };
	for (int i = 0; i < 3; i++)
		if (access(files[i], R_OK) < 0) {
			vs_syserrf(err, errno, "%s", files[i]);
			return NULL;
		}
	struct mgr_client *c = mgr_client_new("", err);
	if (!c)
		return NULL;
	size_t n = strlen(url);
	while (n > 8 && url[n - 1] == '/')
		n--;
	if (!(c->url = strndup(url, n)) || !(c->cert = strdup(cert)) || !(c->key = strdup(key)) ||
	    !(c->server_cert = strdup(server_cert))) {
		mgr_client_free(c);
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->where = c->url;
	return c;
}

void mgr_client_free(struct mgr_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->socket_path);
	free(c->url);
	free(c->cert);
	free(c->key);
	free(c->server_cert);
	free(c);
}

/* Keep the PEM of the server's certificate (CURLINFO_CERTINFO). */
int mgr_client_fetch_server_cert(const char *url, char **pem, struct vs_err *err)
{
	*pem = NULL;
	if (strncmp(url, "https://", 8) != 0)
		return vs_errf(err, EINVAL, "remote %s: expected https://HOST:PORT", url);
	CURL *h = curl_easy_init();
	if (!h)
		return vs_errf(err, ENOMEM, "out of memory");
	char full[1024];
	snprintf(full, sizeof(full), "%.1000s/1.0", url);
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	/* not verified here: the caller shows the fingerprint and pins it */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	CURLcode rc = curl_easy_perform(h);
	struct curl_certinfo *ci = NULL;
	int r = 0;
	if (rc != CURLE_OK) {
		r = vs_errf(err, ECONNREFUSED, "cannot reach vesseld at %s: %s", url,
			    curl_easy_strerror(rc));
	} else if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
		   ci->num_of_certs < 1) {
		r = vs_errf(err, EIO, "%s did not show a certificate", url);
	} else {
		for (struct curl_slist *l = ci->certinfo[0]; l && !*pem; l = l->next)
			if (strncmp(l->data, "Cert:", 5) == 0 && !(*pem = strdup(l->data + 5)))
				r = vs_errf(err, ENOMEM, "out of memory");
		if (!r && !*pem)
			r = vs_errf(err, EIO, "%s: the server's certificate is not readable", url);
	}
	curl_easy_cleanup(h);
	return r;
}

int mgr_client_errno_of_status(long status)
{
	switch (status) {
	case 400: return EINVAL;
	case 403: return EACCES;
	case 404: return ENOENT;
	case 405: return ENOTSUP;
	case 409: return EEXIST;
	case 413: return E2BIG;
	case 501: return ENOTSUP;
	case 503: return EAGAIN; /* e.g. what it needs is on an offline cluster member */
	default: return EIO;
	}
}

/* The handle reset and aimed at PATH: the unix socket, or the remote's URL
 * with this client's certificate and the pinned server certificate. */
static void reset_handle(struct mgr_client *c, const char *path)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	char url[2048];
	if (c->url) {
		snprintf(url, sizeof(url), "%s%s", c->url, path);
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
		curl_easy_setopt(h, CURLOPT_CAINFO, c->server_cert);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		snprintf(url, sizeof(url), "http://vessel%s", path);
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
}

/* One HTTP exchange; *resp gets the parsed JSON body. */
static int exchange(struct mgr_client *c, const char *method, const char *path, const char *body,
		    size_t body_len, FILE *upload, curl_off_t upload_len,
		    const char *const *headers, struct buf *b, long *status, struct vs_err *err)
{
	CURL *h = c->curl;
	reset_handle(c, path);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->connect_ms) /* TCP and the TLS handshake */
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	if (c->idle_s) { /* a peer that accepted but stopped answering */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->idle_s);
	}
	struct curl_slist *hl = NULL;
	if (upload) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (c->read_cb) {
			curl_easy_setopt(h, CURLOPT_READFUNCTION, c->read_cb);
			curl_easy_setopt(h, CURLOPT_READDATA, c->read_data);
		} else {
			curl_easy_setopt(h, CURLOPT_READDATA, upload);
		}
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, upload_len);
		hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
		hl = curl_slist_append(hl, "Expect:");
	} else if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
		hl = curl_slist_append(hl, "Content-Type: application/json");
	}
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (hl)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK && !(b->stop && rc == CURLE_WRITE_ERROR)) {
		if (rc == CURLE_COULDNT_CONNECT)
			return vs_errf(err, ECONNREFUSED,
				       c->url
					   ? "cannot reach vesseld at %s (is it running with "
					     "--listen?)"
					   : "cannot reach vesseld at %s (is it running? can you "
					     "access the socket?)",
				       c->where);
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
			return vs_errf(
			    err, EACCES,
			    "%s: the server's certificate is not the one pinned in %s: %s",
			    c->where, c->server_cert, curl_easy_strerror(rc));
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return vs_errf(err, ETIMEDOUT, "vesseld at %s does not answer: %s",
				       c->where, curl_easy_strerror(rc));
		return vs_errf(err, EIO, "request to vesseld failed: %s", curl_easy_strerror(rc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* Parse an envelope; error envelopes become err. */
static int envelope(const struct buf *b, long status, struct json_object **out, struct vs_err *err)
{
	struct json_object *o = b->data ? json_tokener_parse(b->data) : NULL;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return vs_errf(err, EIO, "vesseld answered %ld with something that is not JSON",
			       status);
	}
	struct json_object *t;
	if (json_object_object_get_ex(o, "type", &t) &&
	    strcmp(json_object_get_string(t), "error") == 0) {
		struct json_object *m;
		const char *msg =
		    json_object_object_get_ex(o, "error", &m) ? json_object_get_string(m) : "error";
		int r = vs_errf(err, mgr_client_errno_of_status(status), "%s", msg);
		json_object_put(o);
		return r;
	}
	*out = o;
	return 0;
}

static int wait_op_inner(struct mgr_client *c, const char *op_url, struct json_object **metadata,
			 struct vs_err *err)
{
	/* with a progress callback: a look at once, then every second */
	for (int round = 0;; round++) {
		char path[320];
		snprintf(path, sizeof(path), "%.256s/wait?timeout=%d", op_url,
			 c->progress ? (round ? 1 : 0)
			 : c->wait_s ? c->wait_s
				     : 60);
		struct buf b = { 0 };
		long status = 0;
		int r = exchange(c, "GET", path, NULL, 0, NULL, 0, NULL, &b, &status, err);
		struct json_object *env = NULL;
		if (r == 0)
			r = envelope(&b, status, &env, err);
		free(b.data);
		if (r < 0)
			return r;
		struct json_object *md, *st, *e, *m;
		json_object_object_get_ex(env, "metadata", &md);
		const char *s =
		    json_object_object_get_ex(md, "status", &st) ? json_object_get_string(st) : "";
		if (strcmp(s, "Success") == 0) {
			if (metadata)
				*metadata = json_object_object_get_ex(md, "metadata", &m) && m
						? json_object_get(m)
						: json_object_new_object();
			json_object_put(env);
			return 0;
		}
		if (c->progress && json_object_object_get_ex(md, "metadata", &m) && m &&
		    json_object_is_type(m, json_type_object) &&
		    (strcmp(s, "Running") == 0 || strcmp(s, "Pending") == 0))
			c->progress(c->progress_opaque, m);
		if (strcmp(s, "Failure") == 0 || strcmp(s, "Cancelled") == 0) {
			const char *msg = json_object_object_get_ex(md, "err", &e)
					      ? json_object_get_string(e)
					      : s;
			r = vs_errf(err, strcmp(s, "Cancelled") == 0 ? ECANCELED : EIO, "%s", msg);
			json_object_put(env);
			return r;
		}
		json_object_put(env);
	}
}

/* wait_op_inner, then the progress callback hears the end (NULL). */
static int wait_op(struct mgr_client *c, const char *op_url, struct json_object **metadata,
		   struct vs_err *err)
{
	int r = wait_op_inner(c, op_url, metadata, err);
	if (c->progress)
		c->progress(c->progress_opaque, NULL);
	return r;
}

static int finish(struct mgr_client *c, struct buf *b, long status, struct json_object **metadata,
		  struct vs_err *err)
{
	struct json_object *env = NULL;
	int r = envelope(b, status, &env, err);
	if (r < 0)
		return r;
	struct json_object *t, *md, *op;
	json_object_object_get_ex(env, "type", &t);
	if (strcmp(json_object_get_string(t), "async") == 0 &&
	    json_object_object_get_ex(env, "operation", &op)) {
		char url[256];
		snprintf(url, sizeof(url), "%s", json_object_get_string(op));
		json_object_put(env);
		return wait_op(c, url, metadata, err);
	}
	if (metadata)
		*metadata = json_object_object_get_ex(env, "metadata", &md) && md
				? json_object_get(md)
				: json_object_new_object();
	json_object_put(env);
	return 0;
}

int mgr_client_do(struct mgr_client *c, const char *method, const char *path,
		  struct json_object *body, struct json_object **metadata, struct vs_err *err)
{
	return mgr_client_do_ex(c, method, path, body, NULL, metadata, err);
}

int mgr_client_do_ex(struct mgr_client *c, const char *method, const char *path,
		     struct json_object *body, const char *const *headers,
		     struct json_object **metadata, struct vs_err *err)
{
	const char *text =
	    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
	struct buf b = { 0 };
	long status = 0;
	int r = exchange(c, method, path, text, text ? strlen(text) : 0, NULL, 0, headers, &b,
			 &status, err);
	if (r == 0)
		r = finish(c, &b, status, metadata, err);
	free(b.data);
	return r;
}

int mgr_client_upload(struct mgr_client *c, const char *path, const char *file,
		      const char *const *headers, struct json_object **metadata, struct vs_err *err)
{
	vs_cleanup_fclose FILE *f = fopen(file, "rbe");
	if (!f)
		return vs_syserrf(err, errno, "%s", file);
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "%s: not a regular file", file);
	struct buf b = { 0 };
	long status = 0;
	int r = exchange(c, "POST", path, NULL, 0, f, (curl_off_t)st.st_size, headers, &b, &status,
			 err);
	if (r == 0)
		r = finish(c, &b, status, metadata, err);
	free(b.data);
	return r;
}

int mgr_client_stream(struct mgr_client *c, const char *path,
		      int (*on_line)(const char *line, void *opaque), void *opaque,
		      struct vs_err *err)
{
	struct buf b = { .on_line = on_line, .opaque = opaque };
	long status = 0;
	int r = exchange(c, "GET", path, NULL, 0, NULL, 0, NULL, &b, &status, err);
	if (r == 0 && status != 200) {
		struct json_object *env = NULL;
		r = envelope(&b, status, &env, err);
		json_object_put(env);
	}
	free(b.data);
	return r;
}

struct download {
	CURL *h;
	int fd;
	long status;
	struct buf err_body; /* the envelope of a refusal */
	uint64_t bytes;
	void (*progress)(void *opaque, uint64_t bytes);
	void *opaque;
	int werrno;
};

static size_t on_download(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct download *d = userdata;
	size_t n = size * nmemb;
	if (!d->status)
		curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->status != 200)
		return on_data(ptr, size, nmemb, &d->err_body);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(d->fd, ptr + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			d->werrno = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	d->bytes += n;
	if (d->progress)
		d->progress(d->opaque, d->bytes);
	return n;
}

int mgr_client_download(struct mgr_client *c, const char *path, int fd,
			void (*progress)(void *opaque, uint64_t bytes), void *opaque,
			struct vs_err *err)
{
	struct download d = { .h = c->curl, .fd = fd, .progress = progress, .opaque = opaque };
	struct buf unused = { 0 };
	long status = 0;
	/* exchange() installs on_data; ours replaces it through the prepared handle */
	CURL *h = c->curl;
	reset_handle(c, path);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_download);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(h);
	free(unused.data);
	int r = 0;
	if (!d.status)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &d.status);
	status = d.status;
	if (rc == CURLE_COULDNT_CONNECT)
		r = vs_errf(err, ECONNREFUSED, "cannot reach vesseld at %s", c->where);
	else if (d.werrno)
		r = vs_syserrf(err, d.werrno, "write the download");
	else if (status && status != 200) {
		struct json_object *env = NULL;
		r = envelope(&d.err_body, status, &env, err);
		json_object_put(env);
		if (r == 0)
			r = vs_errf(err, EIO, "vesseld answered %ld", status);
	} else if (rc != CURLE_OK)
		r = vs_errf(err, EIO, "download from vesseld failed after %llu bytes: %s",
			    (unsigned long long)d.bytes, curl_easy_strerror(rc));
	free(d.err_body.data);
	return r;
}

struct upload_src {
	int fd;
	uint64_t bytes;
	void (*progress)(void *opaque, uint64_t bytes);
	void *opaque;
};

static size_t on_upload_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct upload_src *u = userdata;
	for (;;) {
		ssize_t n = read(u->fd, ptr, size * nmemb);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CURL_READFUNC_ABORT;
		u->bytes += (uint64_t)n;
		if (u->progress && n > 0)
			u->progress(u->opaque, u->bytes);
		return (size_t)n;
	}
}

int mgr_client_upload_fd(struct mgr_client *c, const char *path, int fd, const char *const *headers,
			 void (*progress)(void *opaque, uint64_t bytes), void *opaque,
			 struct json_object **metadata, struct vs_err *err)
{
	struct upload_src u = { .fd = fd, .progress = progress, .opaque = opaque };
	/* exchange() with a FILE* reads through fread; a read callback instead */
	const char *extra[34];
	size_t n = 0;
	extra[n++] = "Transfer-Encoding: chunked";
	for (size_t i = 0; headers && headers[i] && n < 33; i++)
		extra[n++] = headers[i];
	extra[n] = NULL;
	struct buf b = { 0 };
	long status = 0;
	c->read_cb = on_upload_read;
	c->read_data = &u;
	int r = exchange(c, "POST", path, NULL, 0, (FILE *)1, -1, extra, &b, &status, err);
	c->read_cb = NULL;
	c->read_data = NULL;
	if (r == 0)
		r = finish(c, &b, status, metadata, err);
	free(b.data);
	return r;
}

/*
 * A TLS connection as a plain socket: a thread copies between one end of a
 * socketpair and a libcurl connect-only handle (TLS with the client
 * certificate, the server's pinned), so an upgraded stream to a remote
 * reads and writes like the local socket's.  The thread ends when either
 * side closes.
 */
struct tunnel {
	CURL *h;
	int fd;
};

static bool tunnel_send(CURL *h, curl_socket_t s, const char *p, size_t n)
{
	while (n) {
		size_t sent = 0;
		CURLcode rc = curl_easy_send(h, p, n, &sent);
		if (rc == CURLE_AGAIN) {
			struct pollfd pf = { .fd = s, .events = POLLOUT };
			poll(&pf, 1, 1000);
			continue;
		}
		if (rc != CURLE_OK)
			return false;
		p += sent;
		n -= sent;
	}
	return true;
}

static void *tunnel_run(void *arg)
{
	struct tunnel *t = arg;
	curl_socket_t s = CURL_SOCKET_BAD;
	curl_easy_getinfo(t->h, CURLINFO_ACTIVESOCKET, &s);
	char buf[65536];
	for (bool ok = s != CURL_SOCKET_BAD; ok;) {
		/* TLS may hold decrypted bytes the socket no longer shows: try first */
		size_t got = 0;
		CURLcode rc = curl_easy_recv(t->h, buf, sizeof(buf), &got);
		if (rc == CURLE_OK) {
			if (got == 0)
				break; /* the server closed */
			for (size_t off = 0; ok && off < got;) {
				ssize_t w = send(t->fd, buf + off, got - off, MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				ok = w > 0;
				off += w > 0 ? (size_t)w : 0;
			}
			continue;
		}
		if (rc != CURLE_AGAIN)
			break;
		struct pollfd pf[2] = { { .fd = s, .events = POLLIN },
					{ .fd = t->fd, .events = POLLIN } };
		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			ssize_t n = read(t->fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			ok = n > 0 && tunnel_send(t->h, s, buf, (size_t)n);
		}
	}
	curl_easy_cleanup(t->h);
	close(t->fd);
	free(t);
	return NULL;
}

static int tls_tunnel(struct mgr_client *c, int *out, struct vs_err *err)
{
	CURL *h = curl_easy_init();
	if (!h)
		return vs_errf(err, ENOMEM, "out of memory");
	char url[2048];
	snprintf(url, sizeof(url), "%s/", c->url);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
	curl_easy_setopt(h, CURLOPT_CAINFO, c->server_cert);
	curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(h);
		return vs_errf(err, ECONNREFUSED, "cannot reach vesseld at %s: %s", c->where,
			       curl_easy_strerror(rc));
	}
	int sp[2];
	struct tunnel *t = malloc(sizeof(*t));
	if (!t || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		free(t);
		curl_easy_cleanup(h);
		return vs_syserrf(err, errno, "socketpair");
	}
	t->h = h;
	t->fd = sp[1];
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int pr = pthread_create(&th, &attr, tunnel_run, t);
	pthread_attr_destroy(&attr);
	if (pr != 0) {
		close(sp[0]);
		close(sp[1]);
		curl_easy_cleanup(h);
		free(t);
		return vs_errf(err, EAGAIN, "cannot start a thread");
	}
	*out = sp[0];
	return 0;
}

static int local_connect(struct mgr_client *c, int *out, struct vs_err *err)
{
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(c->socket_path) >= sizeof(a.sun_path))
		return vs_errf(err, ENAMETOOLONG, "socket path too long: %s", c->socket_path);
	memcpy(a.sun_path, c->socket_path, strlen(c->socket_path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return vs_errf(err, ECONNREFUSED,
			       "cannot reach vesseld at %s (is it running? can you access the "
			       "socket?)",
			       c->where);
	*out = vs_steal_fd(&fd);
	return 0;
}

int mgr_client_upgrade(struct mgr_client *c, const char *path, const char *protocol, int *out,
		       struct vs_err *err)
{
	return mgr_client_upgrade_ex(c, "GET", path, protocol, NULL, out, err);
}

int mgr_client_upgrade_ex(struct mgr_client *c, const char *method, const char *path,
			  const char *protocol, const char *const *headers, int *out,
			  struct vs_err *err)
{
	vs_cleanup_close int fd = -1;
	int cr = c->url ? tls_tunnel(c, &fd, err) : local_connect(c, &fd, err);
	if (cr < 0)
		return cr;
	char req[16384];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: vessel\r\nConnection: Upgrade\r\n"
			 "Upgrade: %s\r\n",
			 method, path, protocol);
	for (size_t i = 0; headers && headers[i] && n > 0 && (size_t)n < sizeof(req); i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n", headers[i]);
	if (n > 0 && (size_t)n < sizeof(req))
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	if (n < 0 || (size_t)n >= sizeof(req))
		return vs_errf(err, ENAMETOOLONG, "request too long");
	for (int off = 0; off < n;) {
		ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return vs_syserrf(err, errno, "send to vesseld");
		off += (int)w;
	}
	/* the head, one byte at a time: nothing after it may be consumed */
	char head[8192];
	size_t len = 0;
	while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		if (len + 1 >= sizeof(head))
			return vs_errf(err, EIO, "vesseld's answer has an oversized head");
		ssize_t got = recv(fd, head + len, 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return vs_errf(err, EIO, "vesseld closed the connection");
		len++;
	}
	head[len] = 0;
	long status = 0;
	if (sscanf(head, "HTTP/1.%*d %ld", &status) != 1)
		return vs_errf(err, EIO, "vesseld's answer is not HTTP");
	if (status == 101) {
		*out = vs_steal_fd(&fd);
		return 0;
	}
	/* an error envelope: its body (Content-Length, or up to the close) */
	size_t body_len = SIZE_MAX;
	for (char *p = head; (p = strchr(p, '\n')); p++)
		if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
			body_len = strtoul(p + 16, NULL, 10);
	struct buf b = { 0 };
	char chunk[4096];
	while (b.len < body_len) {
		size_t want = body_len - b.len < sizeof(chunk) ? body_len - b.len : sizeof(chunk);
		ssize_t got = recv(fd, chunk, want, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || on_data(chunk, 1, (size_t)got, &b) != (size_t)got)
			break;
	}
	struct json_object *env = NULL;
	int r = envelope(&b, status, &env, err);
	json_object_put(env);
	free(b.data);
	return r < 0 ? r : vs_errf(err, EIO, "vesseld answered %ld, not 101", status);
}
