/*
 * output.c - how the CLI prints: tables sized to the terminal (the widest
 * column is cut with "~" when the row would not fit), CSV (RFC 4180
 * quoting), JSON, and YAML written as block style with JSON-quoted
 * scalars (valid YAML 1.2 for any string).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return "";
	return json_object_get_string(v);
}

static void csv_cell(const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_table(const char *const *headers, size_t ncol, char **cells, size_t nrows)
{
	size_t w[16] = { 0 };
	if (ncol > 16)
		ncol = 16;
	for (size_t c = 0; c < ncol; c++) {
		w[c] = strlen(headers[c]);
		for (size_t r = 0; r < nrows; r++) {
			size_t l = strlen(cells[r * ncol + c]);
			if (l > w[c])
				w[c] = l;
		}
	}
	struct winsize ws;
	size_t width = isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 0;
	size_t total = 1;
	for (size_t c = 0; c < ncol; c++)
		total += w[c] + 3;
	while (width && total > width) {
		size_t wide = 0;
		for (size_t c = 1; c < ncol; c++)
			if (w[c] > w[wide])
				wide = c;
		if (w[wide] <= 8)
			break;
		w[wide]--;
		total--;
	}
	for (int line = -1; line <= (int)nrows; line++) {
		if (line == -1 || line == (int)nrows || line == 0) {
			putchar('+');
			for (size_t c = 0; c < ncol; c++) {
				for (size_t i = 0; i < w[c] + 2; i++)
					putchar('-');
				putchar('+');
			}
			putchar('\n');
			if (line == (int)nrows)
				break;
		}
		if (line == -1) {
			putchar('|');
			for (size_t c = 0; c < ncol; c++)
				printf(" %-*s |", (int)w[c], headers[c]);
			putchar('\n');
			continue;
		}
		putchar('|');
		for (size_t c = 0; c < ncol; c++) {
			const char *s = cells[(size_t)line * ncol + c];
			if (strlen(s) > w[c])
				printf(" %.*s~ |", (int)w[c] - 1, s);
			else
				printf(" %-*s |", (int)w[c], s);
		}
		putchar('\n');
	}
}

void out_rows(const struct cli *cli, const char *const *headers, size_t ncol, char **cells,
	      size_t nrows)
{
	if (cli->format == CLI_FORMAT_CSV) {
		for (size_t r = 0; r < nrows; r++) {
			for (size_t c = 0; c < ncol; c++) {
				if (c)
					putchar(',');
				csv_cell(cells[r * ncol + c]);
			}
			putchar('\n');
		}
		return;
	}
	print_table(headers, ncol, cells, nrows);
}

static void yaml(struct json_object *o, int indent, bool in_list)
{
	if (json_object_is_type(o, json_type_object)) {
		if (json_object_object_length(o) == 0) {
			printf("%s{}\n", in_list ? "" : " ");
			return;
		}
		if (!in_list)
			putchar('\n');
		bool first = true;
		json_object_object_foreach(o, k, v)
		{
			if (!(in_list && first))
				printf("%*s", indent, "");
			first = false;
			struct json_object *ks = json_object_new_string(k);
			printf("%s:", json_object_to_json_string_ext(ks, JSON_C_TO_STRING_PLAIN));
			json_object_put(ks);
			yaml(v, indent + 2, false);
		}
		return;
	}
	if (json_object_is_type(o, json_type_array)) {
		if (json_object_array_length(o) == 0) {
			printf("%s[]\n", in_list ? "" : " ");
			return;
		}
		if (!in_list)
			putchar('\n');
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (!(in_list && i == 0))
				printf("%*s", indent, "");
			printf("- ");
			yaml(json_object_array_get_idx(o, i), indent + 2, true);
		}
		return;
	}
	printf("%s%s\n", in_list ? "" : " ",
	       o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE)
		 : "null");
}

void out_value(const struct cli *cli, struct json_object *o)
{
	if (cli->format == CLI_FORMAT_JSON) {
		printf("%s\n", json_object_to_json_string_ext(
				   o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
	if (json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array)) {
		/* top level without the leading newline */
		if (json_object_is_type(o, json_type_array)) {
			if (json_object_array_length(o) == 0) {
				printf("[]\n");
				return;
			}
			for (size_t i = 0; i < json_object_array_length(o); i++) {
				printf("- ");
				yaml(json_object_array_get_idx(o, i), 2, true);
			}
			return;
		}
		if (json_object_object_length(o) == 0) {
			printf("{}\n");
			return;
		}
		yaml(o, 0, true);
		return;
	}
	yaml(o, 0, true);
}

void out_objects(const struct cli *cli, struct json_object *arr, const char *const *headers,
		 const char *const *keys, size_t ncol)
{
	size_t n = json_object_array_length(arr);
	char **cells = calloc(n * ncol + 1, sizeof(char *));
	if (!cells)
		return;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		for (size_t k = 0; k < ncol; k++)
			cells[i * ncol + k] = strdup(jstr(o, keys[k]));
	}
	out_rows(cli, headers, ncol, cells, n);
	for (size_t i = 0; i < n * ncol; i++)
		free(cells[i]);
	free(cells);
}

/*
 * The progress bar of an operation (its metadata's "progress", 0-100, and
 * "stage"): one line redrawn in place, only when stdout is a terminal; it
 * is wiped when the operation ends (cli_progress_end).
 */
static bool bar_drawn;

void cli_progress(void *opaque, struct json_object *md)
{
	(void)opaque;
	struct json_object *p;
	if (!md) {
		cli_progress_end();
		return;
	}
	if (!json_object_object_get_ex(md, "progress", &p) ||
	    !json_object_is_type(p, json_type_int))
		return;
	int pct = json_object_get_int(p);
	pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
	const char *stage = jstr(md, "stage");
	struct winsize ws;
	int cols = ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	char label[32];
	snprintf(label, sizeof(label), "%.16s", stage);
	/* "stage [#####.....] 42%" within the width (at least a 10-cell bar) */
	int width = cols - (int)strlen(label) - 10;
	if (width > 50)
		width = 50;
	if (width < 10)
		width = 10;
	int fill = pct * width / 100;
	printf("\r%s [", label);
	for (int i = 0; i < width; i++)
		putchar(i < fill ? '#' : '.');
	printf("] %3d%%\033[K", pct);
	fflush(stdout);
	bar_drawn = true;
}

void cli_progress_end(void)
{
	if (bar_drawn) {
		printf("\r\033[K");
		fflush(stdout);
		bar_drawn = false;
	}
}
