/*
 * rtc.h - the Goldfish real-time clock of the `virt` board (Linux
 * drivers/rtc/rtc-goldfish.c, QEMU hw/rtc/goldfish_rtc.c): nanoseconds since
 * the Unix epoch from the host's wall clock plus a guest-set offset, and one
 * alarm that raises its interrupt line (PLIC source 11).
 */
#ifndef VESSEL_VM_RTC_H
#define VESSEL_VM_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/vm/backend.h"
#include "vessel/vm/bus.h"

struct goldfish_rtc {
	/* Register state (serialisable). */
	int64_t offset_ns;   /* guest time - host time */
	uint32_t time_high;  /* latched by a TIME_LOW read */
	uint32_t alarm_high; /* written before ALARM_LOW */
	uint64_t alarm_ns;   /* guest time of the armed alarm */
	bool alarm_armed;
	bool irq_enabled;
	bool irq_pending;
	uint32_t set_high; /* TIME_HIGH written before TIME_LOW */
	/* Host side. */
	struct vm_irq_line irq;
	struct vm_host_poll poll;
	int timer_fd;		  /* timerfd firing at the alarm, -1 when not watched */
	uint64_t (*now_ns)(void); /* host wall clock; replaceable in tests */
};

/* poll may be NULL (alarms then fire only when the guest reads the RTC). */
int goldfish_rtc_init(struct goldfish_rtc *rtc, struct vm_irq_line irq,
		      const struct vm_host_poll *poll, struct vs_err *err);
void goldfish_rtc_fini(struct goldfish_rtc *rtc);

extern const struct vm_mmio_ops goldfish_rtc_mmio_ops;

/*
 * Snapshot section RTC (docs/snapshot-format.md): the guest's offset from
 * the host's wall clock, the alarm and the interrupt state.  A restored
 * RTC keeps telling wall time; an armed alarm is re-armed (and fires at
 * once when its time has passed).  Applies only when apply is true.
 */
struct vm_state;
void goldfish_rtc_save(const struct goldfish_rtc *rtc, struct vm_state *s);
int goldfish_rtc_load(struct goldfish_rtc *rtc, struct vm_state *s, bool apply, struct vs_err *err);

#endif
