/*
 * export.c - writing an instance as one file (export.h,
 * docs/export-format.md).
 *
 * mgr_export_begin() holds the instance's busy mark only while it copies
 * the instance's storage into a private directory under images/tmp (`cp -a
 * --reflink=auto`, the container frozen meanwhile if it runs, as a
 * snapshot is taken): the stream that follows may be as slow as the
 * client reading it without holding the instance.  mgr_export_write()
 * walks the copy with libarchive's disk reader (owners, modes, xattrs such
 * as trusted.overlay.*, whiteout device nodes, hard links) into a pax tar
 * compressed with zstd, hashing each member as it goes, and ends with the
 * list of digests.  The instance's storage volumes are copied with it
 * (format version 2: volumes/NAME.raw or .qcow2, with --snapshots their
 * snapshots), each a clean filesystem (a running container's frozen with
 * FIFREEZE while copied).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export_member.h"
#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/mgr/export.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/volume.h"

struct mgr_export {
	struct mgr *m;
	bool vm;       /* a VM: vm/disk.qcow2 instead of rootfs/ */
	bool stateful; /* a VM's disk holding its running state (savevm) */
	char *dir;     /* the copy: rootfs/, snapshots/SNAP/rootfs/ */
	struct json_object *meta;
	char **snaps;
	size_t nsnaps;
	bool volumes; /* volumes/ in the copy */
};

void mgr_export_free(struct mgr_export *x)
{
	if (!x)
		return;
	if (x->dir) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(x->dir, &e);
	}
	free(x->dir);
	json_object_put(x->meta);
	for (size_t i = 0; i < x->nsnaps; i++)
		free(x->snaps[i]);
	free(x->snaps);
	free(x);
}

static int copy_tree(const char *from, const char *to, struct vs_err *err)
{
	char *argv[] = { "/bin/cp", "-a", "--reflink=auto", "--", (char *)from, (char *)to, NULL };
	struct mgr_run run;
	int r = mgr_run(argv, NULL, 0, 8192, &run, err);
	if (r == 0 && run.status != 0) {
		const char *msg = run.err ? run.err : "failed";
		r = vs_errf(err, EIO, "copy %s: %.*s", from, (int)strcspn(msg, "\n"), msg);
	}
	mgr_run_free(&run);
	return r;
}

/* The copy of a container's layer and snapshots (the instance is busy). */
static int copy_container(struct mgr_export *x, const struct mgr_instance *inst, struct vs_err *err)
{
	struct mgr *m = x->m;
	vs_cleanup_free char *upper = NULL, *dst = NULL;
	if (asprintf(&upper, "%s/%s/upper", m->ct_dir, inst->runtime_id) < 0 ||
	    asprintf(&dst, "%s/rootfs", x->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	const struct mgr_driver *d = mgr_driver_for(inst->type, err);
	if (!d)
		return -err->code;
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid = 0;
	struct vs_err e2 = VS_ERR_INIT;
	if (d->state(m, inst, &p, &pid, &e2) < 0)
		p = MGR_POWER_STOPPED;
	int r = 0;
	bool thaw = false;
	if (p == MGR_POWER_RUNNING) {
		if ((r = d->freeze(m, inst, true, err)) < 0)
			return r;
		thaw = true;
	}
	r = copy_tree(upper, dst, err);
	if (thaw) {
		struct vs_err e3 = VS_ERR_INIT;
		if (d->freeze(m, inst, false, r < 0 ? &e3 : err) < 0 && r == 0)
			r = -err->code;
	}
	if (r < 0 || !x->nsnaps)
		return r;
	vs_cleanup_free char *sdir = NULL;
	if (asprintf(&sdir, "%s/snapshots", x->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = mgr_mkdir_p(sdir, 0700, err)) < 0)
		return r;
	for (size_t i = 0; i < x->nsnaps && r == 0; i++) {
		vs_cleanup_free char *src = NULL, *to = NULL, *sd = NULL;
		if (asprintf(&src, "%s/%s/snapshots/%s/upper", m->ct_dir, inst->runtime_id,
			     x->snaps[i]) < 0 ||
		    asprintf(&sd, "%s/%s", sdir, x->snaps[i]) < 0 ||
		    asprintf(&to, "%s/rootfs", sd) < 0)
			return vs_errf(err, ENOMEM, "out of memory");
		if ((r = mgr_mkdir_p(sd, 0700, err)) == 0)
			r = copy_tree(src, to, err);
	}
	return r;
}

/*
 * A stopped VM's disk (STATE/vms/ID/root.qcow2, an overlay on its image's
 * disk) as one standalone qcow2 with zstd-compressed clusters (lib/disk's
 * convert, as `vessel-img convert -c` writes it): the file carries the
 * whole disk, so the importing host needs the image only for the kernel.
 */
static int copy_vm(struct mgr_export *x, const struct mgr_instance *inst, struct vs_err *err)
{
	vs_cleanup_free char *root = NULL, *dir = NULL, *dst = NULL;
	if (asprintf(&root, "%s/vms/%s/root.qcow2", x->m->state_dir, inst->runtime_id) < 0 ||
	    asprintf(&dir, "%s/vm", x->dir) < 0 || asprintf(&dst, "%s/disk.qcow2", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = mgr_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	struct disk_open_options o = { .flags = DISK_OPEN_RDONLY };
	struct disk_image *img = disk_image_open(root, &o, err);
	if (!img)
		return -err->code;
	struct disk_convert_options c = { .out_format = "qcow2",
					  .compress = true,
					  .compression = DISK_COMPRESSION_ZSTD };
	r = disk_image_convert(img, dst, &c, err);
	disk_image_close(img);
	return r;
}

/*
 * --stateful: the running VM saves itself into its own disk (savevm: an
 * internal snapshot MGR_EXPORT_LOADVM_TAG holding the disk and the VM
 * state, written at one safe point), is stopped (cleanly: the qcow2 is
 * closed), and the disk goes into the file as it is, an overlay on the
 * image's disk with the state inside; the importing host rebases it onto
 * its copy of the image and starts it with --loadvm.
 */
static int copy_vm_stateful(struct mgr_export *x, const struct mgr_instance *inst,
			    struct vs_err *err)
{
	struct mgr *m = x->m;
	char body[96];
	snprintf(body, sizeof(body), "{\"savevm\":\"%s\"}", MGR_EXPORT_LOADVM_TAG);
	int r = mgr_vm_api_call(m, inst, "PUT", "/snapshot/create", body, err);
	if (r < 0)
		return vs_err_prefix(err, "save the running state");
	const struct mgr_driver *d = mgr_driver_for(inst->type, err);
	if (!d || (r = d->stop(m, inst, false, 60, err)) < 0)
		return d ? r : -err->code;
	struct vs_err e2 = VS_ERR_INIT;
	mgr_instance_db_set_power(m->db, inst->id, MGR_POWER_STOPPED, false, &e2);
	mgr_emit_lifecycle(m, "instance-stopped", inst->name);
	/* its next start here continues it too (a failed move starts it again) */
	vs_cleanup_free char *marker = NULL;
	if (asprintf(&marker, "%s/vms/%s/loadvm", m->state_dir, inst->runtime_id) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = vs_write_file_atomic(marker, MGR_EXPORT_LOADVM_TAG "\n",
				      strlen(MGR_EXPORT_LOADVM_TAG) + 1, err)) < 0)
		return r;
	vs_cleanup_free char *root = NULL, *dir = NULL, *dst = NULL;
	if (asprintf(&root, "%s/vms/%s/root.qcow2", m->state_dir, inst->runtime_id) < 0 ||
	    asprintf(&dir, "%s/vm", x->dir) < 0 || asprintf(&dst, "%s/disk.qcow2", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = mgr_mkdir_p(dir, 0700, err)) < 0)
		return r;
	return copy_tree(root, dst, err);
}

/*
 * The instance's storage volumes (the instance is busy): each volume's
 * file as volumes/NAME.raw or NAME.qcow2 (mgr_volume_copy_out: a reflink
 * where possible, a running container's volume frozen meanwhile), with
 * snapshots its snapshots' files as volumes/NAME.snapshots/SNAP.raw; *out
 * the metadata's "volumes" ([] when none).
 */
static int copy_volumes(struct mgr_export *x, const struct mgr_instance *inst, bool snapshots,
			struct json_object **out, struct vs_err *err)
{
	struct mgr *m = x->m;
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t n = 0;
	int r = mgr_volume_mounts(m, inst->id, &vols, &n, err);
	struct json_object *a = json_object_new_array();
	*out = a;
	if (r < 0 || n == 0)
		return r;
	vs_cleanup_free char *dir = NULL;
	if (asprintf(&dir, "%s/volumes", x->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = mgr_mkdir_p(dir, 0700, err)) < 0)
		return r;
	x->volumes = true;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct json_object *v = NULL, *o = json_object_new_object(), *f, *sz, *ca,
				   *sl = NULL;
		json_object_array_add(a, o);
		if ((r = mgr_volume_get(m, vols[i].name, &v, err)) < 0)
			break;
		json_object_object_get_ex(v, "format", &f);
		json_object_object_get_ex(v, "size", &sz);
		json_object_object_get_ex(v, "created_at", &ca);
		char fmt[8]; /* raw or qcow2 (v is released below) */
		snprintf(fmt, sizeof(fmt), "%s", json_object_get_string(f));
		json_object_object_add(o, "name", json_object_new_string(vols[i].name));
		json_object_object_add(o, "format", json_object_new_string(fmt));
		json_object_object_add(o, "size", json_object_get(sz));
		json_object_object_add(o, "created_at", json_object_get(ca));
		json_object_object_add(o, "path", json_object_new_string(vols[i].path));
		json_object_put(v);
		vs_cleanup_free char *dst = NULL, *sdir = NULL;
		if (asprintf(&dst, "%s/%s.%s", dir, vols[i].name, fmt) < 0 ||
		    asprintf(&sdir, "%s/%s.snapshots", dir, vols[i].name) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			break;
		}
		if ((r = mgr_volume_copy_out(m, vols[i].name, dst, err)) < 0)
			break;
		if (snapshots && (r = mgr_volume_snapshot_list(m, vols[i].name, &sl, err)) < 0)
			break;
		json_object_object_add(o, "snapshots", sl ? sl : json_object_new_array());
		size_t ns = sl ? json_object_array_length(sl) : 0;
		if (ns && (r = mgr_mkdir_p(sdir, 0700, err)) < 0)
			break;
		for (size_t k = 0; k < ns && r == 0; k++) {
			struct json_object *sn;
			json_object_object_get_ex(json_object_array_get_idx(sl, k), "name", &sn);
			vs_cleanup_free char *src = mgr_volume_snapshot_file(
						 m, vols[i].name, json_object_get_string(sn)),
					     *to = NULL;
			if (!src ||
			    asprintf(&to, "%s/%s.raw", sdir, json_object_get_string(sn)) < 0)
				r = vs_errf(err, ENOMEM, "out of memory");
			else
				r = mgr_file_clone(src, to, err);
		}
	}
	if (r < 0)
		vs_err_prefix(err, "storage volume");
	return r;
}

static struct json_object *meta_json(const struct mgr_instance *inst, const struct mgr_image *img,
				     struct json_object *snaps, enum mgr_power p)
{
	struct json_object *o = json_object_new_object(), *i = json_object_new_object(),
			   *cfg = json_object_new_object(), *im = json_object_new_object(),
			   *al = json_object_new_array();
	char now[32];
	mgr_timestamp(now, sizeof(now));
	json_object_object_add(o, "format", json_object_new_string(MGR_EXPORT_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(MGR_EXPORT_VERSION));
	json_object_object_add(o, "exported_at", json_object_new_string(now));
	json_object_object_add(i, "name", json_object_new_string(inst->name));
	json_object_object_add(i, "type",
			       json_object_new_string(mgr_instance_type_name(inst->type)));
	json_object_object_add(i, "created_at", json_object_new_string(inst->created_at));
	json_object_object_add(i, "status", json_object_new_string(mgr_power_status(p)));
	for (size_t k = 0; k < inst->nconfig; k++)
		json_object_object_add(cfg, inst->config[k].key,
				       json_object_new_string(inst->config[k].value));
	json_object_object_add(i, "config", cfg);
	json_object_object_add(im, "fingerprint", json_object_new_string(img->fingerprint));
	for (size_t k = 0; k < img->naliases; k++)
		json_object_array_add(al, json_object_new_string(img->aliases[k]));
	json_object_object_add(im, "aliases", al);
	json_object_object_add(i, "image", im);
	json_object_object_add(o, "instance", i);
	json_object_object_add(o, "snapshots", snaps ? snaps : json_object_new_array());
	json_object_object_add(o, "stateful", json_object_new_boolean(false));
	return o;
}

int mgr_export_begin(struct mgr *m, const char *name, const struct mgr_export_opts *opts,
		     struct mgr_export **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	struct mgr_export *x = calloc(1, sizeof(*x));
	struct json_object *snaps = NULL;
	struct mgr_image img = { 0 };
	bool have_img = false;
	if (!x) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	x->m = m;
	x->vm = inst.type == MGR_INSTANCE_VM;
	if (x->vm) {
		enum mgr_power p = MGR_POWER_STOPPED;
		pid_t pid = 0;
		if (!mgr_driver_for(inst.type, err) ||
		    mgr_instance_live(m, &inst, &p, &pid, err) < 0) {
			r = -err->code;
			goto out;
		}
		size_t nnics = 0;
		struct mgr_nic nics[4];
		if (opts->stateful && p != MGR_POWER_RUNNING)
			r = vs_errf(err, EINVAL, "export of %s: --stateful needs the VM running",
				    inst.name);
		else if (opts->stateful &&
			 (mgr_network_nics(m, inst.id, nics, 4, &nnics, err) < 0 || nnics))
			r = err->code
				? -err->code
				: vs_errf(err, ENOTSUP,
					  "export of %s: the running state of a VM with a NIC "
					  "names this host's TAP device: detach it or export "
					  "without --stateful",
					  inst.name);
		else if (!opts->stateful && p != MGR_POWER_STOPPED)
			r = vs_errf(err, EBUSY, "export of %s: the VM is running: stop it first",
				    inst.name);
		if (r < 0)
			goto out;
		/* a stateful export holds the root disk's state only: the guest
		 * writes its volumes between the save and the stop */
		size_t nvols = 0;
		struct mgr_volume_mount *vols = NULL;
		if (opts->stateful && (r = mgr_volume_mounts(m, inst.id, &vols, &nvols, err)) < 0)
			goto out;
		if (nvols)
			r = vs_errf(err, EINVAL,
				    "export of %s: --stateful with storage volumes attached (%s%s) "
				    "is not supported: the saved state holds the root disk only; "
				    "stop the VM and export it without --stateful, or detach them",
				    inst.name, vols[0].name, nvols > 1 ? ", ..." : "");
		free(vols);
		if (r < 0)
			goto out;
		/* with --snapshots: its volumes' snapshots; its own live inside
		 * its qcow2 and do not go into the file */
		if (opts->snapshots) {
			if ((r = mgr_snapshot_list(m, inst.name, &snaps, err)) < 0)
				goto out;
			size_t ns = json_object_array_length(snaps);
			json_object_put(snaps);
			snaps = NULL;
			if (ns) {
				r = vs_errf(err, EINVAL,
					    "export of %s: the VM has %zu snapshot(s), which live "
					    "inside its disk and are not exported: delete them, or "
					    "export (copy) without --snapshots",
					    inst.name, ns);
				goto out;
			}
		}
	} else if (opts->stateful) {
		r = vs_errf(err, ENOTSUP,
			    "export of %s: a container's running state cannot be saved here "
			    "(CRIU 3.17 cannot checkpoint on this kernel); export it without "
			    "--stateful",
			    inst.name);
		goto out;
	}
	if ((r = mgr_image_get_by_id(&m->images, inst.image_id, &img, err)) < 0)
		goto out;
	have_img = true;
	if (opts->snapshots && !x->vm) {
		if ((r = mgr_snapshot_list(m, inst.name, &snaps, err)) < 0)
			goto out;
		size_t n = json_object_array_length(snaps);
		if (n && !(x->snaps = calloc(n, sizeof(*x->snaps)))) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *s = json_object_array_get_idx(snaps, i), *nm;
			json_object_object_get_ex(s, "name", &nm);
			if (!(x->snaps[x->nsnaps++] = strdup(json_object_get_string(nm)))) {
				r = vs_errf(err, ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (!(x->dir = mgr_image_tmpdir(&m->images, err))) {
		r = -err->code;
		goto out;
	}
	x->stateful = x->vm && opts->stateful;
	if ((r = x->stateful ? copy_vm_stateful(x, &inst, err)
		 : x->vm     ? copy_vm(x, &inst, err)
			     : copy_container(x, &inst, err)) < 0)
		goto out;
	struct json_object *vmeta = NULL;
	r = copy_volumes(x, &inst, opts->snapshots, &vmeta, err);
	if (r < 0) {
		json_object_put(vmeta);
		goto out;
	}
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	struct vs_err e2 = VS_ERR_INIT;
	mgr_instance_live(m, &inst, &p, &pid, &e2);
	x->meta = meta_json(&inst, &img, snaps, p);
	snaps = NULL;
	json_object_object_add(x->meta, "volumes", vmeta);
	if (x->stateful) {
		json_object_object_add(x->meta, "stateful", json_object_new_boolean(true));
		json_object_object_add(x->meta, "loadvm",
				       json_object_new_string(MGR_EXPORT_LOADVM_TAG));
	}
out:
	mgr_busy_release(m, inst.id);
	json_object_put(snaps);
	if (have_img)
		mgr_image_free(&img);
	if (r < 0) {
		vs_err_prefix(err, "export %s", inst.name);
		mgr_export_free(x);
	} else {
		*out = x;
	}
	mgr_instance_free(&inst);
	return r;
}

static int add_sum(struct json_object *sums, const char *path, const char hex[65])
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "sha256", json_object_new_string(hex));
	json_object_array_add(sums, o);
	return 0;
}

static int write_buffer(struct archive *a, const char *path, const char *data, size_t len,
			struct json_object *sums, struct vs_err *err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return vs_errf(err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, time(NULL), 0);
	int r = 0;
	gnutls_hash_hd_t h;
	if (sums && (r = export_member_begin(&h, e, err)) < 0) {
		archive_entry_free(e);
		return r;
	}
	if (archive_write_header(a, e) < ARCHIVE_WARN ||
	    archive_write_data(a, data, len) != (la_ssize_t)len)
		r = vs_errf(err, EIO, "write %s: %s", path, archive_error_string(a));
	if (sums) {
		gnutls_hash(h, data, len);
		char hex[65];
		export_member_end(h, hex);
		add_sum(sums, path, hex);
	}
	archive_entry_free(e);
	return r;
}

/* A regular file's data from the copy, hashed as it is written. */
static int write_data(struct archive *a, struct archive_entry *e, gnutls_hash_hd_t h,
		      struct vs_err *err)
{
	const char *src = archive_entry_sourcepath(e);
	vs_cleanup_close int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", src);
	int64_t left = archive_entry_size(e);
	static __thread char buf[1 << 16];
	while (left > 0) {
		ssize_t n = read(fd, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read %s", src);
		if (n == 0)
			return vs_errf(err, EIO, "%s: shorter than its size", src);
		gnutls_hash(h, buf, (size_t)n);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return vs_errf(err, EIO, "write %s: %s", archive_entry_pathname(e),
				       archive_error_string(a));
		left -= n;
	}
	return 0;
}

/*
 * overlayfs's own bookkeeping that names this host's lower files (file
 * handles, the layer's uuid) means nothing on another host: dropped.
 * What shapes the tree (opaque, redirect, whiteouts) is kept.
 */
static void drop_host_xattrs(struct archive_entry *e)
{
	static const char *const host_only[] = { "trusted.overlay.origin", "trusted.overlay.uuid",
						 "trusted.overlay.impure" };
	struct {
		char *name;
		void *val;
		size_t size;
	} keep[32];
	size_t n = 0, all = 0;
	bool as_is = false; /* more than we hold, or no memory: left as it is */
	const char *name;
	const void *val;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		all++;
		bool drop = false;
		for (size_t i = 0; i < VS_ARRAY_SIZE(host_only); i++)
			drop |= strcmp(name, host_only[i]) == 0;
		if (drop)
			continue;
		if (n == VS_ARRAY_SIZE(keep)) {
			as_is = true;
			break;
		}
		keep[n].name = strdup(name);
		keep[n].val = malloc(size ? size : 1);
		if (!keep[n].name || !keep[n].val) {
			free(keep[n].name);
			free(keep[n].val);
			as_is = true;
			break;
		}
		memcpy(keep[n].val, val, size);
		keep[n].size = size;
		n++;
	}
	if (!as_is && n != all) {
		archive_entry_xattr_clear(e);
		for (size_t i = 0; i < n; i++)
			archive_entry_xattr_add_entry(e, keep[i].name, keep[i].val, keep[i].size);
	}
	for (size_t i = 0; i < n; i++) {
		free(keep[i].name);
		free(keep[i].val);
	}
}

/* One directory tree of the copy as members prefix, prefix/... */
static int write_tree(struct archive *a, const char *root, const char *prefix,
		      struct json_object *sums, struct vs_err *err)
{
	struct archive *d = archive_read_disk_new();
	struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
	int r = 0;
	if (!d || !lr) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_entry_linkresolver_set_strategy(lr, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_read_disk_set_symlink_physical(d);
	archive_read_disk_set_behavior(d, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
					      ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
	if (archive_read_disk_open(d, root) != ARCHIVE_OK) {
		r = vs_errf(err, EIO, "read %s: %s", root, archive_error_string(d));
		goto out;
	}
	size_t rootlen = strlen(root);
	for (;;) {
		struct archive_entry *e = archive_entry_new();
		if (!e) {
			r = vs_errf(err, ENOMEM, "out of memory");
			break;
		}
		int rc = archive_read_next_header2(d, e);
		if (rc == ARCHIVE_EOF) {
			archive_entry_free(e);
			break;
		}
		if (rc < ARCHIVE_WARN) {
			r = vs_errf(err, EIO, "read %s: %s", root, archive_error_string(d));
			archive_entry_free(e);
			break;
		}
		archive_read_disk_descend(d);
		const char *src = archive_entry_sourcepath(e);
		if (strncmp(src, root, rootlen) != 0) {
			r = vs_errf(err, EIO, "read %s: unexpected path %s", root, src);
			archive_entry_free(e);
			break;
		}
		vs_cleanup_free char *name = NULL;
		if (asprintf(&name, "%s%s", prefix, src + rootlen) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			archive_entry_free(e);
			break;
		}
		archive_entry_set_pathname(e, name);
		archive_entry_set_uname(e, NULL);
		archive_entry_set_gname(e, NULL);
		archive_entry_sparse_clear(e);
		drop_host_xattrs(e);
		struct archive_entry *spare = NULL;
		archive_entry_linkify(lr, &e, &spare);
		archive_entry_free(spare);
		gnutls_hash_hd_t h;
		if ((r = export_member_begin(&h, e, err)) < 0) {
			archive_entry_free(e);
			break;
		}
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			r = vs_errf(err, EIO, "write %s: %s", name, archive_error_string(a));
		else if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
			 archive_entry_size(e) > 0)
			r = write_data(a, e, h, err);
		char hex[65];
		export_member_end(h, hex);
		if (r == 0)
			add_sum(sums, name, hex);
		archive_entry_free(e);
		if (r < 0)
			break;
	}
out:
	if (lr)
		archive_entry_linkresolver_free(lr);
	if (d)
		archive_read_free(d);
	return r;
}

int mgr_export_write(struct mgr_export *x, int fd, struct vs_err *err)
{
	struct archive *a = archive_write_new();
	struct json_object *sums = json_object_new_array();
	vs_cleanup_free char *rootfs = NULL; /* before any goto out: freed there */
	int r = 0;
	if (!a || !sums) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_write_set_format_pax_restricted(a);
	if (archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
		r = vs_errf(err, ENOTSUP, "zstd: %s", archive_error_string(a));
		goto out;
	}
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = vs_errf(err, EIO, "export: %s", archive_error_string(a));
		goto out;
	}
	const char *meta = json_object_to_json_string_ext(x->meta, JSON_C_TO_STRING_PRETTY);
	if ((r = write_buffer(a, EXPORT_META_NAME, meta, strlen(meta), sums, err)) < 0)
		goto out;
	if (asprintf(&rootfs, "%s/%s", x->dir, x->vm ? "vm" : "rootfs") < 0) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = write_tree(a, rootfs, x->vm ? "vm" : "rootfs", sums, err)) < 0)
		goto out;
	for (size_t i = 0; i < x->nsnaps; i++) {
		vs_cleanup_free char *dir = NULL, *prefix = NULL;
		if (asprintf(&dir, "%s/snapshots/%s/rootfs", x->dir, x->snaps[i]) < 0 ||
		    asprintf(&prefix, "snapshots/%s/rootfs", x->snaps[i]) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		if ((r = write_tree(a, dir, prefix, sums, err)) < 0)
			goto out;
	}
	if (x->volumes) {
		char *vdir = NULL;
		if (asprintf(&vdir, "%s/volumes", x->dir) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		r = write_tree(a, vdir, "volumes", sums, err);
		free(vdir);
		if (r < 0)
			goto out;
	}
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "format", json_object_new_string(MGR_EXPORT_FORMAT));
	json_object_object_add(c, "version", json_object_new_int(MGR_EXPORT_VERSION));
	json_object_object_add(c, "algorithm", json_object_new_string("sha256"));
	json_object_object_add(c, "members", json_object_get(sums));
	const char *text = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
	r = write_buffer(a, EXPORT_CHECKSUMS_NAME, text, strlen(text), NULL, err);
	json_object_put(c);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = vs_errf(err, EIO, "export: %s", archive_error_string(a));
out:
	if (a)
		archive_write_free(a);
	json_object_put(sums);
	return r;
}
