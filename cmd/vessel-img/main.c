/*
 * main.c - vessel-img: dispatch to one command of the `img_commands[]`
 * table.  See docs/vessel-img.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"

#include "vessel-img.h"

const struct img_command img_commands[] = {
	{ "create", cmd_create,
	  "create [-f qcow2|raw] [-o opts] [-b backing [-F fmt]] [--preallocation "
	  "off|metadata|falloc] "
	  "FILE [SIZE]" },
	{ "info", cmd_info, "info [-f fmt] [--json] FILE" },
	{ "io", cmd_io, "io [-f fmt] [-r] -c 'write|read|discard|zero|flush ...' ... FILE" },
	{ "check", cmd_check, "check [-f fmt] [-r leaks|all] [--json] FILE" },
	{ "map", cmd_map, "map [-f fmt] [--json] FILE" },
	{ "snapshot", cmd_snapshot, "snapshot -l | -c NAME | -a NAME | -d NAME FILE" },
	{ "resize", cmd_resize, "resize [-f fmt] [--shrink] FILE [+|-]SIZE" },
	{ "convert", cmd_convert,
	  "convert [-f fmt] [-O qcow2|raw] [-c] [--compress zlib|zstd] [-o opts] SRC DST" },
	{ "commit", cmd_commit, "commit [-f fmt] [-d] FILE" },
	{ "rebase", cmd_rebase, "rebase [-f fmt] [-u] -b BACKING [-F fmt] FILE" },
	{ "bench", cmd_bench,
	  "bench [-f fmt] [-w] [-d depth] [-c count] [-s size] [-o offset] [-S step] [--random] "
	  "[--flush-interval N] [--pattern P] FILE" },
	{ NULL, NULL, NULL },
};

int img_fail(const struct vs_err *err)
{
	fprintf(stderr, "vessel-img: %s\n", err->msg[0] ? err->msg : strerror(err->code));
	return 1;
}

int img_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "vessel-img: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return 1;
}

int img_parse_num(const char *s, uint64_t *out, struct vs_err *err)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return vs_parse_u64(s, out, err);
	return vs_parse_size(s, out, err);
}

struct disk_image *img_open(const char *path, const char *fmt, bool rw, bool no_backing,
			    struct vs_err *err)
{
	struct disk_open_options o = {
		.flags = (rw ? 0 : DISK_OPEN_RDONLY) | (no_backing ? DISK_OPEN_NO_BACKING : 0),
		.format = fmt,
	};
	return disk_image_open(path, &o, err);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vessel-img COMMAND [options]\n\ncommands:\n");
	for (unsigned i = 0; img_commands[i].name; i++)
		fprintf(f, "  %s\n", img_commands[i].usage);
	fprintf(f, "\nsee docs/vessel-img.md\n");
}

int main(int argc, char **argv)
{
	vs_stdio_ensure();
	vs_log_set_handler(vs_log_stderr_handler, "vessel-img");
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (unsigned i = 0; img_commands[i].name; i++)
		if (!strcmp(argv[1], img_commands[i].name))
			return img_commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "vessel-img: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 1;
}
