/*
 * virtio_mmio.h - what the hostile bare-metal guests (hostile.c, stall.c,
 * campaign.c) share of the vessel `virt` board: device addresses, the
 * virtio-mmio register layout (virtio 1.2 §4.2.2), status bits, the split
 * virtqueue's descriptor (§2.7.5) and 32-bit MMIO accessors.
 */
#ifndef HOSTILE_VIRTIO_MMIO_H
#define HOSTILE_VIRTIO_MMIO_H

#include <stdint.h>

#define UART	 0x10000000UL
#define FINISHER 0x100000UL
#define CLINT	 0x2000000UL
#define MTIME_HZ 10000000UL
#define SLOT(i)	 (0x10001000UL + 0x1000UL * (i))

#define R_MAGIC	      0x000
#define R_DEVICE_ID   0x008
#define R_DEV_FEAT    0x010
#define R_DEV_SEL     0x014
#define R_DRV_FEAT    0x020
#define R_DRV_SEL     0x024
#define R_QSEL	      0x030
#define R_QNUM_MAX    0x034
#define R_QNUM	      0x038
#define R_QREADY      0x044
#define R_NOTIFY      0x050
#define R_ISR	      0x060
#define R_ACK	      0x064
#define R_STATUS      0x070
#define R_DESC	      0x080
#define R_DRIVER      0x090
#define R_DEVICE      0x0a0
#define R_QUEUE_RESET 0x0c0
#define R_CONFIG      0x100

#define S_ACK	      1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline void mmio_w32(unsigned long addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint32_t mmio_r32(unsigned long addr)
{
	return *(volatile uint32_t *)addr;
}

#endif
