/*
 * cmd_usage.c - usage on the command line: the usage part of `vessel info`
 * (current use against the limits, sparklines of the last hour and day),
 * `vessel top` (a live table, sortable; one table when stdout is not a
 * terminal) and `vessel advise [NAME] [--apply]`.  All figures come from
 * vesseld (GET /1.0/instances/NAME/usage, GET /1.0/advice).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/util.h"

static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };

static double jnum(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_double(v) : 0;
}

static bool jhas(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v;
}

static char *escaped_path(const char *name, const char *suffix)
{
	char *e = curl_easy_escape(NULL, name, 0);
	char *p = NULL;
	if (!e || asprintf(&p, "/1.0/instances/%s%s", e, suffix) < 0)
		p = NULL;
	curl_free(e);
	return p;
}

static int get(struct cli *cli, const char *path, struct json_object **md, struct vs_err *err)
{
	struct mgr_client *c = cli_client(cli, err);
	return c ? mgr_client_do(c, "GET", path, NULL, md, err) : -1;
}

/* A sparkline of samples[].key over `width` columns, scaled to top. */
static void sparkline(struct json_object *samples, const char *key, double top, int width,
		      char *out, size_t len)
{
	size_t n = samples ? json_object_array_length(samples) : 0;
	size_t off = 0;
	out[0] = 0;
	if (!n) {
		snprintf(out, len, "(no samples yet)");
		return;
	}
	int cols = (int)n < width ? (int)n : width;
	for (int c = 0; c < cols; c++) {
		size_t a = (size_t)c * n / (size_t)cols, b = (size_t)(c + 1) * n / (size_t)cols;
		double sum = 0;
		for (size_t i = a; i < b; i++)
			sum += jnum(json_object_array_get_idx(samples, i), key);
		double v = b > a ? sum / (double)(b - a) : 0;
		int k = top > 0 ? (int)floor(v / top * 8) : 0;
		k = k < 0 ? 0 : k > 7 ? 7 : k;
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s", bars[k]);
	}
}

static double series_max(struct json_object *samples, const char *key)
{
	double m = 0;
	for (size_t i = 0; samples && i < json_object_array_length(samples); i++)
		m = fmax(m, jnum(json_object_array_get_idx(samples, i), key));
	return m;
}

static const char *human(double bytes, char *buf, size_t len)
{
	return vs_format_size(bytes > 0 ? (uint64_t)bytes : 0, buf, len);
}

void cli_print_usage_summary(struct cli *cli, const char *name)
{
	struct json_object *h = NULL, *d = NULL;
	struct vs_err err = VS_ERR_INIT;
	char *ph = escaped_path(name, "/usage?window=1h"),
	     *pd = escaped_path(name, "/usage?window=1d");
	if (!ph || !pd || get(cli, ph, &h, &err) < 0 || get(cli, pd, &d, &err) < 0) {
		free(ph);
		free(pd);
		json_object_put(h);
		json_object_put(d);
		return;
	}
	free(ph);
	free(pd);
	struct json_object *lim, *cur, *sh, *sd;
	json_object_object_get_ex(h, "limits", &lim);
	json_object_object_get_ex(h, "current", &cur);
	json_object_object_get_ex(h, "samples", &sh);
	json_object_object_get_ex(d, "samples", &sd);
	char b1[32], b2[32], l1[512], l2[512];
	printf("\nusage:\n");
	/* CPU: scaled to the limit (or the busiest moment when none) */
	double cl = jnum(lim, "cpu");
	double ctop = cl > 0 ? cl : fmax(series_max(sd, "cpu"), 0.01);
	sparkline(sh, "cpu", ctop, 40, l1, sizeof(l1));
	sparkline(sd, "cpu", ctop, 40, l2, sizeof(l2));
	if (cl > 0)
		printf("  cpu:     %.2f of %g cores\n", jnum(cur, "cpu"), cl);
	else
		printf("  cpu:     %.2f cores (no limit)\n", jnum(cur, "cpu"));
	printf("    last hour %s\n    last day  %s\n", l1, l2);
	double ml = jnum(lim, "memory");
	double mtop = ml > 0 ? ml : fmax(series_max(sd, "memory"), 1);
	sparkline(sh, "memory", mtop, 40, l1, sizeof(l1));
	sparkline(sd, "memory", mtop, 40, l2, sizeof(l2));
	if (ml > 0)
		printf("  memory:  %s of %s\n", human(jnum(cur, "memory"), b1, sizeof(b1)),
		       human(ml, b2, sizeof(b2)));
	else
		printf("  memory:  %s (no limit)\n", human(jnum(cur, "memory"), b1, sizeof(b1)));
	printf("    last hour %s\n    last day  %s\n", l1, l2);
	printf("  disk:    read %s/s, write %s/s\n", human(jnum(cur, "disk_read"), b1, sizeof(b1)),
	       human(jnum(cur, "disk_write"), b2, sizeof(b2)));
	printf("  network: rx %s/s, tx %s/s\n", human(jnum(cur, "net_rx"), b1, sizeof(b1)),
	       human(jnum(cur, "net_tx"), b2, sizeof(b2)));
	if (jhas(cur, "throttled") && jnum(cur, "throttled") > 0)
		printf("  cpu throttled %.0f%% of the time\n", 100 * jnum(cur, "throttled"));
	if (jnum(cur, "oom_kills") > 0)
		printf("  OOM kills: %.0f\n", jnum(cur, "oom_kills"));
	json_object_put(h);
	json_object_put(d);
}

/* ---- vessel top ---- */

enum top_sort { SORT_CPU, SORT_MEMORY, SORT_NAME, SORT_DISK, SORT_NET };

struct top_row {
	char name[64], type[4], status[16];
	double cpu, cpu_limit, mem, mem_limit, disk, net;
};

static enum top_sort sort_key;

static int top_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	double dx = 0, dy = 0;
	switch (sort_key) {
	case SORT_NAME: return strcmp(x->name, y->name);
	case SORT_CPU: dx = x->cpu, dy = y->cpu; break;
	case SORT_MEMORY: dx = x->mem, dy = y->mem; break;
	case SORT_DISK: dx = x->disk, dy = y->disk; break;
	case SORT_NET: dx = x->net, dy = y->net; break;
	}
	return dx < dy ? 1 : dx > dy ? -1 : strcmp(x->name, y->name);
}

static int top_collect(struct cli *cli, struct top_row **out, size_t *n, struct vs_err *err)
{
	struct json_object *list = NULL;
	*out = NULL;
	*n = 0;
	if (get(cli, "/1.0/instances?recursion=1", &list, err) < 0)
		return -1;
	size_t cnt = json_object_array_length(list);
	struct top_row *rows = calloc(cnt ? cnt : 1, sizeof(*rows));
	if (!rows) {
		json_object_put(list);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);
		struct top_row *r = &rows[i];
		snprintf(r->name, sizeof(r->name), "%s", jstr(o, "name"));
		snprintf(r->type, sizeof(r->type), "%s",
			 strcmp(jstr(o, "type"), "container") == 0 ? "CT" : "VM");
		snprintf(r->status, sizeof(r->status), "%s", jstr(o, "status"));
		char *p = escaped_path(r->name, "/usage?window=60s");
		struct json_object *u = NULL, *cur = NULL, *lim = NULL;
		struct vs_err e2 = VS_ERR_INIT;
		if (p && get(cli, p, &u, &e2) == 0) {
			json_object_object_get_ex(u, "current", &cur);
			json_object_object_get_ex(u, "limits", &lim);
			r->cpu = jnum(cur, "cpu");
			r->mem = jnum(cur, "memory");
			r->disk = jnum(cur, "disk_read") + jnum(cur, "disk_write");
			r->net = jnum(cur, "net_rx") + jnum(cur, "net_tx");
			r->cpu_limit = jnum(lim, "cpu");
			r->mem_limit = jnum(lim, "memory");
		}
		free(p);
		json_object_put(u);
	}
	json_object_put(list);
	qsort(rows, cnt, sizeof(*rows), top_cmp);
	*out = rows;
	*n = cnt;
	return 0;
}

static void top_print(const struct top_row *rows, size_t n, bool tty)
{
	static const char *const names[] = { "cpu", "memory", "name", "disk", "net" };
	if (tty)
		printf("\033[H\033[2J vessel top - sorted by %s (c cpu, m memory, n name, d disk, "
		       "t net, q quit)\n\n",
		       names[sort_key]);
	printf("%-20s %-4s %-8s %13s %21s %12s %12s\n", "NAME", "TYPE", "STATUS", "CPU", "MEMORY",
	       "DISK/s", "NET/s");
	for (size_t i = 0; i < n; i++) {
		const struct top_row *r = &rows[i];
		char cpu[32], mem[48], b1[16], b2[16], disk[16], net[16];
		if (r->cpu_limit > 0)
			snprintf(cpu, sizeof(cpu), "%.2f/%g", r->cpu, r->cpu_limit);
		else
			snprintf(cpu, sizeof(cpu), "%.2f", r->cpu);
		if (r->mem_limit > 0)
			snprintf(mem, sizeof(mem), "%s/%s", human(r->mem, b1, sizeof(b1)),
				 human(r->mem_limit, b2, sizeof(b2)));
		else
			snprintf(mem, sizeof(mem), "%s", human(r->mem, b1, sizeof(b1)));
		printf("%-20s %-4s %-8s %13s %21s %12s %12s\n", r->name, r->type, r->status, cpu,
		       mem, human(r->disk, disk, sizeof(disk)), human(r->net, net, sizeof(net)));
	}
	fflush(stdout);
}

static bool parse_sort(const char *s)
{
	static const char *const names[] = { "cpu", "memory", "name", "disk", "net" };
	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0) {
			sort_key = (enum top_sort)i;
			return true;
		}
	return false;
}

int cmd_top(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "sort", required_argument, NULL, 's' },
					      { "interval", required_argument, NULL, 'i' },
					      { "once", no_argument, NULL, 'o' },
					      { NULL, 0, NULL, 0 } };
	double interval = 2;
	bool once = false;
	sort_key = SORT_CPU;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's' && !parse_sort(optarg))
			return cli_usage(
			    "top", "--sort %s: expected cpu, memory, name, disk or net", optarg);
		else if (c == 'i') {
			char *end;
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.2) || interval > 3600)
				return cli_usage(
				    "top", "--interval %s: expected seconds (0.2-3600)", optarg);
		} else if (c == 'o')
			once = true;
		else if (c != 's')
			return cli_usage("top", "unknown option %s", argv[optind - 1]);
	}
	if (optind != argc)
		return cli_usage("top", "no arguments expected");
	bool tty = !once && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	struct termios old, raw;
	if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty = false;
	}
	int rc = 0;
	for (;;) {
		struct top_row *rows;
		size_t n;
		struct vs_err err = VS_ERR_INIT;
		if (top_collect(cli, &rows, &n, &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		top_print(rows, n, tty);
		free(rows);
		if (!tty)
			break;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		bool quit = false;
		if (poll(&p, 1, (int)(interval * 1000)) > 0) {
			char ch;
			if (read(STDIN_FILENO, &ch, 1) != 1 || ch == 'q' || ch == 'Q')
				quit = true;
			else if (ch == 'c')
				sort_key = SORT_CPU;
			else if (ch == 'm')
				sort_key = SORT_MEMORY;
			else if (ch == 'n')
				sort_key = SORT_NAME;
			else if (ch == 'd')
				sort_key = SORT_DISK;
			else if (ch == 't')
				sort_key = SORT_NET;
		}
		if (quit)
			break;
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return rc;
}

/* ---- vessel advise ---- */

int cmd_advise(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "apply", no_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	bool apply = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			apply = true;
		else
			return cli_usage("advise", "unknown option %s", argv[optind - 1]);
	}
	if (argc - optind > 1)
		return cli_usage("advise", "expected at most one NAME");
	const char *name = optind < argc ? argv[optind] : NULL;
	char *path = NULL;
	if (name) {
		char *e = curl_easy_escape(NULL, name, 0);
		if (!e || asprintf(&path, "/1.0/advice?instance=%s", e) < 0)
			path = NULL;
		curl_free(e);
	} else {
		path = strdup("/1.0/advice");
	}
	struct json_object *adv = NULL;
	struct vs_err err = VS_ERR_INIT;
	int r = path ? get(cli, path, &adv, &err) : -1;
	free(path);
	if (r < 0)
		return cli_fail(&err);
	size_t n = json_object_array_length(adv);
	if (cli->format == CLI_FORMAT_JSON || cli->format == CLI_FORMAT_YAML) {
		if (!apply)
			out_value(cli, adv);
	} else if (cli->format == CLI_FORMAT_CSV) {
		static const char *const h[] = { "INSTANCE",	"KIND",	    "KEY",   "CURRENT",
						 "RECOMMENDED", "EVIDENCE", "IMPACT" };
		static const char *const k[] = { "instance",	"kind",	    "key",   "current",
						 "recommended", "evidence", "impact" };
		out_objects(cli, adv, h, k, 7);
	} else if (n == 0) {
		printf("no advice%s%s (not enough history, or sized right)\n", name ? " for " : "",
		       name ? name : "");
	} else {
		for (size_t i = 0; i < n; i++) {
			struct json_object *a = json_object_array_get_idx(adv, i);
			if (jhas(a, "key"))
				printf("%s: %s: %s %s -> %s\n", jstr(a, "instance"),
				       jstr(a, "kind"), jstr(a, "key"), jstr(a, "current"),
				       jstr(a, "recommended"));
			else
				printf("%s: %s\n", jstr(a, "instance"), jstr(a, "kind"));
			printf("    evidence: %s\n    impact:   %s\n", jstr(a, "evidence"),
			       jstr(a, "impact"));
		}
	}
	int rc = 0;
	if (apply) {
		/* each instance with limit advice, once */
		for (size_t i = 0; i < n; i++) {
			struct json_object *a = json_object_array_get_idx(adv, i);
			const char *inst = jstr(a, "instance");
			bool seen = !jhas(a, "key");
			for (size_t j = 0; j < i && !seen; j++) {
				struct json_object *b = json_object_array_get_idx(adv, j);
				seen = jhas(b, "key") && strcmp(jstr(b, "instance"), inst) == 0;
			}
			if (seen)
				continue;
			char *p = escaped_path(inst, "/advice/apply");
			struct json_object *done = NULL;
			struct mgr_client *cl = cli_client(cli, &err);
			if (!p || !cl || mgr_client_do(cl, "POST", p, NULL, &done, &err) < 0) {
				rc = cli_fail(&err);
				free(p);
				continue;
			}
			free(p);
			for (size_t j = 0; j < json_object_array_length(done); j++) {
				struct json_object *d = json_object_array_get_idx(done, j);
				printf("applied %s: %s=%s\n", inst, jstr(d, "key"),
				       jstr(d, "recommended"));
			}
			json_object_put(done);
		}
	}
	json_object_put(adv);
	return rc;
}
