/*
 * virtqueue.c - device side of split virtqueues (virtio 1.2 §2.7).
 *
 * Layout in guest memory (little-endian):
 *   descriptor table  num x { le64 addr; le32 len; le16 flags; le16 next; }
 *   available ring    le16 flags; le16 idx; le16 ring[num]; le16 used_event;
 *   used ring         le16 flags; le16 idx; { le32 id; le32 len; }[num];
 *                     le16 avail_event;
 *
 * Trust boundary: every read of guest memory goes through the bus with the
 * exact length, so a hostile driver can at worst make virtq_pop() fail.
 * Chains are bounded: a walk visits at most `num` descriptors of the ring
 * table (and at most the size of an indirect table inside it, never more
 * than VIRTQ_MAX_SIZE: the spec forbids chains longer than the queue),
 * which breaks loops and bounds the work of one pop, and produces at most
 * VIRTQ_MAX_SIZE segments.  Indirect tables may
 * not nest (§2.7.5.3.1).  The whole machine runs on one thread, so the
 * guest cannot change a ring while the device walks it and no memory
 * barriers are needed.
 */
#include <errno.h>
#include <string.h>

#include "vessel/vm/virtqueue.h"

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static int guest_read16(const struct virtq *vq, uint64_t gpa, uint16_t *v)
{
	return vm_bus_dma_read(vq->bus, gpa, v, sizeof(*v));
}

static int guest_write16(const struct virtq *vq, uint64_t gpa, uint16_t v)
{
	return vm_bus_dma_write(vq->bus, gpa, &v, sizeof(v));
}

void virtq_reset(struct virtq *vq)
{
	const struct vm_bus *bus = vq->bus;
	uint32_t resets = vq->resets;
	memset(vq, 0, sizeof(*vq));
	vq->bus = bus;
	vq->resets = resets + 1;
}

int virtq_validate(const struct virtq *vq, struct vs_err *err)
{
	uint64_t num = vq->num;
	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return vs_errf(err, EINVAL, "queue size %llu is not a power of two <= %u",
			       (unsigned long long)num, VIRTQ_MAX_SIZE);
	if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4)
		return vs_errf(err, EINVAL,
			       "misaligned rings (desc 0x%llx avail 0x%llx used 0x%llx)",
			       (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			       (unsigned long long)vq->used_gpa);
	if (!vm_bus_ram_ptr(vq->bus, vq->desc_gpa, 16 * num))
		return vs_errf(err, EINVAL, "descriptor table 0x%llx outside RAM",
			       (unsigned long long)vq->desc_gpa);
	if (!vm_bus_ram_ptr(vq->bus, vq->avail_gpa, 6 + 2 * num))
		return vs_errf(err, EINVAL, "available ring 0x%llx outside RAM",
			       (unsigned long long)vq->avail_gpa);
	const struct vm_ram_region *r = vm_bus_find_ram(vq->bus, vq->used_gpa, 6 + 8 * num);
	if (!r || r->readonly)
		return vs_errf(err, EINVAL, "used ring 0x%llx outside writable RAM",
			       (unsigned long long)vq->used_gpa);
	return 0;
}

/* Append one descriptor's buffer to the chain. */
static int chain_add(const struct virtq *vq, struct virtq_chain *chain, const struct virtq_desc *d,
		     struct vs_err *err)
{
	if (d->len == 0)
		return 0; /* carries nothing; its address is never used */
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	if (!writable && chain->nin > 0)
		return vs_errf(err, EINVAL, "device-readable descriptor after a writable one");
	if (chain->nout + chain->nin >= VIRTQ_MAX_SIZE)
		return vs_errf(err, EINVAL, "chain has more than %u segments", VIRTQ_MAX_SIZE);
	const struct vm_ram_region *r = vm_bus_find_ram(vq->bus, d->addr, d->len);
	if (!r || (writable && r->readonly))
		return vs_errf(err, EINVAL, "buffer 0x%llx+%u outside guest RAM",
			       (unsigned long long)d->addr, d->len);
	struct virtq_seg *s = &chain->seg[chain->nout + chain->nin];
	s->host = r->host + (d->addr - r->base);
	s->gpa = d->addr;
	s->len = d->len;
	if (writable) {
		chain->nin++;
		chain->in_len += d->len;
	} else {
		chain->nout++;
		chain->out_len += d->len;
	}
	return 0;
}

static int chain_walk(const struct virtq *vq, struct virtq_chain *chain, uint16_t head,
		      struct vs_err *err)
{
	uint64_t table = vq->desc_gpa;
	uint32_t table_n = vq->num;
	uint32_t idx = head, visited = 0;
	bool indirect = false;

	for (;;) {
		struct virtq_desc d;
		if (idx >= table_n)
			return vs_errf(err, EINVAL, "descriptor index %u out of range (%u)", idx,
				       table_n);
		if (++visited > table_n || visited > VIRTQ_MAX_SIZE)
			return vs_errf(err, EINVAL, "descriptor chain loops (longer than %u)",
				       table_n < VIRTQ_MAX_SIZE ? table_n : VIRTQ_MAX_SIZE);
		if (vm_bus_dma_read(vq->bus, table + 16ULL * idx, &d, sizeof(d)) < 0)
			return vs_errf(err, EINVAL, "descriptor %u outside guest RAM", idx);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return vs_errf(err, EINVAL, "indirect descriptor not negotiated");
			if (indirect)
				return vs_errf(err, EINVAL, "nested indirect descriptor");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vs_errf(err, EINVAL, "indirect descriptor with NEXT");
			/* No alignment rule for indirect tables (§2.7.5.3): Linux
			 * kmallocs them 8-byte aligned. */
			if (d.len == 0 || d.len % 16 || !vm_bus_ram_ptr(vq->bus, d.addr, d.len))
				return vs_errf(err, EINVAL, "bad indirect table 0x%llx+%u",
					       (unsigned long long)d.addr, d.len);
			indirect = true;
			table = d.addr;
			table_n = d.len / 16;
			idx = 0;
			visited = 0;
			continue;
		}
		int r = chain_add(vq, chain, &d, err);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain, struct vs_err *err)
{
	uint16_t avail_idx, head;
	if (!vq->ready)
		return 0;
	if (guest_read16(vq, vq->avail_gpa + 2, &avail_idx) < 0)
		return vs_errf(err, EINVAL, "available ring outside guest RAM");
	uint16_t outstanding = (uint16_t)(avail_idx - vq->last_avail);
	if (outstanding == 0)
		return 0;
	if (outstanding > vq->num)
		return vs_errf(err, EINVAL, "available index %u is %u entries ahead (queue %u)",
			       avail_idx, outstanding, vq->num);
	if (guest_read16(vq, vq->avail_gpa + 4 + 2ULL * (vq->last_avail % vq->num), &head) < 0)
		return vs_errf(err, EINVAL, "available ring outside guest RAM");
	if (head >= vq->num)
		return vs_errf(err, EINVAL, "available head %u out of range (%u)", head, vq->num);

	chain->head = head;
	chain->nout = chain->nin = 0;
	chain->out_len = chain->in_len = 0;
	int r = chain_walk(vq, chain, head, err);
	if (r < 0)
		return r;
	vq->last_avail++;
	/* Ask to be notified as soon as anything new is available. */
	if (vq->event_idx &&
	    guest_write16(vq, vq->used_gpa + 4 + 8ULL * vq->num, vq->last_avail) < 0)
		return vs_errf(err, EINVAL, "used ring outside guest RAM");
	return 1;
}

bool virtq_has_avail(const struct virtq *vq)
{
	uint16_t avail_idx;
	return vq->ready && guest_read16(vq, vq->avail_gpa + 2, &avail_idx) == 0 &&
	       avail_idx != vq->last_avail;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	uint32_t elem[2] = { head, written };
	uint64_t slot = vq->used_gpa + 4 + 8ULL * (vq->used_idx % vq->num);
	if (vm_bus_dma_write(vq->bus, slot, elem, sizeof(elem)) < 0)
		return -EFAULT;
	vq->used_idx++;
	vq->unsignalled = true;
	return guest_write16(vq, vq->used_gpa + 2, vq->used_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t used_event = 0, old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;
	if (!vq->unsignalled)
		return false; /* nothing used since the last interrupt */
	vq->unsignalled = false;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!vq->event_idx) {
		uint16_t flags = 0;
		if (guest_read16(vq, vq->avail_gpa, &flags) < 0)
			return true;
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	/* §2.7.10: interrupt when used_event lies in [old, now). */
	if (!valid)
		return true;
	if (guest_read16(vq, vq->avail_gpa + 4 + 2ULL * vq->num, &used_event) < 0)
		return true;
	return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

/* Copy between [offset, offset+len) of the chain's segments [first, end)
 * and a flat buffer: out of the guest into `out`, or into the guest from
 * `in` (noted as written for dirty tracking).  Returns the bytes copied. */
static size_t chain_copy(const struct virtq *vq, const struct virtq_chain *chain, unsigned first,
			 unsigned end, size_t offset, uint8_t *out, const uint8_t *in, size_t len)
{
	size_t done = 0;
	for (unsigned i = first; i < end && done < len; i++) {
		const struct virtq_seg *s = &chain->seg[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		size_t n = s->len - offset;
		if (n > len - done)
			n = len - done;
		if (out) {
			memcpy(out + done, s->host + offset, n);
		} else {
			memcpy(s->host + offset, in + done, n);
			vm_bus_note_write(vq->bus, s->gpa + offset, n);
		}
		done += n;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *buf, size_t len)
{
	return chain_copy(NULL, chain, 0, chain->nout, offset, buf, NULL, len);
}

size_t virtq_chain_write(const struct virtq *vq, const struct virtq_chain *chain, size_t offset,
			 const void *buf, size_t len)
{
	return chain_copy(vq, chain, chain->nout, chain->nout + chain->nin, offset, NULL, buf, len);
}

void virtq_chain_note_written(const struct virtq *vq, const struct virtq_chain *chain,
			      size_t offset, size_t len)
{
	for (unsigned i = chain->nout; i < chain->nout + chain->nin && len > 0; i++) {
		const struct virtq_seg *s = &chain->seg[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		size_t n = s->len - offset;
		if (n > len)
			n = len;
		vm_bus_note_write(vq->bus, s->gpa + offset, n);
		len -= n;
		offset = 0;
	}
}
