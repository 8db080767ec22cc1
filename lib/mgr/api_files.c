/*
 * api_files.c - GET|POST /1.0/instances/{name}/files?path=/ABS.
 *
 * GET answers the file's bytes (application/octet-stream); POST takes them
 * as the body (application/octet-stream, an upload like an image's), with
 * the new file's mode, owner and group in X-Vessel-Mode (octal, default
 * 0644), X-Vessel-Uid and X-Vessel-Gid (default 0).  The bytes pass
 * through an unlinked temporary file in the state directory, so neither
 * direction holds a file in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"

static const char *header(struct api_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

/* A numeric header in [0, max] (base 8 or 10); absent: dflt. */
static int num_header(struct api_request *req, const char *name, int base, unsigned long max,
		      unsigned long dflt, unsigned long *out, struct vs_err *err)
{
	const char *v = header(req, name);
	*out = dflt;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, base);
	if (!*v || *end || errno || n > max || *v == '-')
		return base == 8
			   ? vs_errf(err, EINVAL, "%s: expected an octal number up to %lo", name,
				     max)
			   : vs_errf(err, EINVAL, "%s: expected a number up to %lu", name, max);
	*out = n;
	return 0;
}

static const char *path_param(struct api_request *req, struct vs_err *err)
{
	const char *path = api_query(req, "path");
	if (!path || path[0] != '/') {
		vs_errf(err, EINVAL, "path: expected ?path=/ABSOLUTE/PATH in the instance");
		return NULL;
	}
	return path;
}

void api_get_instance_files(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	const char *path = path_param(req, &err);
	if (!path) {
		api_error_from(res, &err);
		return;
	}
	int fd = open(mgr_state_dir(req->m), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		api_error(res, 500, "temporary file: %s", strerror(errno));
		return;
	}
	struct stat st;
	if (mgr_instance_file_pull(req->m, req->params[0], path, fd, &err) < 0) {
		close(fd);
		api_error_from(res, &err);
		return;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		api_error(res, 500, "temporary file: %s", strerror(errno));
		return;
	}
	res->stream = MHD_create_response_from_fd_at_offset64((uint64_t)st.st_size, fd, 0);
	if (!res->stream) {
		close(fd);
		api_error(res, 500, "cannot send the file");
		return;
	}
	MHD_add_response_header(res->stream, "Content-Type", "application/octet-stream");
}

void api_post_instance_files(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	const char *path = path_param(req, &err);
	unsigned long mode, uid, gid;
	if (!path || num_header(req, "X-Vessel-Mode", 8, 07777, 0644, &mode, &err) < 0 ||
	    num_header(req, "X-Vessel-Uid", 10, 0xfffffffe, 0, &uid, &err) < 0 ||
	    num_header(req, "X-Vessel-Gid", 10, 0xfffffffe, 0, &gid, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!req->upload_path) {
		api_error(res, 400, "expected the file's bytes as application/octet-stream");
		return;
	}
	int fd = open(req->upload_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		api_error(res, 500, "upload: %s", strerror(errno));
		return;
	}
	int r = mgr_instance_file_push(req->m, req->params[0], path, fd, (mode_t)mode, (uid_t)uid,
				       (gid_t)gid, &err);
	close(fd);
	if (r < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, NULL);
}
