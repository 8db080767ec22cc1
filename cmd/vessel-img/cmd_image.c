/*
 * cmd_image.c - vessel-img create, info, resize, map and snapshot.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vessel/core/util.h"

#include "vessel-img.h"

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static int parse_prealloc(const char *v, enum disk_prealloc *p)
{
	if (!strcmp(v, "off"))
		*p = DISK_PREALLOC_OFF;
	else if (!strcmp(v, "metadata"))
		*p = DISK_PREALLOC_METADATA;
	else if (!strcmp(v, "falloc") || !strcmp(v, "full"))
		*p = DISK_PREALLOC_FALLOC;
	else
		return -1;
	return 0;
}

/* -o key=value[,key=value...] shared by create and convert. */
static int parse_create_opts(char *s, struct disk_create_options *o, struct vs_err *err)
{
	for (char *save = NULL, *kv = strtok_r(s, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (!v)
			return vs_errf(err, EINVAL, "option '%s' needs a value", kv);
		*v++ = '\0';
		uint64_t n;
		bool b;
		if (!strcmp(kv, "cluster_size")) {
			if (vs_parse_size(v, &n, err) < 0)
				return -EINVAL;
			if (n > UINT32_MAX)
				return vs_errf(err, EINVAL, "cluster size %s too large", v);
			o->cluster_size = (uint32_t)n;
		} else if (!strcmp(kv, "compat")) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				o->compat_v2 = true;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				o->compat_v2 = false;
			else
				return vs_errf(err, EINVAL, "compat must be 0.10 or 1.1");
		} else if (!strcmp(kv, "extended_l2")) {
			if (!parse_bool(v, &b))
				return vs_errf(err, EINVAL, "extended_l2 must be on or off");
			o->extended_l2 = b;
		} else if (!strcmp(kv, "compression_type")) {
			if (!strcmp(v, "zlib"))
				o->compress = DISK_COMPRESSION_ZLIB;
			else if (!strcmp(v, "zstd"))
				o->compress = DISK_COMPRESSION_ZSTD;
			else
				return vs_errf(err, EINVAL,
					       "compression_type must be zlib or zstd");
		} else if (!strcmp(kv, "refcount_bits")) {
			if (vs_parse_u64(v, &n, err) < 0 || n > 64)
				return vs_errf(err, EINVAL, "invalid refcount_bits '%s'", v);
			o->refcount_bits = (unsigned)n;
		} else if (!strcmp(kv, "preallocation")) {
			if (parse_prealloc(v, &o->prealloc) < 0)
				return vs_errf(err, EINVAL,
					       "preallocation must be off, metadata or "
					       "falloc");
		} else if (!strcmp(kv, "backing_file")) {
			o->backing_file = v;
		} else if (!strcmp(kv, "backing_fmt")) {
			o->backing_format = v;
		} else if (!strcmp(kv, "lazy_refcounts")) {
			if (!parse_bool(v, &b) || b)
				return vs_errf(err, ENOTSUP, "lazy refcounts are not supported");
		} else {
			return vs_errf(err, EINVAL, "unknown option '%s'", kv);
		}
	}
	return 0;
}

int img_parse_create_opts(char *s, struct disk_create_options *o, struct vs_err *err);
int img_parse_create_opts(char *s, struct disk_create_options *o, struct vs_err *err)
{
	return parse_create_opts(s, o, err);
}

int cmd_create(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "preallocation", required_argument, NULL, 'P' },
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "cluster-size", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_create_options o = { .format = "qcow2" };
	struct vs_err err = VS_ERR_INIT;
	bool quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:b:F:qu", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o.format = optarg; break;
		case 'o':
			if (parse_create_opts(optarg, &o, &err) < 0)
				return img_fail(&err);
			break;
		case 'b': o.backing_file = optarg; break;
		case 'F': o.backing_format = optarg; break;
		case 'P':
			if (parse_prealloc(optarg, &o.prealloc) < 0)
				return img_failf("preallocation must be off, metadata or falloc");
			break;
		case 'C': {
			uint64_t n;
			if (vs_parse_size(optarg, &n, &err) < 0)
				return img_fail(&err);
			o.cluster_size = (uint32_t)n;
			break;
		}
		case 'q': quiet = true; break;
		case 'u': break;
		default: return img_failf("usage: vessel-img %s", img_commands[0].usage);
		}
	}
	if (optind >= argc)
		return img_failf("create: missing FILE");
	const char *path = argv[optind++];
	if (optind < argc && vs_parse_size(argv[optind], &o.size, &err) < 0)
		return img_fail(&err);
	if (optind >= argc && !o.backing_file)
		return img_failf("create: missing SIZE");
	if (disk_image_create(path, &o, &err) < 0)
		return img_fail(&err);
	if (!quiet)
		printf("Formatting '%s', fmt=%s size=%" PRIu64 "\n", path, o.format, o.size);
	return 0;
}

static const char *find_file(int argc, char **argv)
{
	return optind < argc ? argv[optind] : NULL;
}

/*
 * The options info and map share: [-f FMT] [--json | --output json|human]
 * FILE; `shorts` says which short options the command takes (info also
 * accepts qemu-img's -U, which changes nothing here).  Returns 0, or the
 * exit status after a usage error.
 */
struct query_opts {
	const char *fmt, *path;
	bool json;
};

static int parse_query(int argc, char **argv, const char *cmd, const char *shorts,
		       const char *usage, struct query_opts *q)
{
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	*q = (struct query_opts){ 0 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		switch (c) {
		case 'f': q->fmt = optarg; break;
		case 'j': q->json = true; break;
		case 'O': q->json = !strcmp(optarg, "json"); break;
		case 'U': break;
		default: return img_failf("usage: vessel-img %s", usage);
		}
	}
	q->path = find_file(argc, argv);
	return q->path ? 0 : img_failf("%s: missing FILE", cmd);
}

int cmd_info(int argc, char **argv)
{
	struct query_opts q;
	int st = parse_query(argc, argv, "info", "f:U", "info [-f fmt] [--json] FILE", &q);
	if (st)
		return st;
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(q.path, q.fmt, false, true, &err);
	if (!img)
		return img_fail(&err);
	struct disk_info info;
	if (disk_image_info(img, &info, &err) < 0) {
		disk_image_close(img);
		return img_fail(&err);
	}
	struct disk_snapshot_info snaps[DISK_MAX_SNAPSHOTS_INFO];
	int nsnap = 0;
	if (info.version)
		nsnap = disk_snapshot_list(img, snaps, DISK_MAX_SNAPSHOTS_INFO, &err);
	if (nsnap < 0)
		nsnap = 0;
	if (nsnap > DISK_MAX_SNAPSHOTS_INFO)
		nsnap = DISK_MAX_SNAPSHOTS_INFO;
	disk_image_close(img);
	if (q.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "filename", json_object_new_string(q.path));
		json_object_object_add(o, "format", json_object_new_string(info.format));
		json_object_object_add(o, "virtual-size",
				       json_object_new_int64((int64_t)info.virtual_size));
		json_object_object_add(o, "actual-size",
				       json_object_new_int64((int64_t)info.actual_size));
		if (info.cluster_size && info.version)
			json_object_object_add(o, "cluster-size",
					       json_object_new_int64(info.cluster_size));
		if (info.backing_file[0])
			json_object_object_add(o, "backing-filename",
					       json_object_new_string(info.backing_file));
		if (info.backing_format[0])
			json_object_object_add(o, "backing-filename-format",
					       json_object_new_string(info.backing_format));
		json_object_object_add(o, "dirty-flag", json_object_new_boolean(false));
		if (info.version) {
			json_object *s = json_object_new_array();
			for (int i = 0; i < nsnap; i++) {
				json_object *e = json_object_new_object();
				json_object_object_add(e, "id",
						       json_object_new_string(snaps[i].id));
				json_object_object_add(e, "name",
						       json_object_new_string(snaps[i].name));
				json_object_object_add(
				    e, "vm-state-size",
				    json_object_new_int64((int64_t)snaps[i].vm_state_size));
				json_object_object_add(e, "date-sec",
						       json_object_new_int64(snaps[i].date_sec));
				json_object_object_add(e, "date-nsec",
						       json_object_new_int64(snaps[i].date_nsec));
				json_object_array_add(s, e);
			}
			if (nsnap)
				json_object_object_add(o, "snapshots", s);
			else
				json_object_put(s);
			json_object *fs = json_object_new_object();
			json_object *d = json_object_new_object();
			json_object_object_add(fs, "type", json_object_new_string("qcow2"));
			json_object_object_add(
			    d, "compat",
			    json_object_new_string(info.version == 2 ? "0.10" : "1.1"));
			if (info.compression)
				json_object_object_add(d, "compression-type",
						       json_object_new_string(info.compression));
			json_object_object_add(d, "lazy-refcounts",
					       json_object_new_boolean(info.lazy_refcounts));
			json_object_object_add(d, "refcount-bits",
					       json_object_new_int((int)info.refcount_bits));
			json_object_object_add(d, "corrupt", json_object_new_boolean(info.corrupt));
			json_object_object_add(d, "extended-l2",
					       json_object_new_boolean(info.extended_l2));
			json_object_object_add(fs, "data", d);
			json_object_object_add(o, "format-specific", fs);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_SPACED));
		json_object_put(o);
		return 0;
	}
	char a[32], b[32];
	printf("image: %s\n", q.path);
	printf("file format: %s\n", info.format);
	printf("virtual size: %s (%" PRIu64 " bytes)\n",
	       vs_format_size(info.virtual_size, a, sizeof(a)), info.virtual_size);
	printf("disk size: %s\n", vs_format_size(info.actual_size, b, sizeof(b)));
	if (info.version)
		printf("cluster_size: %" PRIu32 "\n", info.cluster_size);
	if (info.backing_file[0])
		printf("backing file: %s\n", info.backing_file);
	if (info.backing_format[0])
		printf("backing file format: %s\n", info.backing_format);
	if (nsnap) {
		printf("Snapshot list:\n%-10s%-20s%s\n", "ID", "TAG", "DATE");
		for (int i = 0; i < nsnap; i++) {
			time_t t = snaps[i].date_sec;
			struct tm tm;
			char date[32];
			localtime_r(&t, &tm);
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%-10s%-20s%s\n", snaps[i].id, snaps[i].name, date);
		}
	}
	if (info.version) {
		printf("Format specific information:\n");
		printf("    compat: %s\n", info.version == 2 ? "0.10" : "1.1");
		if (info.compression)
			printf("    compression type: %s\n", info.compression);
		printf("    lazy refcounts: %s\n", info.lazy_refcounts ? "true" : "false");
		printf("    refcount bits: %u\n", info.refcount_bits);
		printf("    corrupt: %s\n", info.corrupt ? "true" : "false");
		printf("    extended l2: %s\n", info.extended_l2 ? "true" : "false");
	}
	return 0;
}

int cmd_resize(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "shrink", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	bool shrink = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:q", longs, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 's': shrink = true; break;
		case 'q': break;
		default: return img_failf("usage: vessel-img resize [--shrink] FILE [+|-]SIZE");
		}
	}
	if (argc - optind != 2)
		return img_failf("usage: vessel-img resize [--shrink] FILE [+|-]SIZE");
	const char *path = argv[optind], *arg = argv[optind + 1];
	struct vs_err err = VS_ERR_INIT;
	int rel = arg[0] == '+' ? 1 : arg[0] == '-' ? -1 : 0;
	uint64_t n;
	if (vs_parse_size(rel ? arg + 1 : arg, &n, &err) < 0)
		return img_fail(&err);
	struct disk_image *img = img_open(path, fmt, true, true, &err);
	if (!img)
		return img_fail(&err);
	uint64_t cur = disk_image_size(img), size = n;
	if (rel > 0)
		size = cur + n;
	else if (rel < 0) {
		if (n > cur) {
			disk_image_close(img);
			return img_failf("resize: cannot shrink below zero");
		}
		size = cur - n;
	}
	int r = disk_image_resize(img, size, shrink, &err);
	disk_image_close(img);
	if (r < 0)
		return img_fail(&err);
	printf("Image resized.\n");
	return 0;
}

int cmd_map(int argc, char **argv)
{
	struct query_opts q;
	int st = parse_query(argc, argv, "map", "f:", "map [--json] FILE", &q);
	if (st)
		return st;
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(q.path, q.fmt, false, false, &err);
	if (!img)
		return img_fail(&err);
	uint64_t size = disk_image_size(img), off = 0;
	struct disk_extent cur = { 0 };
	bool have = false;
	int r = 0;
	if (q.json)
		printf("[");
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	bool first = true;
	for (;;) {
		struct disk_extent e;
		bool done = off >= size;
		if (!done && (r = disk_image_block_status(img, off, size - off, &e, &err)) < 0)
			break;
		bool merge = !done && have && e.flags == cur.flags && e.depth == cur.depth &&
			     e.present == cur.present &&
			     (!(e.flags & DISK_EXTENT_OFFSET) ||
			      e.host_offset == cur.host_offset + cur.length);
		if (merge) {
			cur.length += e.length;
		} else {
			if (have) {
				bool data = cur.flags & DISK_EXTENT_DATA;
				bool zero = cur.flags & DISK_EXTENT_ZERO;
				if (q.json) {
					printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
					       ", \"depth\": %d, \"present\": %s, \"zero\": %s, "
					       "\"data\": %s",
					       first ? "" : ",\n", cur.start, cur.length, cur.depth,
					       cur.present ? "true" : "false",
					       zero ? "true" : "false", data ? "true" : "false");
					if (cur.flags & DISK_EXTENT_OFFSET)
						printf(", \"offset\": %" PRIu64, cur.host_offset);
					printf("}");
					first = false;
				} else if (data && (cur.flags & DISK_EXTENT_OFFSET)) {
					printf("0x%-14" PRIx64 "0x%-14" PRIx64 "0x%-14" PRIx64
					       "%s\n",
					       cur.start, cur.length, cur.host_offset, q.path);
				}
			}
			if (done)
				break;
			cur = e;
			have = true;
		}
		off += e.length;
	}
	if (q.json && r == 0)
		printf("]\n");
	disk_image_close(img);
	return r < 0 ? img_fail(&err) : 0;
}

int cmd_snapshot(int argc, char **argv)
{
	char op = 0;
	const char *name = NULL;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "lc:a:d:qU")) != -1) {
		switch (c) {
		case 'l': op = 'l'; break;
		case 'c':
		case 'a':
		case 'd':
			op = (char)c;
			name = optarg;
			break;
		case 'q':
		case 'U': break;
		default: return img_failf("usage: vessel-img snapshot -l|-c|-a|-d NAME FILE");
		}
	}
	const char *path = find_file(argc, argv);
	if (!path || !op)
		return img_failf("usage: vessel-img snapshot -l|-c|-a|-d NAME FILE");
	struct vs_err err = VS_ERR_INIT;
	struct disk_image *img = img_open(path, NULL, op != 'l', true, &err);
	if (!img)
		return img_fail(&err);
	int r = 0;
	if (op == 'l') {
		struct disk_snapshot_info *s = calloc(65536, sizeof(*s));
		if (!s) {
			disk_image_close(img);
			return img_failf("out of memory");
		}
		r = disk_snapshot_list(img, s, 65536, &err);
		if (r > 0) {
			printf("Snapshot list:\n%-10s%-20s%12s %-20s%s\n", "ID", "TAG", "VM SIZE",
			       "DATE", "VM CLOCK");
			for (int i = 0; i < r; i++) {
				time_t t = s[i].date_sec;
				struct tm tm;
				char date[32];
				localtime_r(&t, &tm);
				strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
				printf("%-10s%-20s%12" PRIu64 " %-20s%" PRIu64 "\n", s[i].id,
				       s[i].name, s[i].vm_state_size, date, s[i].vm_clock_nsec);
			}
		}
		free(s);
	} else if (op == 'c') {
		r = disk_snapshot_create(img, name, &err);
	} else if (op == 'a') {
		r = disk_snapshot_apply(img, name, &err);
	} else {
		r = disk_snapshot_delete(img, name, &err);
	}
	if (r >= 0 && op != 'l')
		r = disk_image_flush(img, &err);
	disk_image_close(img);
	return r < 0 ? img_fail(&err) : 0;
}
