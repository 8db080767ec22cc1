/*
 * cmd_remote.c - talking to a vesseld over TLS: `vessel remote
 * add|list|remove` (the client's certificate, made once under the config
 * directory, and each remote's URL and pinned server certificate), the
 * global --remote/--cert/--key/--server-cert options resolved into a
 * client, and `vessel config trust add|list|remove` (the server's trust
 * store, through its API).
 *
 * The config directory is $VESSEL_CONFIG_DIR, else $XDG_CONFIG_HOME/vessel,
 * else ~/.config/vessel:
 *
 *	client.crt, client.key	this client's certificate (ECDSA, self-signed)
 *	remotes			one "NAME URL" per line
 *	servercerts/NAME.crt	the server certificate pinned for NAME
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/tls.h"

static char *config_dir(void)
{
	char *d = NULL;
	const char *env = getenv("VESSEL_CONFIG_DIR"), *xdg = getenv("XDG_CONFIG_HOME"),
		   *home = getenv("HOME");
	if (env && *env)
		d = strdup(env);
	else if (xdg && *xdg)
		(void)!asprintf(&d, "%s/vessel", xdg);
	else
		(void)!asprintf(&d, "%s/.config/vessel", home && *home ? home : "/root");
	return d;
}

static int mkdirs(const char *path, struct vs_err *err)
{
	vs_cleanup_free char *p = strdup(path);
	if (!p)
		return vs_errf(err, ENOMEM, "out of memory");
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0700) < 0 && errno != EEXIST)
				return vs_syserrf(err, errno, "mkdir %s", p);
			*s = '/';
		}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return vs_syserrf(err, errno, "mkdir %s", p);
	return 0;
}

static bool valid_remote_name(const char *n)
{
	size_t l = strlen(n);
	return l > 0 && l <= 64 &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
		   l &&
	       n[0] != '.';
}

/* The URL recorded for name, malloc'd, or NULL. */
static char *remote_url(const char *dir, const char *name)
{
	vs_cleanup_free char *path = NULL;
	if (asprintf(&path, "%s/remotes", dir) < 0)
		return NULL;
	vs_cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[1200];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *sp = strchr(line, ' ');
		if (sp && (size_t)(sp - line) == strlen(name) &&
		    strncmp(line, name, sp - line) == 0)
			return strdup(sp + 1);
	}
	return NULL;
}

/* Rewrite the remotes file without name, then with (name, url) if url. */
static int remotes_set(const char *dir, const char *name, const char *url, struct vs_err *err)
{
	vs_cleanup_free char *path = NULL, *old = NULL;
	if (asprintf(&path, "%s/remotes", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	size_t len = 0;
	if (vs_read_file(path, &old, &len, 1u << 20, err) < 0) {
		if (err->code != ENOENT)
			return -err->code;
		old = NULL;
	}
	size_t cap = len + strlen(name) + (url ? strlen(url) : 0) + 4;
	vs_cleanup_free char *out = calloc(1, cap);
	if (!out)
		return vs_errf(err, ENOMEM, "out of memory");
	size_t w = 0;
	for (char *l = old, *next; l && *l; l = next) {
		next = strchr(l, '\n');
		size_t n = next ? (size_t)(next - l) : strlen(l);
		if (next)
			next++;
		else
			next = l + n;
		if (n > strlen(name) && strncmp(l, name, strlen(name)) == 0 &&
		    l[strlen(name)] == ' ')
			continue;
		memcpy(out + w, l, n);
		w += n;
		out[w++] = '\n';
	}
	if (url)
		w += (size_t)snprintf(out + w, cap - w, "%s %s\n", name, url);
	return vs_write_file_atomic(path, out, w, err);
}

/* The client's certificate and key, made on first use. */
static int client_cert(const char *dir, char **crt, char **key, struct vs_err *err)
{
	*crt = *key = NULL;
	if (asprintf(crt, "%s/client.crt", dir) < 0 || asprintf(key, "%s/client.key", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	char host[256] = "vessel";
	gethostname(host, sizeof(host) - 1);
	char cn[300];
	snprintf(cn, sizeof(cn), "vessel client %s@%s", getenv("USER") ? getenv("USER") : "root",
		 host);
	bool created;
	if (mkdirs(dir, err) < 0 || mgr_tls_ensure_cert(*crt, *key, cn, NULL, &created, err) < 0)
		return -EIO;
	if (created)
		fprintf(stderr, "vessel: made a client certificate %s\n", *crt);
	return 0;
}

static int fingerprint_of(const char *file, char fp[MGR_FINGERPRINT_LEN + 1], struct vs_err *err)
{
	vs_cleanup_free char *pem = NULL;
	size_t len;
	if (vs_read_file(file, &pem, &len, 1u << 20, err) < 0)
		return -EIO;
	return mgr_tls_fingerprint_pem(pem, len, fp, err);
}

static int remote_add(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *url = NULL, *server_cert = NULL;
	bool accept = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--accept-certificate") == 0)
			accept = true;
		else if (strcmp(argv[i], "--server-cert") == 0 && i + 1 < argc)
			server_cert = argv[++i];
		else if (argv[i][0] == '-')
			return cli_usage("remote", "add: unknown option %s", argv[i]);
		else if (!name)
			name = argv[i];
		else if (!url)
			url = argv[i];
		else
			return cli_usage("remote", "add: too many arguments");
	}
	if (!name || !url)
		return cli_usage("remote", "add: expected NAME and URL");
	if (!valid_remote_name(name))
		return cli_usage("remote", "add: bad name %s", name);
	if (strncmp(url, "https://", 8) != 0 || strchr(url, ' '))
		return cli_usage("remote", "add: expected an https://HOST:PORT URL");
	struct vs_err err = VS_ERR_INIT;
	vs_cleanup_free char *dir = config_dir(), *crt = NULL, *key = NULL, *sdir = NULL,
			     *spath = NULL, *pem = NULL, *existing = NULL;
	if (!dir || asprintf(&sdir, "%s/servercerts", dir) < 0 ||
	    asprintf(&spath, "%s/%s.crt", sdir, name) < 0)
		return cli_fail(&err);
	if ((existing = remote_url(dir, name))) {
		vs_errf(&err, EEXIST, "remote %s already exists (%s)", name, existing);
		return cli_fail(&err);
	}
	size_t len = 0;
	if (server_cert) {
		if (vs_read_file(server_cert, &pem, &len, 1u << 20, &err) < 0)
			return cli_fail(&err);
	} else if (!accept) {
		return cli_usage("remote",
				 "add: pin the server's certificate with --server-cert FILE, or "
				 "take the one it shows with --accept-certificate");
	} else if (mgr_client_fetch_server_cert(url, &pem, &err) < 0) {
		return cli_fail(&err);
	}
	len = strlen(pem);
	char fp[MGR_FINGERPRINT_LEN + 1], cfp[MGR_FINGERPRINT_LEN + 1];
	if (mgr_tls_fingerprint_pem(pem, len, fp, &err) < 0 ||
	    client_cert(dir, &crt, &key, &err) < 0 || mkdirs(sdir, &err) < 0 ||
	    vs_write_file_atomic(spath, pem, len, &err) < 0 ||
	    remotes_set(dir, name, url, &err) < 0 || fingerprint_of(crt, cfp, &err) < 0)
		return cli_fail(&err);
	(void)cli;
	printf("remote %s: %s, server certificate %s pinned\n"
	       "client certificate %s (fingerprint %s):\n"
	       "  on the server, as root: vessel config trust add %s\n",
	       name, url, fp, crt, cfp, crt);
	return 0;
}

static int remote_list(struct cli *cli)
{
	vs_cleanup_free char *dir = config_dir(), *path = NULL, *text = NULL;
	struct vs_err err = VS_ERR_INIT;
	if (!dir || asprintf(&path, "%s/remotes", dir) < 0)
		return cli_fail(&err);
	size_t len = 0;
	if (vs_read_file(path, &text, &len, 1u << 20, &err) < 0 && err.code != ENOENT)
		return cli_fail(&err);
	static const char *const headers[] = { "NAME", "URL", "SERVER CERTIFICATE" };
	size_t n = 0, cap = 0;
	char **cells = NULL;
	for (char *l = text, *save = NULL; l; l = NULL) {
		for (char *line = strtok_r(l, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(line, ' ');
			if (!sp)
				continue;
			*sp = 0;
			if (n + 1 > cap) {
				cap = cap ? cap * 2 : 8;
				char **nc = realloc(cells, cap * 3 * sizeof(char *));
				if (!nc)
					break;
				cells = nc;
			}
			char fp[MGR_FINGERPRINT_LEN + 1] = "?";
			vs_cleanup_free char *sp_path = NULL;
			struct vs_err e2 = VS_ERR_INIT;
			if (asprintf(&sp_path, "%s/servercerts/%s.crt", dir, line) >= 0)
				fingerprint_of(sp_path, fp, &e2);
			cells[n * 3] = strdup(line);
			cells[n * 3 + 1] = strdup(sp + 1);
			cells[n * 3 + 2] = strndup(fp, 12);
			n++;
		}
	}
	out_rows(cli, headers, 3, cells, n);
	for (size_t i = 0; i < n * 3; i++)
		free(cells[i]);
	free(cells);
	return 0;
}

static int remote_remove(const char *name)
{
	struct vs_err err = VS_ERR_INIT;
	vs_cleanup_free char *dir = config_dir(), *url = NULL, *spath = NULL;
	if (!dir || !valid_remote_name(name) || !(url = remote_url(dir, name))) {
		vs_errf(&err, ENOENT, "remote %s not found", name);
		return cli_fail(&err);
	}
	if (remotes_set(dir, name, NULL, &err) < 0)
		return cli_fail(&err);
	if (asprintf(&spath, "%s/servercerts/%s.crt", dir, name) >= 0)
		unlink(spath);
	return 0;
}

int cmd_remote(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("remote", "expected add, list or remove");
	if (strcmp(argv[1], "add") == 0)
		return remote_add(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return remote_list(cli);
	if (strcmp(argv[1], "remove") == 0 && argc == 3)
		return remote_remove(argv[2]);
	return cli_usage("remote", "expected add NAME URL, list or remove NAME");
}

struct mgr_client *cli_remote_client(struct cli *cli, struct vs_err *err)
{
	const char *url = cli->remote, *cert = cli->cert, *key = cli->key,
		   *server_cert = cli->server_cert;
	vs_cleanup_free char *dir = NULL, *rurl = NULL, *dcrt = NULL, *dkey = NULL, *scrt = NULL;
	if (strncmp(url, "https://", 8) != 0) {
		/* a remote's name */
		if (!(dir = config_dir()) || !valid_remote_name(url) ||
		    !(rurl = remote_url(dir, url))) {
			vs_errf(err, ENOENT, "remote %s not found (vessel remote add %s URL)", url,
				url);
			return NULL;
		}
		if (!server_cert && asprintf(&scrt, "%s/servercerts/%s.crt", dir, url) >= 0)
			server_cert = scrt;
		url = rurl;
	}
	if (!cert || !key) {
		if (!dir && !(dir = config_dir())) {
			vs_errf(err, ENOMEM, "out of memory");
			return NULL;
		}
		if (asprintf(&dcrt, "%s/client.crt", dir) >= 0 &&
		    asprintf(&dkey, "%s/client.key", dir) >= 0 && access(dcrt, R_OK) == 0) {
			cert = cert ? cert : dcrt;
			key = key ? key : dkey;
		}
	}
	return mgr_client_new_remote(url, cert, key, server_cert, err);
}

/* `vessel config trust add CERTFILE [--name NAME] | list | remove FINGERPRINT` */
int cmd_config_trust(struct cli *cli, int argc, char **argv)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *c;
	if (argc < 2)
		return cli_usage("config", "trust: expected add, list or remove");
	const char *sub = argv[1];
	if (strcmp(sub, "add") == 0) {
		const char *file = NULL, *name = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
				name = argv[++i];
			else if (argv[i][0] == '-' || file)
				return cli_usage("config", "trust add: unexpected %s", argv[i]);
			else
				file = argv[i];
		}
		if (!file)
			return cli_usage("config", "trust add: expected CERTFILE");
		vs_cleanup_free char *pem = NULL;
		size_t len;
		if (vs_read_file(file, &pem, &len, 1u << 20, &err) < 0)
			return cli_fail(&err);
		if (!name) {
			const char *base = strrchr(file, '/');
			name = base ? base + 1 : file;
		}
		struct json_object *b = json_object_new_object(), *md = NULL;
		json_object_object_add(b, "certificate", json_object_new_string(pem));
		json_object_object_add(b, "name", json_object_new_string(name));
		json_object_object_add(b, "type", json_object_new_string("client"));
		int r = (c = cli_client(cli, &err))
			    ? mgr_client_do(c, "POST", "/1.0/certificates", b, &md, &err)
			    : -1;
		json_object_put(b);
		if (r < 0)
			return cli_fail(&err);
		printf("trusted %s (fingerprint %s)\n", jstr(md, "name"), jstr(md, "fingerprint"));
		json_object_put(md);
		return 0;
	}
	if (strcmp(sub, "list") == 0 && argc == 2) {
		static const char *const headers[] = { "NAME", "TYPE", "FINGERPRINT", "CREATED" };
		static const char *const keys[] = { "name", "type", "fingerprint", "created_at" };
		return cli_list(cli, "/1.0/certificates?recursion=1", headers, keys, 4);
	}
	if (strcmp(sub, "remove") == 0 && argc == 3) {
		char path[160];
		if (strlen(argv[2]) > MGR_FINGERPRINT_LEN || strchr(argv[2], '/') ||
		    strchr(argv[2], '?'))
			return cli_usage("config", "trust remove: bad fingerprint %s", argv[2]);
		snprintf(path, sizeof(path), "/1.0/certificates/%s", argv[2]);
		if (!(c = cli_client(cli, &err)) ||
		    mgr_client_do(c, "DELETE", path, NULL, NULL, &err) < 0)
			return cli_fail(&err);
		return 0;
	}
	return cli_usage("config", "trust: expected add CERTFILE, list or remove FINGERPRINT");
}
