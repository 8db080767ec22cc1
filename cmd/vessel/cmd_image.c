/*
 * cmd_image.c - image, operation and monitor commands.  `image import`
 * uploads an OCI archive's bytes; a directory (an OCI layout) is named by
 * its absolute path instead, which the daemon only accepts from root.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static char *esc_path(const char *prefix, const char *name)
{
	char *e = curl_easy_escape(NULL, name, 0);
	char *p = NULL;
	if (!e || asprintf(&p, "%s%s", prefix, e) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

static int image_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "alias", required_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	const char *alias = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a:", opts, NULL)) != -1) {
		if (c != 'a')
			return cli_usage("image", "import: unknown option %s", argv[optind - 1]);
		alias = optarg;
	}
	if (argc - optind != 1)
		return cli_usage("image", "import: expected one FILE or DIR");
	const char *src = argv[optind];
	struct stat st;
	struct vs_err err = VS_ERR_INIT;
	if (stat(src, &st) < 0) {
		vs_syserrf(&err, errno, "%s", src);
		return cli_fail(&err);
	}
	struct json_object *md = NULL;
	int r;
	if (S_ISDIR(st.st_mode)) {
		char real[PATH_MAX];
		if (!realpath(src, real)) {
			vs_syserrf(&err, errno, "%s", src);
			return cli_fail(&err);
		}
		struct json_object *b = json_object_new_object(), *s = json_object_new_object();
		json_object_object_add(s, "type", json_object_new_string("oci"));
		json_object_object_add(s, "path", json_object_new_string(real));
		json_object_object_add(b, "source", s);
		if (alias) {
			struct json_object *a = json_object_new_array(),
					   *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(alias));
			json_object_array_add(a, o);
			json_object_object_add(b, "aliases", a);
		}
		r = cli_request(cli, "POST", "/1.0/images", b, &md);
	} else {
		char hdr[300];
		snprintf(hdr, sizeof(hdr), "X-Vessel-Aliases: %s", alias ? alias : "");
		const char *headers[] = { hdr, NULL };
		struct mgr_client *cl = cli_client(cli, &err);
		r = cl ? mgr_client_upload(cl, "/1.0/images", src, alias ? headers : NULL, &md,
					   &err)
		       : -1;
		r = r < 0 ? cli_fail(&err) : 0;
	}
	if (r == 0)
		printf("Image imported with fingerprint: %s\n", jstr(md, "fingerprint"));
	json_object_put(md);
	return r;
}

static int image_list(struct cli *cli)
{
	struct json_object *md = NULL;
	int r = cli_get_listing(cli, "/1.0/images?recursion=1", &md);
	if (r || !md)
		return r;
	/* in a cluster: where each image's files are */
	static const char *const headers[] = { "ALIAS", "FINGERPRINT", "TYPE",
					       "SIZE",	"CREATED",     "LOCATIONS" };
	size_t n = json_object_array_length(md), nc = 5;
	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(json_object_array_get_idx(md, i), "locations", NULL))
			nc = 6;
	char **cells = calloc(n * nc + 1, sizeof(char *));
	for (size_t i = 0; cells && i < n; i++) {
		struct json_object *o = json_object_array_get_idx(md, i), *al, *sz, *loc;
		char aliases[256] = "", locations[256] = "";
		if (json_object_object_get_ex(o, "aliases", &al))
			for (size_t k = 0; k < json_object_array_length(al); k++) {
				size_t l = strlen(aliases);
				snprintf(aliases + l, sizeof(aliases) - l, "%s%s", k ? ", " : "",
					 jstr(json_object_array_get_idx(al, k), "name"));
			}
		if (json_object_object_get_ex(o, "locations", &loc))
			for (size_t k = 0; k < json_object_array_length(loc); k++) {
				/* a member out of reach: from its last report */
				const char *at =
				    json_object_get_string(json_object_array_get_idx(loc, k));
				struct json_object *off;
				bool offline = false;
				if (json_object_object_get_ex(o, "offline_locations", &off))
					for (size_t j = 0; j < json_object_array_length(off); j++)
						offline |=
						    strcmp(json_object_get_string(
							       json_object_array_get_idx(off, j)),
							   at) == 0;
				size_t l = strlen(locations);
				snprintf(locations + l, sizeof(locations) - l, "%s%s%s",
					 k ? " " : "", at, offline ? "(offline)" : "");
			}
		char size[32] = "";
		if (json_object_object_get_ex(o, "size", &sz))
			snprintf(size, sizeof(size), "%.2f MiB",
				 (double)json_object_get_int64(sz) / (1 << 20));
		cells[i * nc + 0] = strdup(aliases);
		cells[i * nc + 1] = strndup(jstr(o, "fingerprint"), 12);
		cells[i * nc + 2] = strdup(jstr(o, "type"));
		cells[i * nc + 3] = strdup(size);
		cells[i * nc + 4] = strdup(jstr(o, "created_at"));
		if (nc == 6)
			cells[i * nc + 5] = strdup(locations);
	}
	if (cells)
		out_rows(cli, headers, nc, cells, n);
	for (size_t i = 0; cells && i < n * nc; i++)
		free(cells[i]);
	free(cells);
	json_object_put(md);
	return 0;
}

int cmd_image(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("image", "expected a subcommand");
	const char *sub = argv[1];
	if (strcmp(sub, "import") == 0)
		return image_import(cli, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0) {
		if (argc != 2)
			return cli_usage("image", "list: no arguments expected");
		return image_list(cli);
	}
	if (strcmp(sub, "info") == 0) {
		if (argc != 3)
			return cli_usage("image", "info: expected IMAGE");
		char *p = esc_path("/1.0/images/", argv[2]);
		struct json_object *md = NULL;
		int r = cli_request(cli, "GET", p, NULL, &md);
		free(p);
		if (r == 0)
			out_value(cli, md);
		json_object_put(md);
		return r;
	}
	if (strcmp(sub, "delete") == 0) {
		if (argc < 3)
			return cli_usage("image", "delete: expected IMAGE...");
		for (int i = 2; i < argc; i++) {
			char *p = esc_path("/1.0/images/", argv[i]);
			int r = cli_request(cli, "DELETE", p, NULL, NULL);
			free(p);
			if (r)
				return r;
		}
		return 0;
	}
	if (strcmp(sub, "alias") == 0) {
		if (argc == 5 && strcmp(argv[2], "create") == 0) {
			struct json_object *b = json_object_new_object();
			json_object_object_add(b, "name", json_object_new_string(argv[3]));
			json_object_object_add(b, "target", json_object_new_string(argv[4]));
			return cli_request(cli, "POST", "/1.0/images/aliases", b, NULL);
		}
		if (argc == 4 && strcmp(argv[2], "delete") == 0) {
			char *p = esc_path("/1.0/images/aliases/", argv[3]);
			int r = cli_request(cli, "DELETE", p, NULL, NULL);
			free(p);
			return r;
		}
		return cli_usage("image", "alias create ALIAS IMAGE | alias delete ALIAS");
	}
	return cli_usage("image", "unknown subcommand %s", sub);
}

int cmd_operation(struct cli *cli, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "list") != 0)
		return cli_usage("operation", "expected list");
	static const char *const headers[] = { "ID", "DESCRIPTION", "STATUS", "CREATED" };
	static const char *const keys[] = { "id", "description", "status", "created_at" };
	return cli_list(cli, "/1.0/operations?recursion=1", headers, keys, 4);
}

static int print_event(const char *line, void *opaque)
{
	struct cli *cli = opaque;
	if (cli->format == CLI_FORMAT_YAML) {
		struct json_object *o = json_tokener_parse(line);
		if (o) {
			printf("---\n");
			out_value(cli, o);
			json_object_put(o);
		}
	} else {
		printf("%s\n", line);
	}
	fflush(stdout);
	return 0;
}

int cmd_monitor(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "type", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	const char *type = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 't')
			return cli_usage("monitor", "unknown option %s", argv[optind - 1]);
		type = optarg;
	}
	if (optind != argc)
		return cli_usage("monitor", "no arguments expected");
	char *path = type ? esc_path("/1.0/events?type=", type) : strdup("/1.0/events");
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *cl = cli_client(cli, &err);
	int r = cl ? mgr_client_stream(cl, path, print_event, cli, &err) : -1;
	free(path);
	return r < 0 ? cli_fail(&err) : 0;
}

int cmd_network(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("network", "expected a subcommand");
	const char *sub = argv[1];
	if (strcmp(sub, "create") == 0) {
		static const struct option opts[] = { { "subnet", required_argument, NULL, 's' },
						      { "nat", no_argument, NULL, 'n' },
						      { "no-nat", no_argument, NULL, 'N' },
						      { "isolated", no_argument, NULL, 'i' },
						      { NULL, 0, NULL, 0 } };
		struct json_object *b = json_object_new_object();
		int c;
		optind = 1;
		opterr = 0;
		while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
			switch (c) {
			case 's':
				json_object_object_add(b, "subnet", json_object_new_string(optarg));
				break;
			case 'n':
				json_object_object_add(b, "nat", json_object_new_boolean(1));
				break;
			case 'N':
				json_object_object_add(b, "nat", json_object_new_boolean(0));
				break;
			case 'i':
				json_object_object_add(b, "isolated", json_object_new_boolean(1));
				break;
			default:
				json_object_put(b);
				return cli_usage("network", "create: unknown option %s",
						 argv[optind]);
			}
		}
		if (argc - 1 - optind != 1) {
			json_object_put(b);
			return cli_usage("network", "create: expected NAME");
		}
		json_object_object_add(b, "name", json_object_new_string(argv[1 + optind]));
		struct json_object *md = NULL;
		int r = cli_request(cli, "POST", "/1.0/networks", b, &md);
		if (r == 0)
			printf("Network %s created (%s)\n", jstr(md, "name"), jstr(md, "subnet"));
		json_object_put(md);
		return r;
	}
	if (strcmp(sub, "list") == 0) {
		if (argc != 2)
			return cli_usage("network", "list: no arguments expected");
		static const char *const headers[] = { "NAME", "BRIDGE", "SUBNET", "NAT",
						       "ISOLATED" };
		static const char *const keys[] = { "name", "bridge", "subnet", "nat", "isolated" };
		return cli_list(cli, "/1.0/networks?recursion=1", headers, keys, 5);
	}
	if ((strcmp(sub, "info") == 0 || strcmp(sub, "delete") == 0) && argc == 3) {
		char *p = esc_path("/1.0/networks/", argv[2]);
		struct json_object *md = NULL;
		int r = cli_request(cli, sub[0] == 'i' ? "GET" : "DELETE", p, NULL, &md);
		free(p);
		if (r == 0 && sub[0] == 'i')
			out_value(cli, md);
		json_object_put(md);
		return r;
	}
	return cli_usage("network", "create NAME [--subnet CIDR] [--nat|--no-nat] [--isolated] | "
				    "list | info NAME | delete NAME");
}
