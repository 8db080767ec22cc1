/*
 * api_console.c - GET /1.0/instances/{name}/console.
 *
 * With "Connection: Upgrade" and "Upgrade: vessel-console" the connection
 * becomes the console's raw byte stream (101 Switching Protocols,
 * libmicrohttpd's upgrade support): a bridge thread copies bytes both ways
 * between the socket and the driver's console fd until either side closes.
 * Without the upgrade the answer is the console log so far (text/plain),
 * as Incus answers `lxc console --show-log`.
 *
 * PUT /1.0/instances/{name}/console {"width": W, "height": H} sets the
 * console's window size (a container's terminal; the CLI sends it at
 * attach and on SIGWINCH): what Incus sends as "window-resize" on its
 * console's control websocket.  A VM's serial port has no size (501).
 *
 * Bridges are counted so that mgr_api_stop can end them (through a pipe
 * they all poll) before libmicrohttpd's daemon stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/util.h"

static pthread_mutex_t bridges_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bridges_cond = PTHREAD_COND_INITIALIZER;
static unsigned bridges;
static int stop_pipe[2] = { -1, -1 };

struct bridge {
	int console_fd;
	int sock;
	struct MHD_UpgradeResponseHandle *urh;
	char *extra;
	size_t extra_len;
};

static bool send_all(int fd, const char *p, size_t n)
{
	return vs_send_full(fd, p, n) == 0;
}

static void *bridge_run(void *arg)
{
	struct bridge *b = arg;
	char buf[16384];
	bool ok = !b->extra_len || send_all(b->console_fd, b->extra, b->extra_len);
	/* libmicrohttpd may hand the socket over non-blocking */
	fcntl(b->sock, F_SETFL, fcntl(b->sock, F_GETFL) & ~O_NONBLOCK);
	while (ok) {
		struct pollfd fds[3] = { { .fd = b->sock, .events = POLLIN },
					 { .fd = b->console_fd, .events = POLLIN },
					 { .fd = stop_pipe[0], .events = POLLIN } };
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[2].revents)
			break;
		for (int k = 0; k < 2 && ok; k++) {
			if (!fds[k].revents)
				continue;
			ssize_t n = read(fds[k].fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			ok = n > 0 && send_all(fds[1 - k].fd, buf, (size_t)n);
		}
	}
	close(b->console_fd);
	MHD_upgrade_action(b->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(b->extra);
	free(b);
	pthread_mutex_lock(&bridges_lock);
	bridges--;
	pthread_cond_broadcast(&bridges_cond);
	pthread_mutex_unlock(&bridges_lock);
	return NULL;
}

/*
 * The console fd between the handler and the upgrade: shared by the
 * request's context (which closes it if the upgrade never happens) and the
 * upgrade callback (which takes it); the last of the two frees the holder.
 */
struct console_ref {
	int fd;
	int refs;
};

static int ref_take(struct console_ref *r)
{
	return __atomic_exchange_n(&r->fd, -1, __ATOMIC_ACQ_REL);
}

static void ref_drop(struct console_ref *r)
{
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(r);
}

/* The request context's end (api.c calls it when the request is done). */
static void console_ref_release(void *p)
{
	struct console_ref *r = p;
	int fd = ref_take(r);
	if (fd >= 0)
		close(fd);
	ref_drop(r);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
		       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct console_ref *ref = cls;
	int fd = ref_take(ref);
	ref_drop(ref);
	if (fd < 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	struct bridge *b = calloc(1, sizeof(*b));
	if (b && extra_in_size && (b->extra = malloc(extra_in_size))) {
		memcpy(b->extra, extra_in, extra_in_size);
		b->extra_len = extra_in_size;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (b && (!extra_in_size || b->extra)) {
		b->console_fd = fd;
		b->sock = sock;
		b->urh = urh;
		pthread_mutex_lock(&bridges_lock);
		bridges++;
		pthread_mutex_unlock(&bridges_lock);
		if (pthread_create(&t, &attr, bridge_run, b) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_mutex_lock(&bridges_lock);
		bridges--;
		pthread_mutex_unlock(&bridges_lock);
	}
	pthread_attr_destroy(&attr);
	if (b)
		free(b->extra);
	free(b);
	close(fd);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static bool wants_upgrade(struct MHD_Connection *conn)
{
	if (!conn)
		return false;
	const char *up = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
	return up && strcasecmp(up, "vessel-console") == 0;
}

void api_get_instance_console(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (!wants_upgrade(req->conn)) {
		char *text = NULL;
		size_t len = 0;
		if (mgr_instance_console_log(req->m, req->params[0], &text, &len, &err) < 0) {
			api_error_from(res, &err);
			return;
		}
		res->stream = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!res->stream) {
			free(text);
			api_error(res, 500, "out of memory");
			return;
		}
		MHD_add_response_header(res->stream, "Content-Type", "text/plain; charset=utf-8");
		return;
	}
	pthread_mutex_lock(&bridges_lock);
	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		pthread_mutex_unlock(&bridges_lock);
		api_error(res, 500, "pipe: %s", strerror(errno));
		return;
	}
	pthread_mutex_unlock(&bridges_lock);
	int fd = -1;
	if (mgr_instance_console(req->m, req->params[0], &fd, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct console_ref *ref = malloc(sizeof(*ref));
	if (!ref) {
		close(fd);
		api_error(res, 500, "out of memory");
		return;
	}
	ref->fd = fd;
	ref->refs = 2;
	res->stream = MHD_create_response_for_upgrade(on_upgrade, ref);
	if (!res->stream) {
		close(fd);
		free(ref);
		api_error(res, 500, "cannot upgrade the connection");
		return;
	}
	res->stream_cls = ref;
	res->stream_cls_free = console_ref_release;
	res->http_status = MHD_HTTP_SWITCHING_PROTOCOLS;
	MHD_add_response_header(res->stream, MHD_HTTP_HEADER_UPGRADE, "vessel-console");
}

void api_put_instance_console(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "width", "height", NULL };
	struct vs_err err = VS_ERR_INIT;
	int64_t w = -1, h = -1;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_int(req->body, "width", &w, &err) < 0 ||
	    api_json_int(req->body, "height", &h, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (w < 1 || w > 65535 || h < 1 || h > 65535) {
		api_error(res, 400, "\"width\" and \"height\": expected 1 to 65535");
		return;
	}
	if (mgr_instance_console_resize(req->m, req->params[0], (unsigned)w, (unsigned)h, &err) <
	    0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, NULL);
}

void api_console_shutdown(void)
{
	pthread_mutex_lock(&bridges_lock);
	if (stop_pipe[1] >= 0 && bridges) {
		(void)!write(stop_pipe[1], "x", 1);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		while (bridges && pthread_cond_timedwait(&bridges_cond, &bridges_lock, &until) == 0)
			;
		char c;
		while (read(stop_pipe[0], &c, 1) > 0) /* a later API starts afresh */
			;
	}
	pthread_mutex_unlock(&bridges_lock);
}
