/*
 * cmd_cluster.c - `vessel cluster init|join|list|remove|describe` and the
 * join tokens (`add`, `list-tokens`, `revoke-token`, `join --token`): the
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

static int cluster_setup(struct cli *cli, const char *name, const char *address, const char *join,
			 const char *token)
{
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "server_name", json_object_new_string(name));
	json_object_object_add(b, "address", json_object_new_string(address));
	if (join)
		json_object_object_add(b, "join", json_object_new_string(join));
	if (token) {
		json_object_object_add(b, "cluster_token", json_object_new_string(token));
		join = "token";
	}
	int r = cli_request(cli, "PUT", "/1.0/cluster", b, NULL);
	if (!r)
		printf("%s member %s of the cluster\n", join ? "joined as" : "initialised:", name);
	return r;
}

/* "90", "90s", "30m", "3h", "2d" as seconds; -1 when not one. */
static long long duration_s(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end == s || n <= 0)
		return -1;
	long long unit = !*end			 ? 1
			 : strcmp(end, "s") == 0 ? 1
			 : strcmp(end, "m") == 0 ? 60
			 : strcmp(end, "h") == 0 ? 3600
			 : strcmp(end, "d") == 0 ? 86400
						 : -1;
	return unit < 0 || n > 365LL * 86400 ? -1 : n * unit;
}

/* `cluster add NAME [--expiry DURATION]`: a join token for NAME. */
static int cluster_add(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	long long expiry = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--expiry") == 0 && i + 1 < argc) {
			if ((expiry = duration_s(argv[++i])) < 0)
				return cli_usage("cluster",
						 "--expiry %s: expected N, Ns, Nm, Nh or Nd",
						 argv[i]);
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			return cli_usage("cluster", "add NAME [--expiry DURATION]");
		}
	}
	if (!name)
		return cli_usage("cluster", "add NAME [--expiry DURATION]");
	struct json_object *b = json_object_new_object(), *md = NULL;
	json_object_object_add(b, "server_name", json_object_new_string(name));
	if (expiry)
		json_object_object_add(b, "expiry", json_object_new_int64(expiry));
	int r = cli_request(cli, "POST", "/1.0/cluster/members", b, &md);
	if (!r && cli->format != CLI_FORMAT_TABLE && cli->format != CLI_FORMAT_CSV)
		out_value(cli, md);
	else if (!r)
		printf("Member %s join token (expires %s):\n%s\n", name, jstr(md, "expires_at"),
		       jstr(md, "token"));
	json_object_put(md);
	return r;
}

int cmd_cluster(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "init") == 0 && argc == 4)
		return cluster_setup(cli, argv[2], argv[3], NULL, NULL);
	if (strcmp(sub, "join") == 0 && argc == 5)
		return cluster_setup(cli, argv[2], argv[3], argv[4], NULL);
	if (strcmp(sub, "join") == 0 && argc == 6 && strcmp(argv[4], "--token") == 0)
		return cluster_setup(cli, argv[2], argv[3], NULL, argv[5]);
	if (strcmp(sub, "add") == 0)
		return cluster_add(cli, argc, argv);
	if (strcmp(sub, "list-tokens") == 0 && argc == 2) {
		static const char *const headers[] = { "NAME", "EXPIRES AT", "EXPIRED",
						       "CREATED BY" };
		static const char *const keys[] = { "server_name", "expires_at", "expired",
						    "created_by" };
		return cli_list(cli, "/1.0/cluster/tokens", headers, keys, 4);
	}
	if (strcmp(sub, "revoke-token") == 0 && argc == 3) {
		char *e = curl_escape(argv[2], 0), *p = NULL;
		if (!e || asprintf(&p, "/1.0/cluster/tokens/%s", e) < 0)
			p = NULL;
		curl_free(e);
		int r = p ? cli_request(cli, "DELETE", p, NULL, NULL) : 1;
		free(p);
		return r;
	}
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
	return cli_usage("cluster",
			 "init NAME ADDRESS | join NAME ADDRESS (--token TOKEN | MEMBER-ADDRESS) | "
			 "add NAME [--expiry DURATION] | list-tokens | revoke-token NAME | list | "
			 "remove [--force] NAME | evacuate NAME | describe NAME TEXT");
}
