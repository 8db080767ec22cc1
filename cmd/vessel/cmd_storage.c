/*
 * cmd_storage.c - `vessel storage volume create|list|info|show|resize|
 * delete|attach|detach`, and `storage volume snapshot create|list|restore|
 * delete VOL [SNAP]`: storage volumes through /1.0/storage-volumes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int request(struct cli *cli, const char *method, const char *path, struct json_object *body,
		   bool show)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *c = cli_client(cli, &err);
	struct json_object *md = NULL;
	int r = c ? mgr_client_do(c, method, path, body, &md, &err) : -1;
	json_object_put(body);
	if (r < 0)
		return cli_fail(&err);
	if (show)
		out_value(cli, md);
	json_object_put(md);
	return 0;
}

static int vol_list(struct cli *cli)
{
	struct json_object *md = NULL;
	int r = cli_get_listing(cli, "/1.0/storage-volumes?recursion=1", &md);
	if (r || !md)
		return r;
	/* in a cluster: the member holding each volume */
	static const char *const headers[] = { "NAME",	  "FORMAT", "SIZE",
					       "USED BY", "PATH",   "LOCATION" };
	size_t n = json_object_array_length(md), nc = 5;
	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(json_object_array_get_idx(md, i), "location", NULL))
			nc = 6;
	char **cells = calloc(n * nc + 1, sizeof(char *));
	for (size_t i = 0; cells && i < n; i++) {
		struct json_object *o = json_object_array_get_idx(md, i), *sz;
		char size[32] = "";
		if (json_object_object_get_ex(o, "size", &sz))
			snprintf(size, sizeof(size), "%.0f MiB",
				 (double)json_object_get_int64(sz) / (1 << 20));
		cells[i * nc] = strdup(jstr(o, "name"));
		cells[i * nc + 1] = strdup(jstr(o, "format"));
		cells[i * nc + 2] = strdup(size);
		cells[i * nc + 3] = strdup(jstr(o, "used_by"));
		cells[i * nc + 4] = strdup(jstr(o, "path"));
		char at[96];
		snprintf(at, sizeof(at), "%s%s", jstr(o, "location"),
			 strcmp(jstr(o, "location_status"), "Offline") == 0 ? " (offline)" : "");
		if (nc == 6)
			cells[i * nc + 5] = strdup(at);
	}
	if (cells)
		out_rows(cli, headers, nc, cells, n);
	for (size_t i = 0; cells && i < n * nc; i++)
		free(cells[i]);
	free(cells);
	json_object_put(md);
	return 0;
}

static bool plain_name(const char *s)
{
	return *s && !strpbrk(s, "/?#%") && strlen(s) < 200;
}

/* argv[0] = "snapshot": create VOL [SNAP] | list VOL | restore VOL SNAP |
 * delete VOL SNAP (names checked plain by the caller) */
static int vol_snapshot(struct cli *cli, int argc, char **argv, const char *volpath)
{
	const char *sub = argv[1];
	char path[600];
	if (strcmp(sub, "create") == 0 && (argc == 3 || argc == 4)) {
		struct json_object *b = json_object_new_object(), *md = NULL;
		if (argc == 4)
			json_object_object_add(b, "name", json_object_new_string(argv[3]));
		snprintf(path, sizeof(path), "%s/snapshots", volpath);
		int r = cli_request(cli, "POST", path, b, &md);
		if (r == 0 && argc == 3)
			printf("Snapshot %s created\n", jstr(md, "name"));
		json_object_put(md);
		return r;
	}
	if (strcmp(sub, "list") == 0 && argc == 3) {
		snprintf(path, sizeof(path), "%s/snapshots?recursion=1", volpath);
		static const char *const headers[] = { "NAME", "CREATED", "SIZE" };
		static const char *const keys[] = { "name", "created_at", "size" };
		return cli_list(cli, path, headers, keys, 3);
	}
	if (strcmp(sub, "restore") == 0 && argc == 4) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "restore", json_object_new_string(argv[3]));
		return cli_request(cli, "PUT", volpath, b, NULL);
	}
	if (strcmp(sub, "delete") == 0 && argc == 4) {
		snprintf(path, sizeof(path), "%s/snapshots/%s", volpath, argv[3]);
		return cli_request(cli, "DELETE", path, NULL, NULL);
	}
	return cli_usage("storage", "volume snapshot create VOLUME [SNAP] | list VOLUME | restore "
				    "VOLUME SNAP | delete VOLUME SNAP");
}

int cmd_storage(struct cli *cli, int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "volume") != 0)
		return cli_usage("storage", "expected volume and a subcommand");
	const char *sub = argv[2];
	argc -= 2;
	argv += 2; /* argv[0] = sub */
	char path[512];
	if (strcmp(sub, "list") == 0 && argc == 1)
		return vol_list(cli);
	if (argc < 2 || !plain_name(argv[1]))
		return cli_usage("storage", "volume %s: expected a volume NAME", sub);
	if (strcmp(sub, "snapshot") == 0) {
		if (argc < 3 || !plain_name(argv[2]) || (argc > 3 && !plain_name(argv[3])))
			return cli_usage("storage", "volume snapshot %s: expected a VOLUME [SNAP]",
					 argv[1]);
		snprintf(path, sizeof(path), "/1.0/storage-volumes/%s", argv[2]);
		return vol_snapshot(cli, argc, argv, path);
	}
	snprintf(path, sizeof(path), "/1.0/storage-volumes/%s", argv[1]);
	if (strcmp(sub, "create") == 0) {
		const char *size = NULL, *format = NULL, *target = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
				size = argv[++i];
			else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc &&
				 plain_name(argv[i + 1]))
				target = argv[++i];
			else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
				format = argv[++i];
			else if (strncmp(argv[i], "--format=", 9) == 0)
				format = argv[i] + 9;
			else
				return cli_usage("storage", "volume create: unexpected %s",
						 argv[i]);
		}
		if (!size)
			return cli_usage("storage", "volume create: --size SIZE is required");
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "name", json_object_new_string(argv[1]));
		json_object_object_add(b, "size", json_object_new_string(size));
		if (format)
			json_object_object_add(b, "format", json_object_new_string(format));
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/1.0/storage-volumes%s%s", target ? "?target=" : "",
			 target ? target : "");
		return request(cli, "POST", cpath, b, false);
	}
	if ((strcmp(sub, "info") == 0 || strcmp(sub, "show") == 0) && argc == 2)
		return request(cli, "GET", path, NULL, true);
	if (strcmp(sub, "delete") == 0 && argc == 2)
		return request(cli, "DELETE", path, NULL, false);
	if (strcmp(sub, "resize") == 0 && argc == 3) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "size", json_object_new_string(argv[2]));
		return request(cli, "PATCH", path, b, false);
	}
	if (strcmp(sub, "attach") == 0 && argc == 4) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "instance", json_object_new_string(argv[2]));
		json_object_object_add(b, "path", json_object_new_string(argv[3]));
		strncat(path, "/attach", sizeof(path) - strlen(path) - 1);
		return request(cli, "POST", path, b, false);
	}
	if (strcmp(sub, "detach") == 0 && argc == 3) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "instance", json_object_new_string(argv[2]));
		strncat(path, "/detach", sizeof(path) - strlen(path) - 1);
		return request(cli, "POST", path, b, false);
	}
	return cli_usage("storage", "volume: unknown subcommand or arguments: %s", sub);
}
