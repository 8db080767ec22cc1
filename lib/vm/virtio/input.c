/*
 * input.c - virtio input device (virtio 1.2 §5.8) as a tiny keyboard that
 * only knows Left Ctrl, Left Alt and Delete: enough to type Ctrl-Alt-Del,
 * the guest shutdown request of the control API (PUT /actions "shutdown").
 *
 * Queues: 0 eventq (device-writable buffers, one struct virtio_input_event
 * {le16 type, le16 code, le32 value} each), 1 statusq (LED state from the
 * driver: consumed and ignored).  Configuration: the driver writes select
 * and subsel, the device answers with size and the union (§5.8.4): name,
 * serial, device ids, event-type bitmaps; anything else has size 0.
 * Events that find no buffer wait in a small ring until the driver adds
 * buffers (they are never dropped while the ring has room).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/vm/state.h"
#include "vessel/vm/virtio.h"

#define INPUT_CFG_UNSET	    0x00
#define INPUT_CFG_ID_NAME   0x01
#define INPUT_CFG_ID_SERIAL 0x02
#define INPUT_CFG_ID_DEVIDS 0x03
#define INPUT_CFG_PROP_BITS 0x10
#define INPUT_CFG_EV_BITS   0x11
#define INPUT_CFG_ABS_INFO  0x12

/* linux/input-event-codes.h */
#define EV_SYN	     0x00
#define EV_KEY	     0x01
#define KEY_LEFTCTRL 29
#define KEY_LEFTALT  56
#define KEY_DELETE   111
#define SYN_REPORT   0
#define BUS_VIRTUAL  0x06

#define Q_EVENT	 0
#define Q_STATUS 1

#define INPUT_PENDING 64

struct input_config {
	uint8_t select, subsel, size, reserved[5];
	union {
		char string[128];
		uint8_t bitmap[128];
		struct {
			uint16_t bustype, vendor, product, version;
		} ids;
	} u;
};

struct input_event {
	uint16_t type, code;
	uint32_t value;
};

struct virtio_input {
	struct virtio_mmio vdev; /* first: the transport */
	struct input_config config;
	struct input_event pending[INPUT_PENDING];
	unsigned head, count;
	struct virtq_chain chain;
};

static struct virtio_input *to_input(struct virtio_mmio *vdev)
{
	return (struct virtio_input *)vdev;
}

static const void *input_config_ptr(struct virtio_mmio *vdev)
{
	return &to_input(vdev)->config;
}

static void input_config_select(struct virtio_input *in)
{
	struct input_config *c = &in->config;
	memset(&c->u, 0, sizeof(c->u));
	c->size = 0;
	switch (c->select) {
	case INPUT_CFG_ID_NAME:
		strcpy(c->u.string, "vessel keyboard");
		c->size = (uint8_t)strlen(c->u.string);
		break;
	case INPUT_CFG_ID_SERIAL:
		strcpy(c->u.string, "vessel-kbd0");
		c->size = (uint8_t)strlen(c->u.string);
		break;
	case INPUT_CFG_ID_DEVIDS:
		c->u.ids.bustype = BUS_VIRTUAL;
		c->u.ids.vendor = 0x1af4; /* the virtio vendor id, as QEMU */
		c->u.ids.product = 0x0001;
		c->u.ids.version = 0x0001;
		c->size = sizeof(c->u.ids);
		break;
	case INPUT_CFG_EV_BITS:
		if (c->subsel == EV_KEY) {
			static const unsigned keys[] = { KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE };
			for (unsigned i = 0; i < 3; i++)
				c->u.bitmap[keys[i] / 8] |= (uint8_t)(1u << (keys[i] % 8));
			c->size = KEY_DELETE / 8 + 1;
		}
		break;
	default: break; /* UNSET, PROP_BITS, ABS_INFO, other types: size 0 */
	}
}

static void input_config_write(struct virtio_mmio *vdev, uint32_t off, const void *buf,
			       unsigned len)
{
	struct virtio_input *in = to_input(vdev);
	/* Only select (0) and subsel (1) are writable. */
	const uint8_t *b = buf;
	for (unsigned i = 0; i < len; i++) {
		if (off + i == 0)
			in->config.select = b[i];
		else if (off + i == 1)
			in->config.subsel = b[i];
	}
	if (off <= 1)
		input_config_select(in);
}

/* Deliver waiting events into the driver's buffers. */
static void input_flush(struct virtio_input *in)
{
	bool pushed = false;
	while (in->count) {
		int r = virtio_mmio_pop(&in->vdev, Q_EVENT, &in->chain);
		if (r <= 0)
			break;
		struct input_event *e = &in->pending[in->head];
		size_t n = virtq_chain_write(&in->vdev.vq[Q_EVENT], &in->chain, 0, e, sizeof(*e));
		virtio_mmio_push(&in->vdev, Q_EVENT, in->chain.head, (uint32_t)n);
		in->head = (in->head + 1) % INPUT_PENDING;
		in->count--;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify(&in->vdev, Q_EVENT);
}

static void input_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_input *in = to_input(vdev);
	if (q == Q_EVENT) {
		input_flush(in);
	} else if (q == Q_STATUS) {
		while (virtio_mmio_pop(vdev, Q_STATUS, &in->chain) > 0)
			virtio_mmio_push(vdev, Q_STATUS, in->chain.head, 0);
		virtio_mmio_notify(vdev, Q_STATUS);
	}
}

static void input_reset(struct virtio_mmio *vdev)
{
	struct virtio_input *in = to_input(vdev);
	in->head = in->count = 0;
}

static void input_free(struct virtio_mmio *vdev)
{
	free(vdev);
}

/* Snapshots: the configuration selector and the events not yet delivered. */
static void input_save(const struct virtio_mmio *vdev, struct vm_state *s)
{
	const struct virtio_input *in = (const struct virtio_input *)vdev;
	vm_state_put_bytes(s, &in->config, sizeof(in->config));
	vm_state_put_u32(s, in->count);
	for (unsigned i = 0; i < in->count; i++) {
		const struct input_event *e = &in->pending[(in->head + i) % INPUT_PENDING];
		vm_state_put_u16(s, e->type);
		vm_state_put_u16(s, e->code);
		vm_state_put_u32(s, e->value);
	}
}

static int input_load(struct virtio_mmio *vdev, struct vm_state *s, bool apply, struct vs_err *err)
{
	struct virtio_input *in = to_input(vdev);
	struct input_config c;
	struct input_event ev[INPUT_PENDING];
	vm_state_get_bytes(s, &c, sizeof(c));
	uint32_t count = vm_state_get_u32(s);
	if (count > INPUT_PENDING)
		return vs_errf(err, EINVAL, "virtio-input: %u pending events", count);
	for (unsigned i = 0; i < count; i++) {
		ev[i].type = vm_state_get_u16(s);
		ev[i].code = vm_state_get_u16(s);
		ev[i].value = vm_state_get_u32(s);
	}
	if (!apply)
		return 0;
	in->config = c;
	memcpy(in->pending, ev, count * sizeof(ev[0]));
	in->head = 0;
	in->count = count;
	return 0;
}

static const struct virtio_ops input_ops = {
	.name = "input",
	.device_id = VIRTIO_ID_INPUT,
	.nqueues = 2,
	.config_size = sizeof(struct input_config),
	.config = input_config_ptr,
	.config_write = input_config_write,
	.queue_notify = input_queue_notify,
	.reset = input_reset,
	.free = input_free,
	.save = input_save,
	.load = input_load,
};

struct virtio_mmio *virtio_input_keyboard_new(const struct vm_bus *bus, struct vs_err *err)
{
	struct virtio_input *in = calloc(1, sizeof(*in));
	if (!in) {
		vs_errf(err, ENOMEM, "virtio-input: out of memory");
		return NULL;
	}
	virtio_mmio_init(&in->vdev, &input_ops, bus);
	return &in->vdev;
}

int virtio_input_send_ctrl_alt_del(struct virtio_mmio *vdev)
{
	struct virtio_input *in = to_input(vdev);
	static const struct input_event seq[] = {
		{ EV_KEY, KEY_LEFTCTRL, 1 }, { EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_LEFTALT, 1 },  { EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_DELETE, 1 },   { EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_DELETE, 0 },   { EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_LEFTALT, 0 },  { EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_LEFTCTRL, 0 }, { EV_SYN, SYN_REPORT, 0 },
	};
	unsigned n = sizeof(seq) / sizeof(seq[0]);
	if (!virtio_mmio_live(vdev))
		return -EAGAIN;
	if (in->count + n > INPUT_PENDING)
		return -EBUSY;
	for (unsigned i = 0; i < n; i++)
		in->pending[(in->head + in->count++) % INPUT_PENDING] = seq[i];
	input_flush(in);
	return 0;
}
