/*
 * Unit tests of the goldfish RTC (lib/vm/machine/rtc.c) with a fake host
 * clock: time reads latch the high half, setting the time keeps an offset,
 * alarms raise the interrupt only when enabled and are cleared by the guest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vessel/vm/rtc.h"

static uint64_t fake_now = 0x123456789abcdef0ULL;
static int irq_level;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void irq_set(void *opaque, unsigned irq, int level)
{
	irq_level = level;
}

static uint32_t rd(struct goldfish_rtc *rtc, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(goldfish_rtc_mmio_ops.read(rtc, off, 4, &v), 0);
	return (uint32_t)v;
}

static void wr(struct goldfish_rtc *rtc, uint64_t off, uint32_t v)
{
	assert_int_equal(goldfish_rtc_mmio_ops.write(rtc, off, 4, v), 0);
}

static void test_rtc_time_and_alarm(void **state)
{
	struct goldfish_rtc rtc;
	assert_int_equal(
	    goldfish_rtc_init(&rtc, (struct vm_irq_line){ irq_set, NULL, 11 }, NULL, NULL), 0);
	rtc.now_ns = fake_clock;
	assert_int_equal(rd(&rtc, 0x00), 0x9abcdef0);
	fake_now += 1ULL << 32; /* the high half is latched by the low read */
	assert_int_equal(rd(&rtc, 0x04), 0x12345678);

	/* Set the time to 1000 s after the epoch. */
	uint64_t t = 1000ULL * 1000000000ULL;
	wr(&rtc, 0x04, (uint32_t)(t >> 32));
	wr(&rtc, 0x00, (uint32_t)t);
	fake_now += 5;
	uint32_t lo = rd(&rtc, 0x00);
	assert_int_equal(((uint64_t)rd(&rtc, 0x04) << 32 | lo), t + 5);

	/* Alarm 100 ns ahead, interrupt enabled. */
	wr(&rtc, 0x10, 1);
	wr(&rtc, 0x0c, (uint32_t)((t + 105) >> 32));
	wr(&rtc, 0x08, (uint32_t)(t + 105));
	assert_int_equal(rd(&rtc, 0x18), 1);
	assert_int_equal(irq_level, 0);
	fake_now += 100;
	assert_int_equal(rd(&rtc, 0x18), 0); /* fired on this access */
	assert_int_equal(irq_level, 1);
	wr(&rtc, 0x1c, 1);
	assert_int_equal(irq_level, 0);

	/* An alarm in the past fires at once; disabled interrupts stay low. */
	wr(&rtc, 0x10, 0);
	wr(&rtc, 0x0c, 0);
	wr(&rtc, 0x08, 1);
	assert_int_equal(irq_level, 0);
	wr(&rtc, 0x10, 1);
	assert_int_equal(irq_level, 1);

	uint64_t v;
	assert_int_equal(goldfish_rtc_mmio_ops.read(&rtc, 1, 4, &v), -1);
	goldfish_rtc_fini(&rtc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtc_time_and_alarm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
