/*
 * qcow2_vmstate.c - a VM state stored inside an internal snapshot, the way
 * QEMU's savevm/loadvm store it (qcow2 spec, "Snapshots": vm_state_size;
 * QEMU block/qcow2.c qcow2_vm_state_offset).
 *
 * The VM state lives at virtual offsets from the first L1 entry past the
 * guest disk: vmstate_offset = l1_entries_for(disk size) << (cluster_bits
 * + l2_bits).  save writes it into the active image there (growing the
 * L1 table to cover it), creates the snapshot (whose L1 copy then reaches
 * the state's clusters, each with one more reference) and discards the
 * state from the active image again (as QEMU does: keeping it would only
 * cost copy-on-write in the next snapshot).  load reads the state through
 * the snapshot's own L1 table, swapped in memory for the time of the read:
 * it changes nothing in the image (it works on a read-only image), so the
 * caller can validate the whole state before it rolls the disk back
 * (qcow2_snapshot_apply, which then drops the state from the active image
 * again).  Holes in the state (zero guest pages of a vessel snapshot) are
 * never written, so they cost no clusters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#include "qcow2.h"

#define VMSTATE_CHUNK (1ULL << 20)

static uint64_t vmstate_offset_for(const struct qcow2 *q, uint64_t disk_size)
{
	return qcow2_l1_entries_for(q->cluster_bits, q->l2_bits, disk_size)
	       << (q->cluster_bits + q->l2_bits);
}

static uint64_t vmstate_offset(const struct qcow2 *q)
{
	return vmstate_offset_for(q, q->h.size);
}

static int vmstate_cover(struct qcow2 *q, uint64_t len, struct vs_err *err)
{
	uint64_t end = vmstate_offset(q) + len;
	uint64_t span = 1ULL << (q->cluster_bits + q->l2_bits);
	return qcow2_grow_l1(q, (end + span - 1) / span, err);
}

int qcow2_vmstate_discard(struct disk_image *img, uint64_t len, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	uint64_t cs = q->cluster_size;
	uint64_t n = (len + cs - 1) / cs * cs;
	if (!n)
		return 0;
	int r = qcow2_zero_range(img, vmstate_offset(q), n, true, true, err);
	return r < 0 ? r : qcow2_flush_all(q, err);
}

int qcow2_vmstate_save(struct disk_image *img, const char *name, int fd, uint64_t len,
		       uint64_t vm_clock_nsec, struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	int r = vmstate_cover(q, len, err);
	if (r < 0)
		return r;
	uint64_t base = vmstate_offset(q);
	vs_cleanup_free uint8_t *buf = malloc(VMSTATE_CHUNK);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	/* Only the data extents of fd: holes stay unallocated (read as zeros). */
	for (off_t pos = 0; (uint64_t)pos < len;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 || (uint64_t)data >= len)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > len)
			hole = (off_t)len;
		/* whole clusters, so a partial chunk never loses a neighbour */
		uint64_t from = (uint64_t)data & ~(q->cluster_size - 1);
		for (uint64_t o = from; o < (uint64_t)hole; o += VMSTATE_CHUNK) {
			uint64_t n =
			    (uint64_t)hole - o < VMSTATE_CHUNK ? (uint64_t)hole - o : VMSTATE_CHUNK;
			if ((r = vs_pread_full(fd, buf, n, (off_t)o)) < 0)
				return vs_syserrf(err, -r, "read the VM state");
			struct iovec v = { buf, n };
			if ((r = qcow2_pwritev(img, &v, 1, base + o, n, err)) < 0)
				return vs_err_prefix(err, "write the VM state");
		}
		pos = hole;
	}
	if ((r = qcow2_flush_all(q, err)) < 0)
		return r;
	struct vs_err ignore = VS_ERR_INIT;
	qcow2_snapshot_delete(img, name, &ignore); /* a name holds one VM */
	if ((r = qcow2_snapshot_create_vm(img, name, len, vm_clock_nsec, err)) < 0)
		return r;
	return qcow2_vmstate_discard(img, len, err);
}

/* Copy [base, base+size) of the image as the active L1 maps it into fd. */
static int vmstate_copy(struct disk_image *img, uint64_t base, uint64_t size, int fd,
			struct vs_err *err)
{
	vs_cleanup_free uint8_t *buf = malloc(VMSTATE_CHUNK);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	if (ftruncate(fd, (off_t)size) < 0)
		return vs_syserrf(err, errno, "size the VM state file");
	for (uint64_t o = 0; o < size;) {
		struct disk_extent ext;
		uint64_t want = size - o < VMSTATE_CHUNK ? size - o : VMSTATE_CHUNK;
		int r = qcow2_block_status(img, base + o, want, &ext, err);
		if (r < 0)
			return r;
		uint64_t n = ext.length ? ext.length : want;
		if (n > want)
			n = want;
		if ((ext.flags & DISK_EXTENT_DATA) && !(ext.flags & DISK_EXTENT_ZERO)) {
			struct iovec v = { buf, n };
			if ((r = qcow2_preadv(img, &v, 1, base + o, n, err)) < 0)
				return vs_err_prefix(err, "read the VM state");
			if ((r = vs_pwrite_full(fd, buf, n, (off_t)o)) < 0)
				return vs_syserrf(err, -r, "write the VM state");
		}
		o += n;
	}
	return 0;
}

int qcow2_vmstate_load(struct disk_image *img, const char *name, int fd, uint64_t *len,
		       struct vs_err *err)
{
	struct qcow2 *q = qcow2_of(img);
	const struct qcow2_snapshot *s = NULL;
	for (unsigned i = 0; i < q->nb_snaps && !s; i++)
		if (!strcmp(q->snaps[i].name, name) || !strcmp(q->snaps[i].id, name))
			s = &q->snaps[i];
	if (!s)
		return vs_errf(err, ENOENT, "%s: no snapshot '%s'", img->path, name);
	uint64_t size = s->vm_state_size;
	if (!size)
		return vs_errf(err, ENOENT, "%s: snapshot '%s' holds no VM state", img->path, name);
	uint64_t *snap_l1 = NULL;
	int r = qcow2_snapshot_l1(q, s, &snap_l1, err);
	if (r < 0)
		return r;
	/* Reads only, through the snapshot's L1 (nothing is written or
	 * allocated while it is swapped in). */
	uint64_t *active = q->l1;
	uint32_t active_size = q->h.l1_size;
	q->l1 = snap_l1;
	q->h.l1_size = s->l1_size;
	q->ccache_entry = 0;
	r = vmstate_copy(img, vmstate_offset_for(q, s->disk_size), size, fd, err);
	q->l1 = active;
	q->h.l1_size = active_size;
	q->ccache_entry = 0;
	free(snap_l1);
	if (r < 0)
		return r;
	*len = size;
	return 0;
}
