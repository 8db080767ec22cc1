/*
 * block.c - a lib/disk image (qcow2 or raw, include/vessel/disk/image.h) as
 * the block backend of virtio-blk.  The image knows nothing about virtio;
 * virtio-blk knows nothing about image formats.
 */
#include <errno.h>
#include <stdlib.h>

#include <string.h>

#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/vm/backend.h"

struct image_backend {
	struct vm_block_backend be; /* first */
	struct disk_image *img;
};

static struct disk_image *image_of(struct vm_block_backend *be)
{
	return ((struct image_backend *)be)->img;
}

static int image_preadv(struct vm_block_backend *be, const struct iovec *iov, int iovcnt,
			uint64_t offset, struct vs_err *err)
{
	return disk_image_preadv(image_of(be), iov, iovcnt, offset, err);
}

static int image_pwritev(struct vm_block_backend *be, const struct iovec *iov, int iovcnt,
			 uint64_t offset, struct vs_err *err)
{
	uint64_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	vm_block_backend_mark_dirty(be, offset, len);
	return disk_image_pwritev(image_of(be), iov, iovcnt, offset, err);
}

static int image_flush(struct vm_block_backend *be, struct vs_err *err)
{
	return disk_image_flush(image_of(be), err);
}

static int image_discard(struct vm_block_backend *be, uint64_t offset, uint64_t len,
			 struct vs_err *err)
{
	vm_block_backend_mark_dirty(be, offset, len);
	return disk_image_discard(image_of(be), offset, len, err);
}

static int image_write_zeroes(struct vm_block_backend *be, uint64_t offset, uint64_t len,
			      struct vs_err *err)
{
	vm_block_backend_mark_dirty(be, offset, len);
	return disk_image_write_zeroes(image_of(be), offset, len, err);
}

static void image_close(struct vm_block_backend *be)
{
	disk_image_close(image_of(be));
	free(be);
}

/* The VM's internal snapshots (docs/snapshot-format.md, "Disks"). */
static int image_snapshot_create(struct vm_block_backend *be, const char *tag, struct vs_err *err)
{
	struct disk_image *img = image_of(be);
	struct vs_err ignore = VS_ERR_INIT;
	disk_snapshot_delete(img, tag, &ignore); /* a tag names one snapshot */
	int r = disk_snapshot_create(img, tag, err);
	return r < 0 ? vs_err_prefix(err, "%s: snapshot %s", disk_image_path(img), tag) : 0;
}

static int image_snapshot_apply(struct vm_block_backend *be, const char *tag, struct vs_err *err)
{
	struct disk_image *img = image_of(be);
	uint64_t size = disk_image_size(img);
	int r = disk_snapshot_apply(img, tag, err);
	if (r < 0)
		return vs_err_prefix(err, "%s: snapshot %s", disk_image_path(img), tag);
	if (disk_image_size(img) != size)
		return vs_errf(err, EINVAL, "%s: snapshot %s has another disk size",
			       disk_image_path(img), tag);
	return 0;
}

static int image_snapshot_delete(struct vm_block_backend *be, const char *tag, struct vs_err *err)
{
	struct disk_image *img = image_of(be);
	int r = disk_snapshot_delete(img, tag, err);
	if (r == 0)
		r = disk_image_flush(img, err);
	return r < 0 ? vs_err_prefix(err, "%s: snapshot %s", disk_image_path(img), tag) : 0;
}

static int image_vmstate_save(struct vm_block_backend *be, const char *tag, int fd, uint64_t len,
			      uint64_t vm_clock_nsec, struct vs_err *err)
{
	struct disk_image *img = image_of(be);
	int r = disk_snapshot_save_vmstate(img, tag, fd, len, vm_clock_nsec, err);
	return r < 0 ? vs_err_prefix(err, "%s: savevm %s", disk_image_path(img), tag) : 0;
}

static const struct vm_block_backend_ops image_ops = {
	.preadv = image_preadv,
	.pwritev = image_pwritev,
	.flush = image_flush,
	.discard = image_discard,
	.write_zeroes = image_write_zeroes,
	.close = image_close,
};

static const struct vm_block_backend_ops qcow2_ops = {
	.preadv = image_preadv,
	.pwritev = image_pwritev,
	.flush = image_flush,
	.discard = image_discard,
	.write_zeroes = image_write_zeroes,
	.close = image_close,
	.snapshot_create = image_snapshot_create,
	.snapshot_apply = image_snapshot_apply,
	.snapshot_delete = image_snapshot_delete,
	.vmstate_save = image_vmstate_save,
};

struct vm_block_backend *vm_block_backend_open_image(const char *path, const char *format,
						     bool readonly, struct vs_err *err)
{
	struct disk_open_options opts = { .flags = readonly ? DISK_OPEN_RDONLY : 0,
					  .format = format };
	struct image_backend *ib = calloc(1, sizeof(*ib));
	if (!ib) {
		vs_errf(err, ENOMEM, "disk %s: out of memory", path);
		return NULL;
	}
	ib->img = disk_image_open(path, &opts, err);
	if (!ib->img) {
		free(ib);
		return NULL;
	}
	ib->be.ops = strcmp(disk_image_format(ib->img), "qcow2") == 0 ? &qcow2_ops : &image_ops;
	ib->be.size = disk_image_size(ib->img);
	ib->be.readonly = readonly || disk_image_readonly(ib->img);
	return &ib->be;
}
