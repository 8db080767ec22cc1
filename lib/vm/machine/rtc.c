/*
 * rtc.c - Goldfish RTC (Android goldfish platform, as in QEMU's
 * hw/rtc/goldfish_rtc.c and Linux's rtc-goldfish driver).
 *
 * Registers (32-bit):
 *   0x00 TIME_LOW   read: low half of the time, latches TIME_HIGH;
 *                   write: sets the time to (TIME_HIGH written before) | value
 *   0x04 TIME_HIGH  read: latched high half; write: staged for TIME_LOW
 *   0x08 ALARM_LOW  write: arms the alarm at (ALARM_HIGH staged) | value
 *   0x0c ALARM_HIGH write: staged for ALARM_LOW
 *   0x10 IRQ_ENABLED  0x14 CLEAR_ALARM  0x18 ALARM_STATUS
 *   0x1c CLEAR_INTERRUPT
 *
 * Invariant: the interrupt line is high iff irq_enabled && irq_pending.  An
 * armed alarm is checked on every register access and, when the run loop
 * offers polling, by a timerfd set to the alarm's host time.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vessel/vm/rtc.h"
#include "vessel/vm/state.h"

enum {
	RTC_TIME_LOW = 0x00,
	RTC_TIME_HIGH = 0x04,
	RTC_ALARM_LOW = 0x08,
	RTC_ALARM_HIGH = 0x0c,
	RTC_IRQ_ENABLED = 0x10,
	RTC_CLEAR_ALARM = 0x14,
	RTC_ALARM_STATUS = 0x18,
	RTC_CLEAR_INTERRUPT = 0x1c,
};

static uint64_t host_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rtc_now(const struct goldfish_rtc *rtc)
{
	return rtc->now_ns() + (uint64_t)rtc->offset_ns;
}

static void rtc_update_irq(struct goldfish_rtc *rtc)
{
	vm_irq_set(&rtc->irq, rtc->irq_enabled && rtc->irq_pending);
}

static void rtc_disarm_timer(struct goldfish_rtc *rtc)
{
	if (rtc->timer_fd >= 0) {
		struct itimerspec its;
		memset(&its, 0, sizeof(its));
		timerfd_settime(rtc->timer_fd, 0, &its, NULL);
	}
}

/* Fire the alarm if its time has come. */
static void rtc_check_alarm(struct goldfish_rtc *rtc)
{
	if (!rtc->alarm_armed || rtc_now(rtc) < rtc->alarm_ns)
		return;
	rtc->alarm_armed = false;
	rtc->irq_pending = true;
	rtc_disarm_timer(rtc);
	rtc_update_irq(rtc);
}

static void rtc_timer_fired(void *opaque)
{
	struct goldfish_rtc *rtc = opaque;
	uint64_t expirations;
	if (read(rtc->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	rtc_check_alarm(rtc);
}

static void rtc_arm(struct goldfish_rtc *rtc, uint64_t alarm_ns)
{
	rtc->alarm_ns = alarm_ns;
	rtc->alarm_armed = true;
	rtc_check_alarm(rtc);
	if (!rtc->alarm_armed || rtc->timer_fd < 0)
		return;
	uint64_t delta = alarm_ns - rtc_now(rtc);
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(delta / 1000000000ULL);
	its.it_value.tv_nsec = (long)(delta % 1000000000ULL);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(rtc->timer_fd, 0, &its, NULL);
}

int goldfish_rtc_init(struct goldfish_rtc *rtc, struct vm_irq_line irq,
		      const struct vm_host_poll *poll, struct vs_err *err)
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->irq = irq;
	rtc->timer_fd = -1;
	rtc->now_ns = host_realtime_ns;
	if (!poll)
		return 0;
	rtc->poll = *poll;
	rtc->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rtc->timer_fd < 0)
		return vs_syserrf(err, errno, "rtc: timerfd_create");
	int r = poll->watch(poll->opaque, rtc->timer_fd, rtc_timer_fired, rtc);
	if (r < 0) {
		close(rtc->timer_fd);
		rtc->timer_fd = -1;
		return vs_errf(err, -r, "rtc: cannot watch the alarm timer");
	}
	return 0;
}

void goldfish_rtc_fini(struct goldfish_rtc *rtc)
{
	if (rtc->timer_fd >= 0) {
		rtc->poll.unwatch(rtc->poll.opaque, rtc->timer_fd);
		close(rtc->timer_fd);
		rtc->timer_fd = -1;
	}
}

static int rtc_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
	struct goldfish_rtc *rtc = opaque;
	*value = 0;
	if (size != 4 || off % 4)
		return -1;
	rtc_check_alarm(rtc);
	switch (off) {
	case RTC_TIME_LOW: {
		uint64_t now = rtc_now(rtc);
		rtc->time_high = (uint32_t)(now >> 32);
		*value = (uint32_t)now;
		break;
	}
	case RTC_TIME_HIGH: *value = rtc->time_high; break;
	case RTC_ALARM_LOW: *value = (uint32_t)rtc->alarm_ns; break;
	case RTC_ALARM_HIGH: *value = (uint32_t)(rtc->alarm_ns >> 32); break;
	case RTC_IRQ_ENABLED: *value = rtc->irq_enabled; break;
	case RTC_ALARM_STATUS: *value = rtc->alarm_armed; break;
	default: break;
	}
	return 0;
}

static int rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct goldfish_rtc *rtc = opaque;
	uint32_t v = (uint32_t)value;
	if (size != 4 || off % 4)
		return -1;
	switch (off) {
	case RTC_TIME_LOW: {
		uint64_t t = (uint64_t)rtc->set_high << 32 | v;
		rtc->offset_ns = (int64_t)(t - rtc->now_ns());
		break;
	}
	case RTC_TIME_HIGH: rtc->set_high = v; break;
	case RTC_ALARM_LOW: rtc_arm(rtc, (uint64_t)rtc->alarm_high << 32 | v); break;
	case RTC_ALARM_HIGH: rtc->alarm_high = v; break;
	case RTC_IRQ_ENABLED:
		rtc->irq_enabled = v & 1;
		rtc_update_irq(rtc);
		break;
	case RTC_CLEAR_ALARM:
		rtc->alarm_armed = false;
		rtc_disarm_timer(rtc);
		break;
	case RTC_CLEAR_INTERRUPT:
		rtc->irq_pending = false;
		rtc_update_irq(rtc);
		break;
	default: break;
	}
	rtc_check_alarm(rtc);
	return 0;
}

const struct vm_mmio_ops goldfish_rtc_mmio_ops = { rtc_read, rtc_write };

void goldfish_rtc_save(const struct goldfish_rtc *rtc, struct vm_state *s)
{
	vm_state_put_u64(s, (uint64_t)rtc->offset_ns);
	vm_state_put_u32(s, rtc->time_high);
	vm_state_put_u32(s, rtc->alarm_high);
	vm_state_put_u64(s, rtc->alarm_ns);
	vm_state_put_u8(s, rtc->alarm_armed);
	vm_state_put_u8(s, rtc->irq_enabled);
	vm_state_put_u8(s, rtc->irq_pending);
	vm_state_put_u32(s, rtc->set_high);
}

int goldfish_rtc_load(struct goldfish_rtc *rtc, struct vm_state *s, bool apply, struct vs_err *err)
{
	int64_t offset = (int64_t)vm_state_get_u64(s);
	uint32_t time_high = vm_state_get_u32(s), alarm_high = vm_state_get_u32(s);
	uint64_t alarm_ns = vm_state_get_u64(s);
	bool armed = vm_state_get_bool(s), enabled = vm_state_get_bool(s);
	bool pending = vm_state_get_bool(s);
	uint32_t set_high = vm_state_get_u32(s);
	int r = vm_state_check_end(s, "rtc", err);
	if (r < 0 || !apply)
		return r;
	rtc->offset_ns = offset;
	rtc->time_high = time_high;
	rtc->alarm_high = alarm_high;
	rtc->irq_enabled = enabled;
	rtc->irq_pending = pending;
	rtc->set_high = set_high;
	rtc->alarm_armed = false;
	rtc_disarm_timer(rtc);
	if (armed)
		rtc_arm(rtc, alarm_ns);
	else
		rtc->alarm_ns = alarm_ns;
	rtc_update_irq(rtc);
	return 0;
}
