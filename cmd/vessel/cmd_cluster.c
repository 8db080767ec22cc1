/*
 * cmd_cluster.c - `vessel cluster init|join|list|remove|describe`: the
 * cluster's membership through the API of the vesseld it talks to (see
 * docs/vesseld.md, "Clusters").
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vessel/mgr/client.h"

static char *member_path(const char *name, const char *query)
{
	char *e = curl_escape(name, 0), *p = NULL;
	if (!e || asprintf(&p, "/1.0/cluster/members/%s%s", e, query) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

static int cluster_setup(struct cli *cli, const char *name, const char *address, const char *join)
{
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "server_name", json_object_new_string(name));
	json_object_object_add(b, "address", json_object_new_string(address));
	if (join)
		json_object_object_add(b, "join", json_object_new_string(join));
	int r = cli_request(cli, "PUT", "/1.0/cluster", b, NULL);
	if (!r)
		printf("%s member %s of the cluster\n", join ? "joined as" : "initialised:", name);
	return r;
}

int cmd_cluster(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "init") == 0 && argc == 4)
		return cluster_setup(cli, argv[2], argv[3], NULL);
	if (strcmp(sub, "join") == 0 && argc == 5)
		return cluster_setup(cli, argv[2], argv[3], argv[4]);
	if (strcmp(sub, "list") == 0 && argc == 2) {
		static const char *const headers[] = { "NAME", "URL", "ADDRESS", "STATUS",
						       "DESCRIPTION" };
		static const char *const keys[] = { "server_name", "url", "address", "status",
						    "description" };
		return cli_list(cli, "/1.0/cluster/members", headers, keys, 5);
	}
	if (strcmp(sub, "remove") == 0 && (argc == 3 || argc == 4)) {
		bool force = argc == 4 && strcmp(argv[2], "--force") == 0;
		if (argc == 4 && !force)
			return cli_usage("cluster", "unknown option %s", argv[2]);
		char *p = member_path(argv[argc - 1], force ? "?force=1" : "");
		int r = p ? cli_request(cli, "DELETE", p, NULL, NULL) : 1;
		free(p);
		return r;
	}
	if (strcmp(sub, "evacuate") == 0 && argc == 3) {
		char *p = member_path(argv[2], "/evacuate");
		struct json_object *md = NULL;
		int r = p ? cli_request(cli, "POST", p, NULL, &md) : 1;
		free(p);
		for (size_t i = 0; !r && md && i < json_object_array_length(md); i++) {
			struct json_object *o = json_object_array_get_idx(md, i);
			printf("moved %s to %s\n", jstr(o, "name"), jstr(o, "to"));
		}
		json_object_put(md);
		return r;
	}
	if (strcmp(sub, "describe") == 0 && argc == 4) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "description", json_object_new_string(argv[3]));
		char *p = member_path(argv[2], "");
		int r = p ? cli_request(cli, "PATCH", p, b, NULL) : (json_object_put(b), 1);
		free(p);
		return r;
	}
	return cli_usage("cluster", "init NAME ADDRESS | join NAME ADDRESS MEMBER-ADDRESS | list | "
				    "remove [--force] NAME | evacuate NAME | describe NAME TEXT");
}
