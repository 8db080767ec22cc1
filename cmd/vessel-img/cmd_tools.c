/*
 * cmd_tools.c - vessel-img check, convert, commit and rebase.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/util.h"

#include "vessel-img.h"

int img_parse_create_opts(char *s, struct disk_create_options *o, struct vs_err *err);

int cmd_check(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "repair", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	enum disk_repair repair = DISK_REPAIR_NONE;
	bool json = false, quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:r:qU", longs, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				repair = DISK_REPAIR_LEAKS;
			else if (!strcmp(optarg, "all"))
				repair = DISK_REPAIR_ALL;
			else
				return img_failf("check: --repair takes leaks or all");
			break;
		case 'j': json = true; break;
		case 'O': json = !strcmp(optarg, "json"); break;
		case 'q': quiet = true; break;
		case 'U': break;
		default: return img_failf("usage: vessel-img check [-r leaks|all] [--json] FILE");
		}
	}
	if (optind >= argc)
		return img_failf("check: missing FILE");
	const char *path = argv[optind];
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(path, fmt, repair != DISK_REPAIR_NONE, true, &err);
	if (!img)
		return img_fail(&err);
	struct disk_check_result res;
	int r = disk_image_check(img, repair, &res, &err);
	disk_image_close(img);
	if (r < 0)
		return img_fail(&err);
	if (json) {
		printf("{\n    \"image-end-offset\": %" PRIu64 ",\n    \"total-clusters\": %" PRIu64
		       ",\n    \"check-errors\": 0,\n    \"leaks\": %" PRIu64
		       ",\n    \"corruptions\": %" PRIu64 ",\n    \"leaks-fixed\": %" PRIu64
		       ",\n    \"corruptions-fixed\": %" PRIu64
		       ",\n    \"allocated-clusters\": %" PRIu64 ",\n    \"filename\": \"%s\",\n"
		       "    \"format\": \"qcow2\"\n}\n",
		       res.image_end_offset, res.total_clusters, res.leaks, res.corruptions,
		       res.leaks_fixed, res.corruptions_fixed, res.allocated_clusters, path);
	} else if (!quiet) {
		if (res.leaks_fixed || res.corruptions_fixed)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n",
			       res.leaks_fixed, res.corruptions_fixed);
		if (res.corruptions)
			printf("\n%" PRIu64
			       " errors were found on the image.\nData may be corrupted, "
			       "or further writes to the image may corrupt it.\n(first: %s)\n",
			       res.corruptions, res.first_problem);
		if (res.leaks)
			printf("\n%" PRIu64 " leaked clusters were found on the image.\nThis means "
			       "waste of disk space, but no harm to data.\n",
			       res.leaks);
		if (!res.corruptions && !res.leaks)
			printf("No errors were found on the image.\n");
		if (res.total_clusters)
			printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated\n",
			       res.allocated_clusters, res.total_clusters,
			       100.0 * (double)res.allocated_clusters / (double)res.total_clusters);
		printf("Image end offset: %" PRIu64 "\n", res.image_end_offset);
	}
	if (res.corruptions)
		return 2;
	if (res.leaks)
		return 3;
	return 0;
}

int cmd_convert(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "compress", required_argument, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	struct disk_convert_options o = { .out_format = "qcow2" };
	struct disk_create_options co = { 0 };
	struct vs_err err = VS_ERR_INIT;
	bool have_ct = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:O:co:pqU", longs, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'O': o.out_format = optarg; break;
		case 'c': o.compress = true; break;
		case 'Z':
			o.compress = true;
			have_ct = true;
			if (!strcmp(optarg, "zlib"))
				o.compression = DISK_COMPRESSION_ZLIB;
			else if (!strcmp(optarg, "zstd"))
				o.compression = DISK_COMPRESSION_ZSTD;
			else
				return img_failf("convert: --compress takes zlib or zstd");
			break;
		case 'o':
			if (img_parse_create_opts(optarg, &co, &err) < 0)
				return img_fail(&err);
			break;
		case 'p':
		case 'q':
		case 'U': break;
		default: return img_failf("usage: vessel-img convert [-O fmt] [-c] SRC DST");
		}
	}
	if (argc - optind != 2)
		return img_failf("usage: vessel-img convert [-O fmt] [-c] SRC DST");
	o.cluster_size = co.cluster_size;
	o.compat_v2 = co.compat_v2;
	o.extended_l2 = co.extended_l2;
	if (!have_ct)
		o.compression = co.compress;
	struct disk_image *src = img_open(argv[optind], fmt, false, false, &err);
	if (!src)
		return img_fail(&err);
	int r = disk_image_convert(src, argv[optind + 1], &o, &err);
	disk_image_close(src);
	return r < 0 ? img_fail(&err) : 0;
}

int cmd_commit(int argc, char **argv)
{
	const char *fmt = NULL;
	bool keep = false;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "f:dqpt:")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'd': keep = true; break;
		case 'q':
		case 'p':
		case 't': break;
		default: return img_failf("usage: vessel-img commit [-d] FILE");
		}
	}
	if (optind >= argc)
		return img_failf("commit: missing FILE");
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(argv[optind], fmt, true, false, &err);
	if (!img)
		return img_fail(&err);
	int r = disk_image_commit(img, keep, &err);
	disk_image_close(img);
	if (r < 0)
		return img_fail(&err);
	printf("Image committed.\n");
	return 0;
}

int cmd_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *backing = NULL, *bfmt = NULL;
	bool unsafe = false;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "f:ub:F:qpt:T:U")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'u': unsafe = true; break;
		case 'b': backing = optarg; break;
		case 'F': bfmt = optarg; break;
		case 'q':
		case 'p':
		case 't':
		case 'T':
		case 'U': break;
		default: return img_failf("usage: vessel-img rebase [-u] -b BACKING [-F fmt] FILE");
		}
	}
	if (optind >= argc)
		return img_failf("rebase: missing FILE");
	if (backing && !backing[0])
		backing = NULL;
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(argv[optind], fmt, true, unsafe, &err);
	if (!img)
		return img_fail(&err);
	int r = disk_image_rebase(img, backing, bfmt, unsafe, &err);
	disk_image_close(img);
	return r < 0 ? img_fail(&err) : 0;
}
