/*
 * cmd_io.c - vessel-img io (qemu-io style commands for tests and debugging)
 * and vessel-img bench (like qemu-img bench).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/util.h"

#include "vessel-img.h"

#define MAX_ARGS 16

static int split(char *s, char **argv)
{
	int n = 0;
	for (char *save = NULL, *t = strtok_r(s, " \t", &save); t && n < MAX_ARGS - 1;
	     t = strtok_r(NULL, " \t", &save))
		argv[n++] = t;
	argv[n] = NULL;
	return n;
}

/* One io command; returns 0, or 1 after printing the failure. */
static int io_command(struct disk_image *img, char *line)
{
	char *argv[MAX_ARGS];
	int argc = split(line, argv);
	if (argc == 0)
		return 0;
	struct vs_err err = VS_ERR_INIT;
	const char *cmd = argv[0];
	if (!strcmp(cmd, "flush")) {
		if (disk_image_flush(img, &err) < 0)
			return img_fail(&err);
		return 0;
	}
	int pattern = -1;
	bool zero = false, quiet = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "-P") && i + 1 < argc) {
			uint64_t p;
			if (vs_parse_u64(argv[++i], &p, &err) < 0 || p > 255)
				return img_failf("io: bad pattern '%s'", argv[i]);
			pattern = (int)p;
		} else if (!strcmp(argv[i], "-z")) {
			zero = true;
		} else if (!strcmp(argv[i], "-q")) {
			quiet = true;
		} else {
			return img_failf("io: unknown option '%s' for %s", argv[i], cmd);
		}
	}
	if (argc - i != 2)
		return img_failf("io: usage: %s [-P pattern] [-z] OFFSET LENGTH", cmd);
	uint64_t off, len;
	if (img_parse_num(argv[i], &off, &err) < 0 || img_parse_num(argv[i + 1], &len, &err) < 0)
		return img_fail(&err);
	if (len > (1ULL << 32))
		return img_failf("io: length %" PRIu64 " too large", len);
	int r = 0;
	if (!strcmp(cmd, "write")) {
		if (zero) {
			r = disk_image_write_zeroes(img, off, len, &err);
		} else {
			uint8_t *buf = malloc(len ? len : 1);
			if (!buf)
				return img_failf("out of memory");
			memset(buf, pattern < 0 ? 0xcd : pattern, len);
			r = disk_image_pwrite(img, buf, len, off, &err);
			free(buf);
		}
		if (r < 0)
			return img_fail(&err);
		if (!quiet)
			printf("wrote %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", len,
			       len, off);
	} else if (!strcmp(cmd, "read")) {
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf)
			return img_failf("out of memory");
		r = disk_image_pread(img, buf, len, off, &err);
		if (r < 0) {
			free(buf);
			return img_fail(&err);
		}
		if (pattern >= 0 || zero) {
			int want = zero ? 0 : pattern;
			for (uint64_t k = 0; k < len; k++) {
				if (buf[k] != want) {
					printf("Pattern verification failed at offset %" PRIu64
					       ", %" PRIu64 " bytes (found 0x%02x, want 0x%02x)\n",
					       off + k, len, buf[k], want);
					free(buf);
					return 1;
				}
			}
		}
		free(buf);
		if (!quiet)
			printf("read %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", len,
			       len, off);
	} else if (!strcmp(cmd, "discard")) {
		if (disk_image_discard(img, off, len, &err) < 0)
			return img_fail(&err);
		if (!quiet)
			printf("discard %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", len,
			       len, off);
	} else if (!strcmp(cmd, "zero")) {
		if (disk_image_write_zeroes(img, off, len, &err) < 0)
			return img_fail(&err);
	} else {
		return img_failf("io: unknown command '%s'", cmd);
	}
	return 0;
}

int cmd_io(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "cache", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	bool rdonly = false;
	uint64_t cache = 0;
	char *cmds[256];
	int ncmds = 0, c;
	struct vs_err err = VS_ERR_INIT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:rc:", longs, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'r': rdonly = true; break;
		case 'c':
			if (ncmds == 256)
				return img_failf("io: too many commands");
			cmds[ncmds++] = optarg;
			break;
		case 'C':
			if (vs_parse_size(optarg, &cache, &err) < 0)
				return img_fail(&err);
			break;
		default: return img_failf("usage: vessel-img io [-f fmt] [-r] -c CMD... FILE");
		}
	}
	if (optind >= argc)
		return img_failf("io: missing FILE");
	struct disk_open_options o = { .flags = rdonly ? DISK_OPEN_RDONLY : 0,
				       .format = fmt,
				       .l2_cache_bytes = cache };
	struct disk_image *img = disk_image_open(argv[optind], &o, &err);
	if (!img)
		return img_fail(&err);
	int rc = 0;
	for (int i = 0; i < ncmds && rc == 0; i++) {
		char *line = strdup(cmds[i]);
		if (!line) {
			rc = img_failf("out of memory");
			break;
		}
		rc = io_command(img, line);
		free(line);
	}
	if (rc == 0 && !rdonly && disk_image_flush(img, &err) < 0)
		rc = img_fail(&err);
	disk_image_close(img);
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "random", no_argument, NULL, 'R' },
		{ "flush-interval", required_argument, NULL, 'I' },
		{ "pattern", required_argument, NULL, 'P' },
		{ "cache", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_bench_options b = { .count = 75000, .buffer_size = 4096, .pattern = 0 };
	const char *fmt = NULL;
	uint64_t cache = 0;
	unsigned depth = 1;
	bool quiet = false;
	struct vs_err err = VS_ERR_INIT;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:wc:s:o:S:qd:t:n", longs, NULL)) != -1) {
		uint64_t n = 0;
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'w': b.write = true; break;
		case 'q': quiet = true; break;
		case 't':
		case 'n': break; /* cache mode: accepted, always the host page cache */
		case 'R': b.random = true; break;
		case 'd':
		case 'c':
		case 's':
		case 'o':
		case 'S':
		case 'I':
		case 'P':
		case 'C':
			if (img_parse_num(optarg, &n, &err) < 0)
				return img_fail(&err);
			if (c == 'd') {
				if (n < 1 || n > DISK_BENCH_MAX_DEPTH)
					return img_failf("bench: queue depth must be 1-%u",
							 DISK_BENCH_MAX_DEPTH);
				depth = (unsigned)n;
			} else if (c == 'c')
				b.count = n;
			else if (c == 's')
				b.buffer_size = n;
			else if (c == 'o')
				b.offset = n;
			else if (c == 'S')
				b.step = n;
			else if (c == 'I')
				b.flush_interval = n;
			else if (c == 'P')
				b.pattern = (uint8_t)n;
			else
				cache = n;
			break;
		default:
			return img_failf("usage: vessel-img %s",
					 "bench [-w] [-d DEPTH] [-c N] [-s SIZE] FILE");
		}
	}
	if (optind >= argc)
		return img_failf("bench: missing FILE");
	if (depth > 1 && b.write)
		return img_failf("bench: -d above 1 is for reads only (one read-only handle per "
				 "request in flight)");
	struct disk_open_options o = { .flags = b.write ? 0 : DISK_OPEN_RDONLY,
				       .format = fmt,
				       .l2_cache_bytes = cache };
	struct disk_image **imgs = calloc(depth, sizeof(*imgs));
	if (!imgs)
		return img_failf("bench: out of memory");
	int r = 0;
	for (unsigned i = 0; i < depth && r == 0; i++)
		if (!(imgs[i] = disk_image_open(argv[optind], &o, &err)))
			r = -1;
	if (r == 0 && !quiet)
		printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %u in parallel, "
		       "offset %" PRIu64 "\n",
		       b.count, b.write ? "write" : "read", b.buffer_size, depth, b.offset);
	struct disk_bench_result res;
	if (r == 0)
		r = disk_image_bench_parallel(imgs, depth, &b, &res, &err);
	for (unsigned i = 0; i < depth; i++)
		if (imgs[i])
			disk_image_close(imgs[i]);
	free(imgs);
	if (r < 0)
		return img_fail(&err);
	printf("Run completed in %.3f seconds.\n", (double)res.elapsed_ns / 1e9);
	return 0;
}
