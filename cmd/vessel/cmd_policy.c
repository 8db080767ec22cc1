/*
 * cmd_policy.c - the lifecycle commands: project policies, sprawl, prune
 * and the audit log.  Requests only; the daemon decides (docs/vesseld.md).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vessel/core/util.h"

/* "/1.0/projects/NAME/policy", NAME escaped. */
static char *policy_path(const char *project)
{
	char *e = curl_easy_escape(NULL, project, 0);
	char *p = NULL;
	if (!e || asprintf(&p, "/1.0/projects/%s/policy", e) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

/* vessel project policy set|unset|show PROJECT ... */
int cmd_project(struct cli *cli, int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "policy") != 0)
		return cli_usage("project", "expected policy set|unset|show PROJECT");
	const char *sub = argv[2];
	char *path = policy_path(argv[3]);
	struct json_object *md = NULL;
	int r = cli_request(cli, "GET", path, NULL, &md);
	if (r) {
		free(path);
		return r;
	}
	if (strcmp(sub, "show") == 0 && argc == 4) {
		out_value(cli, md);
	} else if ((strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0) && argc > 4) {
		bool set = sub[0] == 's';
		struct json_object *cfg = NULL;
		json_object_object_get_ex(md, "config", &cfg);
		struct json_object *next = json_object_new_object();
		json_object_object_foreach(cfg, k, v)
		    json_object_object_add(next, k, json_object_get(v));
		for (int i = 4; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			if (set && (!eq || eq == argv[i])) {
				json_object_put(next);
				json_object_put(md);
				free(path);
				return cli_usage("project", "set %s: expected KEY=VALUE", argv[i]);
			}
			if (set) {
				*eq = 0;
				json_object_object_add(next, argv[i],
						       json_object_new_string(eq + 1));
			} else {
				json_object_object_del(next, argv[i]);
			}
		}
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "config", next);
		r = cli_request(cli, "PUT", path, b, NULL);
	} else {
		r = cli_usage("project", "expected policy set PROJECT KEY=VALUE... | unset PROJECT "
					 "KEY... | show PROJECT");
	}
	json_object_put(md);
	free(path);
	return r;
}

static char *fmt_size(int64_t b)
{
	char buf[32];
	return strdup(b ? vs_format_size((uint64_t)b, buf, sizeof(buf)) : "-");
}

int cmd_sprawl(struct cli *cli, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("sprawl", "no arguments expected");
	struct json_object *md = NULL;
	int r = cli_get_listing(cli, "/1.0/sprawl", &md);
	if (r || !md)
		return r;
	static const char *const headers[] = { "KIND",	 "NAME", "REASON",  "CPU",
					       "MEMORY", "DISK", "PRUNABLE" };
	size_t n = json_object_array_length(md);
	char **cells = calloc(n * 7 + 1, sizeof(char *));
	for (size_t i = 0; cells && i < n; i++) {
		struct json_object *o = json_object_array_get_idx(md, i), *c = NULL, *v;
		json_object_object_get_ex(o, "cost", &c);
		char cpu[32];
		double cores =
		    json_object_object_get_ex(c, "cpu", &v) ? json_object_get_double(v) : 0;
		snprintf(cpu, sizeof(cpu), cores > 0 ? "%g" : "-", cores);
		cells[i * 7 + 0] = strdup(jstr(o, "kind"));
		cells[i * 7 + 1] = strdup(jstr(o, "name"));
		cells[i * 7 + 2] = strdup(jstr(o, "reason"));
		cells[i * 7 + 3] = strdup(cpu);
		cells[i * 7 + 4] = fmt_size(
		    json_object_object_get_ex(c, "memory", &v) ? json_object_get_int64(v) : 0);
		cells[i * 7 + 5] = fmt_size(
		    json_object_object_get_ex(c, "disk", &v) ? json_object_get_int64(v) : 0);
		cells[i * 7 + 6] = strdup(strcmp(jstr(o, "prunable"), "true") == 0 ? "yes" : "no");
	}
	if (cells)
		out_rows(cli, headers, 7, cells, n);
	for (size_t i = 0; cells && i < n * 7; i++)
		free(cells[i]);
	free(cells);
	json_object_put(md);
	return cells ? 0 : 1;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	bool dry = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = true;
		else
			return cli_usage("prune", "unknown argument %s", argv[i]);
	}
	struct json_object *b = json_object_new_object(), *md = NULL;
	json_object_object_add(b, "dry_run", json_object_new_boolean(dry));
	int r = cli_request(cli, "POST", "/1.0/prune", b, &md);
	if (r)
		return r;
	if (cli->format == CLI_FORMAT_JSON || cli->format == CLI_FORMAT_YAML) {
		out_value(cli, md);
	} else {
		struct json_object *rm = NULL, *failed = NULL;
		json_object_object_get_ex(md, "removed", &rm);
		json_object_object_get_ex(md, "failed", &failed);
		for (size_t i = 0; i < json_object_array_length(rm); i++) {
			struct json_object *o = json_object_array_get_idx(rm, i);
			printf("%s %s %s (%s)\n", dry ? "would remove" : "removed", jstr(o, "kind"),
			       jstr(o, "name"), jstr(o, "reason"));
		}
		for (size_t i = 0; i < json_object_array_length(failed); i++) {
			struct json_object *o = json_object_array_get_idx(failed, i);
			fprintf(stderr, "vessel: error: prune %s %s: %s\n", jstr(o, "kind"),
				jstr(o, "name"), jstr(o, "error"));
		}
		if (json_object_array_length(failed))
			r = 1;
	}
	json_object_put(md);
	return r;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "since", required_argument, NULL, 's' },
					      { "instance", required_argument, NULL, 'i' },
					      { "verify", no_argument, NULL, 'v' },
					      { NULL, 0, NULL, 0 } };
	const char *since = NULL, *instance = NULL;
	bool verify = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			since = optarg;
		else if (c == 'i')
			instance = optarg;
		else if (c == 'v')
			verify = true;
		else
			return cli_usage("audit", "unknown option %s", argv[optind - 1]);
	}
	if (optind != argc)
		return cli_usage("audit", "unexpected argument %s", argv[optind]);
	struct json_object *md = NULL;
	if (verify) {
		if (since || instance)
			return cli_usage("audit", "--verify checks the whole log: no filters");
		int r = cli_request(cli, "GET", "/1.0/audit/verify", NULL, &md);
		if (r)
			return r;
		struct json_object *ok = NULL;
		json_object_object_get_ex(md, "ok", &ok);
		bool good = ok && json_object_get_boolean(ok);
		if (cli->format == CLI_FORMAT_JSON || cli->format == CLI_FORMAT_YAML)
			out_value(cli, md);
		else if (good)
			printf("audit log intact: %s records, hash chain verified\n",
			       jstr(md, "records"));
		if (!good)
			fprintf(stderr,
				"vessel: error: audit log verification failed at record %s: %s\n",
				jstr(md, "first_bad"), jstr(md, "reason"));
		json_object_put(md);
		return good ? 0 : 1;
	}
	char *es = since ? curl_easy_escape(NULL, since, 0) : NULL,
	     *ei = instance ? curl_easy_escape(NULL, instance, 0) : NULL, *path = NULL;
	int pl = asprintf(&path, "/1.0/audit?since=%s&instance=%s", es ? es : "", ei ? ei : "");
	curl_free(es);
	curl_free(ei);
	if (pl < 0)
		return 1;
	static const char *const headers[] = { "SEQ",  "TIME",	 "WHO",	   "METHOD",
					       "PATH", "STATUS", "SUMMARY" };
	static const char *const keys[] = { "seq",  "time",   "who",	"method",
					    "path", "status", "summary" };
	int r = cli_list(cli, path, headers, keys, 7);
	free(path);
	return r;
}
