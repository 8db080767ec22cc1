/*
 * mmio.c - the virtio-mmio transport, Version 2 (virtio 1.2 §4.2.2).
 *
 * Register map (offsets from the slot base, 32-bit accesses except the
 * configuration space at 0x100, which allows 8/16/32-bit accesses):
 *   0x000 MagicValue  0x004 Version  0x008 DeviceID  0x00c VendorID
 *   0x010 DeviceFeatures  0x014 DeviceFeaturesSel
 *   0x020 DriverFeatures  0x024 DriverFeaturesSel
 *   0x030 QueueSel  0x034 QueueNumMax  0x038 QueueNum  0x044 QueueReady
 *   0x050 QueueNotify  0x060 InterruptStatus  0x064 InterruptACK
 *   0x070 Status  0x080/084 QueueDesc  0x090/094 QueueDriver
 *   0x0a0/0a4 QueueDevice  0x0ac SHMSel  0x0b0..0x0bc SHM (none: len ~0)
 *   0x0c0 QueueReset  0x0fc ConfigGeneration  0x100+ config
 *
 * Invariants: the interrupt line is high iff InterruptStatus != 0; queues
 * are processed only while the device is live (DRIVER_OK without
 * NEEDS_RESET); a queue is usable only after its rings passed
 * virtq_validate() when the driver wrote QueueReady = 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vessel/core/log.h"
#include "vessel/vm/state.h"
#include "vessel/vm/virtio.h"

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_SEL = 0x0ac,
	REG_SHM_LEN_LOW = 0x0b0,
	REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8,
	REG_SHM_BASE_HIGH = 0x0bc,
	REG_QUEUE_RESET = 0x0c0,
	REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

void virtio_mmio_init(struct virtio_mmio *vdev, const struct virtio_ops *ops,
		      const struct vm_bus *bus)
{
	struct vm_irq_line irq = vdev->irq;
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->bus = bus;
	vdev->irq = irq;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->vq[q].bus = bus;
}

static uint64_t device_features(struct virtio_mmio *vdev)
{
	uint64_t f = vdev->ops->features ? vdev->ops->features(vdev) : 0;
	return f | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_INDIRECT_DESC |
	       1ULL << VIRTIO_F_EVENT_IDX;
}

void virtio_mmio_stop(struct virtio_mmio *vdev)
{
	if (vdev && vdev->ops->stop)
		vdev->ops->stop(vdev);
}

void virtio_mmio_free(struct virtio_mmio *vdev)
{
	if (vdev && vdev->ops->free)
		vdev->ops->free(vdev);
}

bool virtio_mmio_has_feature(const struct virtio_mmio *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features >> bit) & 1;
}

bool virtio_mmio_live(const struct virtio_mmio *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdev->status & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

static void update_irq(struct virtio_mmio *vdev)
{
	vm_irq_set(&vdev->irq, vdev->interrupt_status != 0);
}

void virtio_mmio_reset(struct virtio_mmio *vdev)
{
	vdev->status = 0;
	vdev->device_features_sel = vdev->driver_features_sel = 0;
	vdev->driver_features = 0;
	vdev->queue_sel = 0;
	vdev->interrupt_status = 0;
	vdev->failure[0] = 0;
	vdev->pending = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_reset(&vdev->vq[q]);
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	update_irq(vdev);
}

void virtio_mmio_fail(struct virtio_mmio *vdev, const char *fmt, ...)
{
	if (vdev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vdev->failure, sizeof(vdev->failure), fmt, ap);
	va_end(ap);
	/* A guest looping on reset + bad chain must not flood the host's log. */
	if (vdev->failures < VIRTIO_MAX_LOGGED_FAILURES)
		vs_log(VS_LOG_WARN, "virtio-%s: guest error, device needs reset: %s%s",
		       vdev->ops->name, vdev->failure,
		       vdev->failures + 1 == VIRTIO_MAX_LOGGED_FAILURES
			   ? " (further ones not logged)"
			   : "");
	vdev->failures++;
	vdev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		vdev->interrupt_status |= VIRTIO_INT_CONFIG;
		update_irq(vdev);
	}
}

int virtio_mmio_pop(struct virtio_mmio *vdev, unsigned q, struct virtq_chain *chain)
{
	struct vs_err err = VS_ERR_INIT;
	if (q >= vdev->ops->nqueues || !virtio_mmio_live(vdev))
		return 0;
	if (vdev->spent >= VIRTIO_PASS_BUDGET) {
		/* Out of budget for this pass: finish in the next one. */
		if (virtq_has_avail(&vdev->vq[q]))
			vdev->pending |= 1U << q;
		return 0;
	}
	int r = virtq_pop(&vdev->vq[q], chain, &err);
	if (r < 0)
		virtio_mmio_fail(vdev, "queue %u: %s", q, err.msg);
	else if (r > 0)
		vdev->spent += VIRTIO_POP_COST;
	return r;
}

void virtio_mmio_charge(struct virtio_mmio *vdev, uint64_t cost)
{
	vdev->spent += cost;
}

bool virtio_mmio_service(struct virtio_mmio *vdev)
{
	uint32_t pending = vdev->pending;
	vdev->spent = 0;
	vdev->pending = 0;
	for (unsigned q = 0; q < vdev->ops->nqueues; q++)
		if ((pending & 1U << q) && vdev->vq[q].ready && virtio_mmio_live(vdev) &&
		    vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, q);
	return vdev->pending != 0;
}

void virtio_mmio_push(struct virtio_mmio *vdev, unsigned q, uint16_t head, uint32_t written)
{
	if (virtq_push(&vdev->vq[q], head, written) < 0)
		virtio_mmio_fail(vdev, "queue %u: used ring outside guest RAM", q);
}

void virtio_mmio_notify(struct virtio_mmio *vdev, unsigned q)
{
	if (q >= vdev->ops->nqueues || !virtq_should_notify(&vdev->vq[q]))
		return;
	vdev->interrupt_status |= VIRTIO_INT_USED;
	update_irq(vdev);
}

void virtio_mmio_config_changed(struct virtio_mmio *vdev)
{
	vdev->config_generation++;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		vdev->interrupt_status |= VIRTIO_INT_CONFIG;
		update_irq(vdev);
	}
}

static struct virtq *selected_queue(struct virtio_mmio *vdev)
{
	return vdev->queue_sel < vdev->ops->nqueues ? &vdev->vq[vdev->queue_sel] : NULL;
}

static int config_read(struct virtio_mmio *vdev, uint64_t off, unsigned size, uint64_t *value)
{
	const uint8_t *cfg = vdev->ops->config ? vdev->ops->config(vdev) : NULL;
	*value = 0;
	if (!cfg || off > vdev->ops->config_size || size > vdev->ops->config_size - off)
		return 0;		/* beyond the configuration space: reads as zero */
	memcpy(value, cfg + off, size); /* little-endian host */
	return 0;
}

static int virtio_mmio_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
	struct virtio_mmio *vdev = opaque;
	struct virtq *vq = selected_queue(vdev);
	if (off >= REG_CONFIG)
		return config_read(vdev, off - REG_CONFIG, size, value);
	*value = 0;
	if (size != 4 || off % 4)
		return -1;
	switch (off) {
	case REG_MAGIC: *value = VIRTIO_MMIO_MAGIC; break;
	case REG_VERSION: *value = 2; break;
	case REG_DEVICE_ID: *value = vdev->ops->device_id; break;
	case REG_VENDOR_ID: *value = VIRTIO_MMIO_VENDOR; break;
	case REG_DEVICE_FEATURES:
		if (vdev->device_features_sel < 2)
			*value =
			    (uint32_t)(device_features(vdev) >> (32 * vdev->device_features_sel));
		break;
	case REG_QUEUE_NUM_MAX: *value = vq ? VIRTQ_MAX_SIZE : 0; break;
	case REG_QUEUE_READY: *value = vq && vq->ready; break;
	case REG_INTERRUPT_STATUS: *value = vdev->interrupt_status; break;
	case REG_STATUS: *value = vdev->status; break;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
	case REG_SHM_BASE_LOW:
	case REG_SHM_BASE_HIGH: *value = 0xffffffff; break; /* no shared memory regions */
	case REG_QUEUE_DESC_LOW: *value = vq ? (uint32_t)vq->desc_gpa : 0; break;
	case REG_QUEUE_DESC_HIGH: *value = vq ? vq->desc_gpa >> 32 : 0; break;
	case REG_QUEUE_DRIVER_LOW: *value = vq ? (uint32_t)vq->avail_gpa : 0; break;
	case REG_QUEUE_DRIVER_HIGH: *value = vq ? vq->avail_gpa >> 32 : 0; break;
	case REG_QUEUE_DEVICE_LOW: *value = vq ? (uint32_t)vq->used_gpa : 0; break;
	case REG_QUEUE_DEVICE_HIGH: *value = vq ? vq->used_gpa >> 32 : 0; break;
	case REG_CONFIG_GENERATION: *value = vdev->config_generation; break;
	default: break; /* write-only and reserved registers read as zero */
	}
	return 0;
}

static void set_low(uint64_t *reg, uint32_t v)
{
	*reg = (*reg & ~0xffffffffULL) | v;
}

static void set_high(uint64_t *reg, uint32_t v)
{
	*reg = (*reg & 0xffffffffULL) | (uint64_t)v << 32;
}

static void write_status(struct virtio_mmio *vdev, uint32_t v)
{
	if (v == 0) {
		virtio_mmio_reset(vdev);
		return;
	}
	uint32_t old = vdev->status;
	/* NEEDS_RESET is the device's bit: the driver cannot clear it. */
	v = (v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* §3.1.1: refuse feature sets we did not offer or without VERSION_1. */
		uint64_t offered = device_features(vdev);
		if ((vdev->driver_features & ~offered) ||
		    !virtio_mmio_has_feature(vdev, VIRTIO_F_VERSION_1))
			v &= ~VIRTIO_STATUS_FEATURES_OK;
		for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
			vdev->vq[q].indirect =
			    virtio_mmio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
			vdev->vq[q].event_idx = virtio_mmio_has_feature(vdev, VIRTIO_F_EVENT_IDX);
		}
	}
	vdev->status = v;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    virtio_mmio_live(vdev)) {
		if (vdev->ops->driver_ok)
			vdev->ops->driver_ok(vdev);
		/* Buffers made available before DRIVER_OK are processed now. */
		for (unsigned q = 0; q < vdev->ops->nqueues; q++)
			if (vdev->vq[q].ready && vdev->ops->queue_notify)
				vdev->ops->queue_notify(vdev, q);
	}
}

static void write_queue_ready(struct virtio_mmio *vdev, struct virtq *vq, uint32_t v)
{
	if (!v) {
		vq->ready = false;
		return;
	}
	struct vs_err err = VS_ERR_INIT;
	if (virtq_validate(vq, &err) < 0) {
		virtio_mmio_fail(vdev, "queue %u: %s", vdev->queue_sel, err.msg);
		return;
	}
	vq->ready = true;
}

static int virtio_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct virtio_mmio *vdev = opaque;
	struct virtq *vq = selected_queue(vdev);
	uint32_t v = (uint32_t)value;
	if (off >= REG_CONFIG) {
		uint32_t coff = (uint32_t)(off - REG_CONFIG);
		if (vdev->ops->config_write && coff <= vdev->ops->config_size &&
		    size <= vdev->ops->config_size - coff)
			vdev->ops->config_write(vdev, coff, &value, size);
		return 0;
	}
	if (size != 4 || off % 4)
		return -1;
	/* Queue layout registers are frozen while the queue is ready (§4.2.2.2). */
	bool queue_frozen = !vq || vq->ready;
	switch (off) {
	case REG_DEVICE_FEATURES_SEL: vdev->device_features_sel = v; break;
	case REG_DRIVER_FEATURES_SEL: vdev->driver_features_sel = v; break;
	case REG_DRIVER_FEATURES:
		if (vdev->status & VIRTIO_STATUS_FEATURES_OK)
			break;
		if (vdev->driver_features_sel == 0)
			set_low(&vdev->driver_features, v);
		else if (vdev->driver_features_sel == 1)
			set_high(&vdev->driver_features, v);
		break;
	case REG_QUEUE_SEL: vdev->queue_sel = v; break;
	case REG_QUEUE_NUM:
		if (!queue_frozen)
			vq->num = v;
		break;
	case REG_QUEUE_READY:
		if (vq)
			write_queue_ready(vdev, vq, v);
		break;
	case REG_QUEUE_NOTIFY:
		/* A pending queue is processed by the next virtio_mmio_service. */
		if (v < vdev->ops->nqueues && vdev->vq[v].ready && virtio_mmio_live(vdev) &&
		    !(vdev->pending & 1U << v) && vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, v);
		break;
	case REG_INTERRUPT_ACK:
		vdev->interrupt_status &= ~v;
		update_irq(vdev);
		break;
	case REG_STATUS: write_status(vdev, v); break;
	case REG_QUEUE_DESC_LOW:
		if (!queue_frozen)
			set_low(&vq->desc_gpa, v);
		break;
	case REG_QUEUE_DESC_HIGH:
		if (!queue_frozen)
			set_high(&vq->desc_gpa, v);
		break;
	case REG_QUEUE_DRIVER_LOW:
		if (!queue_frozen)
			set_low(&vq->avail_gpa, v);
		break;
	case REG_QUEUE_DRIVER_HIGH:
		if (!queue_frozen)
			set_high(&vq->avail_gpa, v);
		break;
	case REG_QUEUE_DEVICE_LOW:
		if (!queue_frozen)
			set_low(&vq->used_gpa, v);
		break;
	case REG_QUEUE_DEVICE_HIGH:
		if (!queue_frozen)
			set_high(&vq->used_gpa, v);
		break;
	case REG_QUEUE_RESET:
		if (vq && v == 1) {
			bool indirect = vq->indirect, event_idx = vq->event_idx;
			virtq_reset(vq);
			vq->indirect = indirect;
			vq->event_idx = event_idx;
		}
		break;
	default: break; /* read-only and reserved registers ignore writes */
	}
	return 0;
}

const struct vm_mmio_ops virtio_mmio_ops = { virtio_mmio_read, virtio_mmio_write };

void virtio_mmio_save(const struct virtio_mmio *vdev, struct vm_state *s)
{
	vm_state_put_u32(s, vdev->ops->device_id);
	vm_state_put_u32(s, vdev->status);
	vm_state_put_u32(s, vdev->device_features_sel);
	vm_state_put_u32(s, vdev->driver_features_sel);
	vm_state_put_u64(s, vdev->driver_features);
	vm_state_put_u32(s, vdev->queue_sel);
	vm_state_put_u32(s, vdev->interrupt_status);
	vm_state_put_u32(s, vdev->config_generation);
	vm_state_put_str(s, vdev->failure);
	vm_state_put_u32(s, vdev->failures);
	vm_state_put_u32(s, vdev->ops->nqueues);
	for (unsigned q = 0; q < vdev->ops->nqueues; q++) {
		const struct virtq *vq = &vdev->vq[q];
		vm_state_put_u32(s, vq->num);
		vm_state_put_u8(s, vq->ready);
		vm_state_put_u64(s, vq->desc_gpa);
		vm_state_put_u64(s, vq->avail_gpa);
		vm_state_put_u64(s, vq->used_gpa);
		vm_state_put_u16(s, vq->last_avail);
		vm_state_put_u16(s, vq->used_idx);
		vm_state_put_u8(s, vq->indirect);
		vm_state_put_u8(s, vq->event_idx);
		vm_state_put_u16(s, vq->signalled_used);
		vm_state_put_u8(s, vq->signalled_valid);
		vm_state_put_u8(s, vq->unsignalled);
	}
	const void *cfg = vdev->ops->config ? vdev->ops->config((struct virtio_mmio *)vdev) : NULL;
	vm_state_put_u32(s, cfg ? vdev->ops->config_size : 0);
	if (cfg)
		vm_state_put_bytes(s, cfg, vdev->ops->config_size);
	if (vdev->ops->save)
		vdev->ops->save(vdev, s);
}

int virtio_mmio_load(struct virtio_mmio *vdev, struct vm_state *s, bool apply, struct vs_err *err)
{
	struct virtio_mmio n = *vdev;
	const char *name = vdev->ops->name;
	uint32_t id = vm_state_get_u32(s);
	if (id != vdev->ops->device_id)
		return vs_errf(err, EINVAL, "virtio-%s: snapshot holds device type %u here", name,
			       id);
	n.status = vm_state_get_u32(s);
	n.device_features_sel = vm_state_get_u32(s);
	n.driver_features_sel = vm_state_get_u32(s);
	n.driver_features = vm_state_get_u64(s);
	n.queue_sel = vm_state_get_u32(s);
	n.interrupt_status = vm_state_get_u32(s) & (VIRTIO_INT_USED | VIRTIO_INT_CONFIG);
	n.config_generation = vm_state_get_u32(s);
	vm_state_get_str(s, n.failure, sizeof(n.failure));
	n.failures = vm_state_get_u32(s);
	uint32_t nq = vm_state_get_u32(s);
	if (nq != vdev->ops->nqueues)
		return vs_errf(err, EINVAL, "virtio-%s: snapshot has %u queues, device %u", name,
			       nq, vdev->ops->nqueues);
	for (unsigned q = 0; q < nq; q++) {
		struct virtq *vq = &n.vq[q];
		vq->num = vm_state_get_u32(s);
		vq->ready = vm_state_get_bool(s);
		vq->desc_gpa = vm_state_get_u64(s);
		vq->avail_gpa = vm_state_get_u64(s);
		vq->used_gpa = vm_state_get_u64(s);
		vq->last_avail = vm_state_get_u16(s);
		vq->used_idx = vm_state_get_u16(s);
		vq->indirect = vm_state_get_bool(s);
		vq->event_idx = vm_state_get_bool(s);
		vq->signalled_used = vm_state_get_u16(s);
		vq->signalled_valid = vm_state_get_bool(s);
		vq->unsignalled = vm_state_get_bool(s);
	}
	uint32_t cfg_size = vm_state_get_u32(s);
	const void *cfg = vdev->ops->config ? vdev->ops->config(vdev) : NULL;
	uint32_t want = cfg ? vdev->ops->config_size : 0;
	if (cfg_size != want)
		return vs_errf(err, EINVAL, "virtio-%s: configuration of %u bytes, device has %u",
			       name, cfg_size, want);
	uint8_t saved_cfg[256];
	if (cfg_size > sizeof(saved_cfg))
		return vs_errf(err, EINVAL, "virtio-%s: configuration too large", name);
	vm_state_get_bytes(s, saved_cfg, cfg_size);
	size_t model_pos = s->pos;
	int r;
	if (vdev->ops->load && (r = vdev->ops->load(vdev, s, false, err)) < 0)
		return r;
	if ((r = vm_state_check_end(s, name, err)) < 0)
		return r;
	if (cfg_size && !vdev->ops->load && memcmp(saved_cfg, cfg, cfg_size) != 0)
		return vs_errf(err, EINVAL,
			       "virtio-%s: device configuration differs from the snapshot's "
			       "(another disk size or MAC address?)",
			       name);
	for (unsigned q = 0; q < nq; q++) {
		struct vs_err qerr = VS_ERR_INIT;
		if (n.vq[q].ready && virtq_validate(&n.vq[q], &qerr) < 0)
			return vs_errf(err, EINVAL, "virtio-%s: queue %u: %s", name, q, qerr.msg);
	}
	if (!apply)
		return 0;
	*vdev = n;
	if (vdev->ops->load) { /* decoded and checked above: cannot fail now */
		struct vm_state again = vm_state_reader(s->data, s->len);
		again.pos = model_pos;
		vdev->ops->load(vdev, &again, true, err);
	}
	update_irq(vdev);
	return 0;
}

void virtio_mmio_after_load(struct virtio_mmio *vdev)
{
	if (!virtio_mmio_live(vdev)) {
		if (vdev->ops->reset)
			vdev->ops->reset(vdev);
		return;
	}
	if (vdev->ops->driver_ok)
		vdev->ops->driver_ok(vdev);
	for (unsigned q = 0; q < vdev->ops->nqueues; q++)
		if (vdev->vq[q].ready && vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, q);
}
