/*
 * image_busybox.c - the built-in busybox container image, made on this
 * host from Debian's static busybox (busybox-static) without any network:
 * one layer holding /bin/busybox, a symlink per applet (from
 * `busybox --list-full`), the usual top-level directories and a minimal
 * /etc/passwd and /etc/group.  It is written as a real OCI image layout
 * (tar layer gzip'd with zlib, config with its diff_id, manifest, index)
 * and imported through the ordinary OCI path, so it is content-addressed
 * like any other image and the import code is exercised at every start.
 *
 * The default command keeps the container up until it is stopped: a shell
 * as PID 1 that exits cleanly on SIGTERM (PID 1 ignores signals it has no
 * handler for, so `trap` is what makes a clean stop possible).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/image.h"

#define BUSYBOX_CMD "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\nnogroup:x:65534:\n";

static int add_entry(struct archive *a, const char *path, mode_t type, mode_t perm,
		     const char *link, const void *data, size_t len, struct vs_err *err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return vs_errf(err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, 0, 0);
	if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
	int r = 0;
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		r = vs_errf(err, EIO, "busybox image: %s: %s", path, archive_error_string(a));
	archive_entry_free(e);
	return r;
}

/* The layer as an uncompressed tar in memory. */
static int build_tar(const char *busybox, char **tar, size_t *tar_len, struct vs_err *err)
{
	vs_cleanup_free char *bin = NULL;
	size_t bin_len;
	int r = vs_read_file(busybox, &bin, &bin_len, 64u << 20, err);
	if (r < 0)
		return r;
	char *argv[] = { (char *)busybox, "--list-full", NULL };
	struct mgr_run run;
	if ((r = mgr_run(argv, NULL, 0, 1 << 20, &run, err)) < 0)
		return r;
	if (run.status != 0 || !run.out) {
		mgr_run_free(&run);
		return vs_errf(err, EINVAL, "%s --list-full failed: is it busybox?", busybox);
	}
	size_t cap = bin_len + (1u << 20) + run.out_len * 8;
	char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	size_t used = 0;
	if (!buf || !a) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK) {
		r = vs_errf(err, EIO, "busybox image: %s", archive_error_string(a));
		goto out;
	}
	static const char *const dirs[] = { "bin",  "dev",     "etc",	   "home", "proc",
					    "root", "run",     "sbin",	   "sys",  "tmp",
					    "usr",  "usr/bin", "usr/sbin", "var",  "var/tmp" };
	for (size_t i = 0; i < VS_ARRAY_SIZE(dirs) && r == 0; i++) {
		mode_t perm = strcmp(dirs[i], "tmp") == 0 || strcmp(dirs[i], "var/tmp") == 0 ? 01777
			      : strcmp(dirs[i], "root") == 0				     ? 0700
											     : 0755;
		r = add_entry(a, dirs[i], AE_IFDIR, perm, NULL, NULL, 0, err);
	}
	if (r == 0)
		r = add_entry(a, "bin/busybox", AE_IFREG, 0755, NULL, bin, bin_len, err);
	if (r == 0)
		r = add_entry(a, "etc/passwd", AE_IFREG, 0644, NULL, passwd, strlen(passwd), err);
	if (r == 0)
		r = add_entry(a, "etc/group", AE_IFREG, 0644, NULL, group, strlen(group), err);
	for (char *save = NULL, *line = strtok_r(run.out, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		while (*line == '/')
			line++;
		if (!*line || strstr(line, "..") || strcmp(line, "bin/busybox") == 0)
			continue;
		r = add_entry(a, line, AE_IFLNK, 0777, "/bin/busybox", NULL, 0, err);
	}
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = vs_errf(err, EIO, "busybox image: %s", archive_error_string(a));
out:
	if (a)
		archive_write_free(a);
	mgr_run_free(&run);
	if (r < 0) {
		free(buf);
		return r;
	}
	*tar = buf;
	*tar_len = used;
	return 0;
}

/* gzip buf into path; hex/size of the compressed file. */
static int write_gzip(const char *path, const char *buf, size_t len, struct vs_err *err)
{
	z_stream z = { 0 };
	if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return vs_errf(err, EIO, "deflateInit2 failed");
	size_t cap = deflateBound(&z, len);
	vs_cleanup_free unsigned char *out = malloc(cap);
	if (!out) {
		deflateEnd(&z);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	z.next_in = (unsigned char *)buf;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int zr = deflate(&z, Z_FINISH);
	size_t n = z.total_out;
	deflateEnd(&z);
	if (zr != Z_STREAM_END)
		return vs_errf(err, EIO, "gzip of the busybox layer failed");
	return vs_write_file_atomic(path, out, n, err);
}

/* Write a JSON blob; its digest into hex and its size into *size. */
static int write_blob(const char *layout, struct json_object *o, char hex[65], size_t *size,
		      struct vs_err *err)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	*size = strlen(text);
	mgr_sha256_buf(text, *size, hex);
	vs_cleanup_free char *p = NULL;
	if (asprintf(&p, "%s/blobs/sha256/%s", layout, hex) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	return vs_write_file_atomic(p, text, *size, err);
}

static struct json_object *descriptor(const char *mt, const char *hex, size_t size)
{
	char d[80];
	snprintf(d, sizeof(d), "sha256:%s", hex);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "mediaType", json_object_new_string(mt));
	json_object_object_add(o, "digest", json_object_new_string(d));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	return o;
}

static struct json_object *str_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static int write_layout(const char *layout, const char *busybox, struct vs_err *err)
{
	vs_cleanup_free char *blobs = NULL, *tar = NULL, *tmp_layer = NULL;
	if (asprintf(&blobs, "%s/blobs/sha256", layout) < 0 ||
	    asprintf(&tmp_layer, "%s/layer.tar.gz", layout) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = mgr_mkdir_p(blobs, 0755, err);
	size_t tar_len = 0;
	if (r == 0)
		r = build_tar(busybox, &tar, &tar_len, err);
	if (r == 0)
		r = write_gzip(tmp_layer, tar, tar_len, err);
	if (r < 0)
		return r;
	char diff_id[65], layer_hex[65];
	mgr_sha256_buf(tar, tar_len, diff_id);
	uint64_t layer_size;
	if ((r = mgr_sha256_file(tmp_layer, layer_hex, &layer_size, err)) < 0)
		return r;
	vs_cleanup_free char *layer_path = NULL;
	if (asprintf(&layer_path, "%s/%s", blobs, layer_hex) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (rename(tmp_layer, layer_path) < 0)
		return vs_syserrf(err, errno, "rename %s", layer_path);

	static const char *const env[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	};
	static const char *const cmd[] = { "/bin/sh", "-c", BUSYBOX_CMD };
	char did[80];
	snprintf(did, sizeof(did), "sha256:%s", diff_id);
	struct json_object *cfg = json_object_new_object(), *c = json_object_new_object(),
			   *rootfs = json_object_new_object();
	json_object_object_add(cfg, "architecture", json_object_new_string("amd64"));
	json_object_object_add(cfg, "os", json_object_new_string("linux"));
	json_object_object_add(c, "Env", str_array(env, 1));
	json_object_object_add(c, "Cmd", str_array(cmd, 3));
	json_object_object_add(c, "WorkingDir", json_object_new_string("/"));
	json_object_object_add(cfg, "config", c);
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	const char *dids[] = { did };
	json_object_object_add(rootfs, "diff_ids", str_array(dids, 1));
	json_object_object_add(cfg, "rootfs", rootfs);
#if !defined(__x86_64__)
	json_object_object_add(cfg, "architecture", json_object_new_string("unknown"));
#endif
	char cfg_hex[65], man_hex[65];
	size_t cfg_size, man_size;
	r = write_blob(layout, cfg, cfg_hex, &cfg_size, err);
	json_object_put(cfg);
	if (r < 0)
		return r;
	struct json_object *man = json_object_new_object(), *layers = json_object_new_array();
	json_object_object_add(man, "schemaVersion", json_object_new_int(2));
	json_object_object_add(
	    man, "mediaType", json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_object_add(
	    man, "config",
	    descriptor("application/vnd.oci.image.config.v1+json", cfg_hex, cfg_size));
	json_object_array_add(layers, descriptor("application/vnd.oci.image.layer.v1.tar+gzip",
						 layer_hex, (size_t)layer_size));
	json_object_object_add(man, "layers", layers);
	r = write_blob(layout, man, man_hex, &man_size, err);
	json_object_put(man);
	if (r < 0)
		return r;
	struct json_object *index = json_object_new_object(), *mans = json_object_new_array();
	json_object_object_add(index, "schemaVersion", json_object_new_int(2));
	json_object_array_add(
	    mans, descriptor("application/vnd.oci.image.manifest.v1+json", man_hex, man_size));
	json_object_object_add(index, "manifests", mans);
	const char *text = json_object_to_json_string_ext(index, JSON_C_TO_STRING_PLAIN);
	vs_cleanup_free char *ip = NULL, *lp = NULL;
	if (asprintf(&ip, "%s/index.json", layout) < 0 ||
	    asprintf(&lp, "%s/oci-layout", layout) < 0) {
		json_object_put(index);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	r = vs_write_file_atomic(ip, text, strlen(text), err);
	json_object_put(index);
	static const char ol[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if (r == 0)
		r = vs_write_file_atomic(lp, ol, strlen(ol), err);
	return r;
}

int mgr_image_import_busybox(struct mgr_image_store *s, const char *busybox_path, const char *alias,
			     char *fingerprint, struct vs_err *err)
{
	vs_cleanup_free char *layout = mgr_image_tmpdir(s, err);
	if (!layout)
		return -err->code;
	int r = write_layout(layout, busybox_path, err);
	if (r == 0)
		r = mgr_image_import_oci(s, layout, alias, NULL, fingerprint, err);
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(layout, &e2);
	return r < 0 ? vs_err_prefix(err, "built-in busybox image") : 0;
}
