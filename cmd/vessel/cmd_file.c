/*
 * cmd_file.c - `vessel file push LOCAL NAME/PATH [--mode MODE] [--uid UID]
 * [--gid GID]` and `vessel file pull NAME/PATH LOCAL`; LOCAL "-" is stdin
 * or stdout.  push gives the new file the local file's permission bits
 * (0644 from stdin) unless --mode says otherwise, owner and group 0 unless
 * --uid/--gid do.  pull into an existing directory keeps the file's name.
 * The bytes travel as the body of GET|POST /1.0/instances/NAME/files.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

/* "NAME/PATH" -> the request path of the instance's file. */
static char *files_path(const char *cmd, const char *target, char **out, int *rc)
{
	const char *slash = strchr(target, '/');
	if (!slash || slash == target || !slash[1]) {
		*rc = cli_usage(cmd, "%s: expected NAME/PATH (e.g. c1/etc/hostname)", target);
		return NULL;
	}
	char *name = strndup(target, (size_t)(slash - target));
	char *en = name ? curl_easy_escape(NULL, name, 0) : NULL;
	char *ep = curl_easy_escape(NULL, slash, 0);
	char *p = NULL;
	if (!en || !ep || asprintf(&p, "/1.0/instances/%s/files?path=%s", en, ep) < 0)
		p = NULL;
	curl_free(en);
	curl_free(ep);
	free(name);
	if (!p) {
		fprintf(stderr, "vessel: error: out of memory\n");
		*rc = 1;
	}
	*out = p;
	return p;
}

static int parse_num(const char *cmd, const char *opt, const char *v, int base, unsigned long max,
		     unsigned long *out)
{
	char *end;
	errno = 0;
	*out = strtoul(v, &end, base);
	if (!*v || *end || errno || *out > max || *v == '-')
		return cli_usage(cmd, "%s %s: expected a%s number", opt, v,
				 base == 8 ? "n octal" : "");
	return 0;
}

static int push(struct cli *cli, int argc, char **argv)
{
	const char *mode = NULL, *uid = NULL, *gid = NULL, *args[2];
	int n = 0;
	for (int i = 1; i < argc; i++) {
		const char **dst = strcmp(argv[i], "--mode") == 0  ? &mode
				   : strcmp(argv[i], "--uid") == 0 ? &uid
				   : strcmp(argv[i], "--gid") == 0 ? &gid
								   : NULL;
		if (dst) {
			if (i + 1 >= argc)
				return cli_usage("file", "%s needs a value", argv[i]);
			*dst = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_usage("file", "unknown option %s", argv[i]);
		} else if (n < 2) {
			args[n++] = argv[i];
		} else {
			return cli_usage("file", "push: expected LOCAL and NAME/PATH");
		}
	}
	if (n != 2)
		return cli_usage("file", "push: expected LOCAL and NAME/PATH");
	unsigned long m = 0644, u = 0, g = 0;
	int rc = 0;
	if ((mode && (rc = parse_num("file", "--mode", mode, 8, 07777, &m))) ||
	    (uid && (rc = parse_num("file", "--uid", uid, 10, 0xfffffffe, &u))) ||
	    (gid && (rc = parse_num("file", "--gid", gid, 10, 0xfffffffe, &g))))
		return rc;
	vs_cleanup_free char *path = NULL;
	if (!files_path("file", args[1], &path, &rc))
		return rc;
	/* stdin is spooled to a temporary file: the upload needs its length */
	char tmp[] = "/tmp/vessel-push.XXXXXX";
	const char *local = args[0];
	struct vs_err err = VS_ERR_INIT;
	if (strcmp(local, "-") == 0) {
		int fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0) {
			vs_syserrf(&err, errno, "temporary file");
			return cli_fail(&err);
		}
		char buf[65536];
		ssize_t r;
		while ((r = read(0, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
			if (r > 0 && vs_write_full(fd, buf, (size_t)r) < 0)
				break;
		close(fd);
		if (r != 0) {
			unlink(tmp);
			vs_syserrf(&err, errno, "read stdin");
			return cli_fail(&err);
		}
		local = tmp;
	} else {
		struct stat st;
		if (stat(local, &st) < 0) {
			vs_syserrf(&err, errno, "%s", local);
			return cli_fail(&err);
		}
		if (!S_ISREG(st.st_mode)) {
			vs_errf(&err, EINVAL, "%s: not a regular file", local);
			return cli_fail(&err);
		}
		if (!mode)
			m = st.st_mode & 07777;
	}
	char hm[48], hu[48], hg[48];
	snprintf(hm, sizeof(hm), "X-Vessel-Mode: %lo", m);
	snprintf(hu, sizeof(hu), "X-Vessel-Uid: %lu", u);
	snprintf(hg, sizeof(hg), "X-Vessel-Gid: %lu", g);
	const char *headers[] = { hm, hu, hg, NULL };
	struct mgr_client *c = cli_client(cli, &err);
	int r = c ? mgr_client_upload(c, path, local, headers, NULL, &err) : -1;
	if (local == tmp)
		unlink(tmp);
	return r < 0 ? cli_fail(&err) : 0;
}

static int pull(struct cli *cli, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage("file", "pull: expected NAME/PATH and LOCAL");
	int rc = 0;
	vs_cleanup_free char *path = NULL;
	if (!files_path("file", argv[1], &path, &rc))
		return rc;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *c = cli_client(cli, &err);
	if (!c)
		return cli_fail(&err);
	if (strcmp(argv[2], "-") == 0) {
		fflush(stdout);
		return mgr_client_download(c, path, 1, NULL, NULL, &err) < 0 ? cli_fail(&err) : 0;
	}
	vs_cleanup_free char *local = strdup(argv[2]);
	struct stat st;
	if (local && stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
		vs_cleanup_free char *copy = strdup(argv[1]);
		char *dst = NULL;
		if (!copy || asprintf(&dst, "%s/%s", local, basename(copy)) < 0)
			dst = NULL;
		free(local);
		local = dst;
	}
	if (!local) {
		fprintf(stderr, "vessel: error: out of memory\n");
		return 1;
	}
	/* into a temporary file beside it, renamed over it when complete */
	vs_cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.vessel-pull.XXXXXX", local) < 0) {
		fprintf(stderr, "vessel: error: out of memory\n");
		return 1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		vs_syserrf(&err, errno, "%s", local);
		return cli_fail(&err);
	}
	int r = mgr_client_download(c, path, fd, NULL, NULL, &err);
	if (r == 0 && fchmod(fd, 0644 & ~(mode_t)0) < 0)
		r = vs_syserrf(&err, errno, "%s", local);
	if (close(fd) < 0 && r == 0)
		r = vs_syserrf(&err, errno, "%s", local);
	if (r == 0 && rename(tmp, local) < 0)
		r = vs_syserrf(&err, errno, "%s", local);
	if (r < 0) {
		unlink(tmp);
		return cli_fail(&err);
	}
	return 0;
}

int cmd_file(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "push") == 0)
		return push(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "pull") == 0)
		return pull(cli, argc - 1, argv + 1);
	return cli_usage("file", "expected push or pull");
}
