/*
 * output.c - how the CLI prints: tables sized to the terminal (the widest
 * columns shrink and their cells end with an ellipsis when a row would not
 * fit; widths in display columns, UTF-8 aware), CSV (RFC 4180 quoting),
 * JSON, and YAML written as block style with double-quoted scalars (YAML
 * 1.2 escapes for what it does not allow raw).  Every list honours all four
 * formats: rows become objects keyed by their headers in JSON and YAML.
 */
#include <stdio.h>
#include <wchar.h>
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

/* Display width of one character starting at s (length *len); control
 * characters count 1 (they are shown as "?"), bad UTF-8 bytes too. */
static int char_width(const char *s, size_t *len)
{
	mbstate_t st = { 0 };
	wchar_t wc;
	size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*len = 1;
		return 1;
	}
	*len = n;
	int w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

static size_t str_width(const char *s)
{
	size_t w = 0, len;
	for (; *s; s += len)
		w += (size_t)char_width(s, &len);
	return w;
}

/* The ellipsis a cut cell ends with: "…" on a UTF-8 terminal, else "~". */
static const char *ellipsis(void)
{
	return MB_CUR_MAX > 1 ? "\u2026" : "~";
}

/* Print s in exactly width columns: padded, or cut with the ellipsis. */
static void put_cell(const char *s, size_t width)
{
	bool cut = str_width(s) > width;
	size_t room = cut ? width - 1 : width, used = 0, len;
	for (; *s; s += len) {
		int w = char_width(s, &len);
		if (used + (size_t)w > room)
			break;
		if ((unsigned char)*s < 0x20 || *s == 0x7f ||
		    (len == 1 && (unsigned char)*s >= 0x80))
			putchar('?');
		else
			fwrite(s, 1, len, stdout);
		used += (size_t)w;
	}
	if (cut) {
		fputs(ellipsis(), stdout);
		used++;
	}
	for (; used < width; used++)
		putchar(' ');
}

/*
 * A table fitted to the terminal: while the rows are wider than it, the
 * widest column gives up one column (down to MIN_COL, or its header's
 * width if that is smaller); cut cells end with the ellipsis.  Not a
 * terminal: no limit.
 */
#define MIN_COL 6

static void print_table(const char *const *headers, size_t ncol, char **cells, size_t nrows)
{
	size_t w[16] = { 0 };
	if (ncol > 16)
		ncol = 16;
	for (size_t c = 0; c < ncol; c++) {
		w[c] = str_width(headers[c]);
		for (size_t r = 0; r < nrows; r++) {
			size_t l = str_width(cells[r * ncol + c]);
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
		if (w[wide] <= MIN_COL)
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
		putchar('|');
		for (size_t c = 0; c < ncol; c++) {
			putchar(' ');
			put_cell(line == -1 ? headers[c] : cells[(size_t)line * ncol + c], w[c]);
			fputs(" |", stdout);
		}
		putchar('\n');
	}
}

/* Rows as JSON objects: keys are the headers in lower case, "_" for " ". */
static struct json_object *rows_json(const char *const *headers, size_t ncol, char **cells,
				     size_t nrows)
{
	struct json_object *a = json_object_new_array();
	for (size_t r = 0; r < nrows; r++) {
		struct json_object *o = json_object_new_object();
		for (size_t c = 0; c < ncol; c++) {
			char key[64];
			size_t i = 0;
			for (; headers[c][i] && i < sizeof(key) - 1; i++) {
				char ch = headers[c][i];
				key[i] = ch == ' '		    ? '_'
					 : (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32)
								    : ch;
			}
			key[i] = 0;
			json_object_object_add(o, key, json_object_new_string(cells[r * ncol + c]));
		}
		json_object_array_add(a, o);
	}
	return a;
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
	if (cli->format == CLI_FORMAT_JSON || cli->format == CLI_FORMAT_YAML) {
		struct json_object *a = rows_json(headers, ncol, cells, nrows);
		out_value(cli, a);
		json_object_put(a);
		return;
	}
	print_table(headers, ncol, cells, nrows);
}

/*
 * A YAML 1.2 double-quoted scalar: quote and backslash escaped, and every
 * character YAML does not allow raw (C0 controls, DEL, C1 controls) as an
 * escape; other UTF-8 goes through as is (invalid bytes as \xXX).
 */
static void yaml_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", stdout);
		} else if (*p == '\t') {
			fputs("\\t", stdout);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			printf("\\x%02x", p[1]); /* C1 control (U+0080..U+009F) */
			p++;
		} else if (*p >= 0x80) {
			/* a whole valid UTF-8 sequence, or one escaped byte */
			mbstate_t st = { 0 };
			wchar_t wc;
			size_t n = mbrtowc(&wc, (const char *)p, 4, &st);
			if (n == (size_t)-1 || n == (size_t)-2 || n == 0 || MB_CUR_MAX == 1) {
				size_t k = 1;
				/* without a UTF-8 locale: trust well-formed lead/continuation */
				if (MB_CUR_MAX == 1 && *p >= 0xc2 && *p <= 0xf4) {
					size_t need = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
					while (k < need && (p[k] & 0xc0) == 0x80)
						k++;
					if (k == need) {
						fwrite(p, 1, k, stdout);
						p += k - 1;
						continue;
					}
				}
				printf("\\x%02x", *p);
				continue;
			}
			fwrite(p, 1, n, stdout);
			p += n - 1;
		} else {
			putchar(*p);
		}
	}
	putchar('"');
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
			yaml_string(k);
			putchar(':');
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
	fputs(in_list ? "" : " ", stdout);
	if (o && json_object_is_type(o, json_type_string))
		yaml_string(json_object_get_string(o));
	else
		fputs(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "null",
		      stdout);
	putchar('\n');
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

int cli_get_listing(struct cli *cli, const char *path, struct json_object **md)
{
	*md = NULL;
	int r = cli_request(cli, "GET", path, NULL, md);
	if (r)
		return r;
	if (cli->format == CLI_FORMAT_JSON || cli->format == CLI_FORMAT_YAML) {
		out_value(cli, *md);
		json_object_put(*md);
		*md = NULL;
	}
	return 0;
}

int cli_list(struct cli *cli, const char *path, const char *const *headers, const char *const *keys,
	     size_t ncol)
{
	struct json_object *md;
	int r = cli_get_listing(cli, path, &md);
	if (r || !md)
		return r;
	out_objects(cli, md, headers, keys, ncol);
	json_object_put(md);
	return 0;
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
