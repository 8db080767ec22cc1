/*
 * image.h - the local image store: content-addressed, under STATE/images.
 *
 *   blobs/sha256/HEX     manifests and configs, verified against their digest
 *   layers/HEX/          each layer unpacked once (HEX: its compressed digest),
 *                        with OCI whiteouts turned into overlayfs whiteouts
 *                        (".wh.NAME" -> a 0/0 character device, ".wh..wh..opq"
 *                        -> trusted.overlay.opaque=y), so a container root is
 *                        one overlay mount with the layers as lowerdirs
 *   oci/FINGERPRINT/     the OCI layout an image was imported from (index.json,
 *                        its manifest, config and compressed layers), kept for
 *                        other cluster members to fetch (cluster_image.c)
 *   vm/FINGERPRINT/      a VM image's files (image_vm.c)
 *   tmp/                 uploads and imports in progress (emptied at start)
 *
 * An image's fingerprint is the hex sha256 of its manifest.  Layers are
 * shared between images and removed when no image lists them.  Imports
 * read OCI image layouts (a directory, `skopeo copy ... oci:DIR`) and OCI
 * archives (a tar of one, `podman save --format oci-archive`), following
 * image-spec 1.1: index -> manifest -> config + layers, every blob checked
 * against its digest and size.
 */
#ifndef VESSEL_MGR_IMAGE_H
#define VESSEL_MGR_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/mgr/db.h"

struct mgr_image {
	int64_t id;
	char fingerprint[65];
	char type[16];
	char architecture[32];
	uint64_t size;
	char *config_json; /* the OCI image config's "config" object (Env, Cmd, ...) */
	char created_at[32];
	char **layers; /* "sha256:HEX", bottom first */
	size_t nlayers;
	char **aliases;
	size_t naliases;
};

struct mgr_image_store {
	char *dir; /* STATE/images */
	struct mgr_db *db;
};

void mgr_image_free(struct mgr_image *img);
void mgr_image_list_free(struct mgr_image *list, size_t n);

int mgr_image_store_init(struct mgr_image_store *s, const char *state_dir, struct mgr_db *db,
			 struct vs_err *err);
void mgr_image_store_fini(struct mgr_image_store *s);

/* Find by alias, full fingerprint or a unique fingerprint prefix (>= 6 hex). */
int mgr_image_get(struct mgr_image_store *s, const char *ref, struct mgr_image *img,
		  struct vs_err *err);
int mgr_image_get_by_id(struct mgr_image_store *s, int64_t id, struct mgr_image *img,
			struct vs_err *err);
int mgr_image_list(struct mgr_image_store *s, struct mgr_image **list, size_t *n,
		   struct vs_err *err);
/* Delete an image (EBUSY while an instance uses it) and its unused layers. */
int mgr_image_delete(struct mgr_image_store *s, const char *ref, struct vs_err *err);
int mgr_image_alias_add(struct mgr_image_store *s, const char *alias, const char *ref,
			struct vs_err *err);
int mgr_image_alias_delete(struct mgr_image_store *s, const char *alias, struct vs_err *err);
/* Aliases: 1..128 of [A-Za-z0-9._:-], not all hex of 6+ (would shadow prefixes). */
int mgr_image_alias_validate(const char *alias, struct vs_err *err);

/* Directory of an unpacked layer, from its digest "sha256:HEX" (malloc'd). */
char *mgr_image_layer_dir(struct mgr_image_store *s, const char *digest);

/* Cancellation and progress of an import (may be NULL). */
struct mgr_import_ctl {
	bool (*cancelled)(void *opaque);
	void (*progress)(void *opaque, const char *stage, unsigned percent);
	void *opaque;
};

/*
 * Import an OCI layout directory or an OCI archive file at path.  With
 * alias, the alias is set (moved) to the image.  An image already in the
 * store is not duplicated.  fingerprint (65 bytes) receives the result.
 */
int mgr_image_import_oci(struct mgr_image_store *s, const char *path, const char *alias,
			 const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err);

/*
 * Build the built-in busybox image (an OCI layout of Debian's static
 * busybox, made locally without any network) and import it as alias.
 */
int mgr_image_import_busybox(struct mgr_image_store *s, const char *busybox_path, const char *alias,
			     char *fingerprint, struct vs_err *err);

/*
 * VM images (image_vm.c): kernel, optional initrd and a qcow2 disk under
 * STATE/images/vm/FINGERPRINT/, imported from a directory or a tar archive
 * holding metadata.json and those files (format: docs/vesseld.md).
 */
bool mgr_image_is_vm_source(const char *path);
int mgr_image_import_vm(struct mgr_image_store *s, const char *path, const char *alias,
			const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err);
/* The guest/ recipe's cached output directory (Image, disk.qcow2) as a VM
 * image booting from its disk. */
int mgr_image_import_guest(struct mgr_image_store *s, const char *guest_dir, const char *alias,
			   char *fingerprint, struct vs_err *err);
/* STATE/images/vm/FINGERPRINT (malloc'd). */
char *mgr_image_vm_dir(struct mgr_image_store *s, const char *fingerprint);
/* A file of a VM image ("kernel", "initrd", "disk.qcow2", "metadata.json"),
 * malloc'd; NULL when the image is no VM image or has no such file. */
char *mgr_image_vm_file(struct mgr_image_store *s, const struct mgr_image *img, const char *file);

/* STATE/images/oci/FINGERPRINT: a container image's OCI layout as it was
 * imported (its manifest, config and compressed layers), kept so that other
 * cluster members can fetch the image (malloc'd). */
char *mgr_image_oci_dir(struct mgr_image_store *s, const char *fingerprint);
/* The directory holding everything of an image another host needs to
 * import it again with the same fingerprint (mgr_image_vm_dir or
 * mgr_image_oci_dir), malloc'd; ENOENT when this host has none (an image
 * imported before layouts were kept). */
char *mgr_image_send_dir(struct mgr_image_store *s, const struct mgr_image *img,
			 struct vs_err *err);
/* Write the tar of mgr_image_send_dir to fd (what GET /1.0/images/FP/export
 * streams to another member). */
int mgr_image_send(struct mgr_image_store *s, const struct mgr_image *img, int fd,
		   struct vs_err *err);
/* Install a VM image received from another host: archive is a tar of its
 * store directory (metadata.json, the normalised text whose sha256 is the
 * fingerprint, and the store's files); everything is checked against
 * fingerprint (the metadata's digest, then each file's size and sha256 as
 * the metadata lists them) before it is recorded.  Already here: 0. */
int mgr_image_receive_vm(struct mgr_image_store *s, const char *archive, const char *fingerprint,
			 struct vs_err *err);

/* Make a unique temporary directory under the store's tmp/ (malloc'd path). */
char *mgr_image_tmpdir(struct mgr_image_store *s, struct vs_err *err);

#endif
