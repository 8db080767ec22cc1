/*
 * Unit tests of the machine's safe points and paused state
 * (lib/vm/machine/machine.c): a real machine with two harts spinning in a
 * loop (or sleeping in WFI) runs on a thread while the test thread asks
 * for safe-point callbacks, pauses and resumes it.  Checks that callbacks
 * run on the machine thread with no hart inside a slice, that while paused
 * no instruction retires and mtime stands still, that resume continues both,
 * that callbacks work before the loop starts and after it ended, that
 * concurrent requesters are serialised, and that requests made while the
 * loop ends are all answered.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vessel/core/util.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/machine.h"

#define RAM_BASE    0x80000000ULL
#define RAM_SIZE    (1ULL << 20)
#define INSN_J_SELF 0x0000006fu /* j . */
#define INSN_WFI    0x10500073u /* wfi */
#define INSN_J_BACK 0xffdff06fu /* j .-4 */

struct fixture {
	struct vm_machine *m;
	pthread_t thread;
	pthread_t loop_thread;
	bool started; /* loop_thread is set */
	struct vm_exit exit;
};

static void *run_thread(void *opaque)
{
	struct fixture *f = opaque;
	struct vs_err err = VS_ERR_INIT;
	f->loop_thread = pthread_self();
	__atomic_store_n(&f->started, true, __ATOMIC_RELEASE);
	assert_int_equal(vm_machine_run(f->m, &f->exit, &err), 0);
	return NULL;
}

static struct vm_machine *new_machine(uint32_t insn0, uint32_t insn1)
{
	struct vs_err err = VS_ERR_INIT;
	struct vm_machine_config cfg = { .ram_base = RAM_BASE, .ram_size = RAM_SIZE, .ncpus = 2 };
	struct vm_machine *m = vm_machine_new(&cfg, &err);
	assert_non_null(m);
	uint32_t prog[2] = { insn0, insn1 };
	memcpy(vm_machine_ram(m), prog, sizeof(prog));
	vm_machine_set_boot(m, RAM_BASE, 0, 0);
	return m;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

struct probe {
	pthread_t loop_thread;
	bool on_loop_thread;
	bool harts_outside;
	uint64_t instret, mtime;
	unsigned calls;
};

static int probe_cb(struct vm_machine *m, void *opaque)
{
	struct probe *p = opaque;
	p->on_loop_thread = pthread_equal(pthread_self(), p->loop_thread);
	p->instret = 0;
	for (unsigned k = 0; k < vm_machine_ncpus(m); k++)
		p->instret += vm_machine_hart(m, k)->instret;
	p->mtime = vm_machine_mtime(m);
	p->calls++;
	return 42;
}

static int pause_cb(struct vm_machine *m, void *opaque)
{
	vm_machine_pause(m);
	return 0;
}

static int resume_cb(struct vm_machine *m, void *opaque)
{
	vm_machine_resume(m);
	return 0;
}

/* Starts the loop and waits (10 s at most: a loaded host may be slow to
 * schedule the thread) until it answers safe points on its own thread;
 * until then they run on the caller's. */
static void start(struct fixture *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, run_thread, f), 0);
	uint64_t deadline = vs_now_ns() + 10000000000ULL;
	while (!__atomic_load_n(&f->started, __ATOMIC_ACQUIRE)) {
		assert_true(vs_now_ns() < deadline);
		sleep_ms(1);
	}
	struct probe p = { .loop_thread = f->loop_thread };
	for (;;) {
		assert_int_equal(vm_machine_run_at_safepoint(f->m, probe_cb, &p), 42);
		if (p.on_loop_thread)
			break;
		assert_true(vs_now_ns() < deadline);
		sleep_ms(1);
	}
}

static void stop(struct fixture *f)
{
	vm_machine_request_exit(f->m, VM_EXIT_USER, 0);
	pthread_join(f->thread, NULL);
	assert_int_equal(f->exit.kind, VM_EXIT_USER);
}

static void test_safepoint_running(void **state)
{
	struct fixture f = { .m = new_machine(INSN_J_SELF, 0) };
	struct probe p = { 0 };
	/* Before the loop runs: on the caller's thread. */
	p.loop_thread = pthread_self();
	assert_int_equal(vm_machine_run_at_safepoint(f.m, probe_cb, &p), 42);
	assert_true(p.on_loop_thread);
	start(&f);
	sleep_ms(20);
	uint64_t last = 0;
	for (int i = 0; i < 200; i++) {
		p.loop_thread = f.loop_thread;
		assert_int_equal(vm_machine_run_at_safepoint(f.m, probe_cb, &p), 42);
		assert_true(p.on_loop_thread);
		assert_true(p.instret >= last);
		last = p.instret;
	}
	assert_true(last > 0); /* the harts ran between the callbacks */

	/* Paused: nothing retires, mtime stands still. */
	vm_machine_run_at_safepoint(f.m, pause_cb, NULL);
	vm_machine_run_at_safepoint(f.m, probe_cb, &p);
	uint64_t i0 = p.instret, t0 = p.mtime;
	uint64_t h0 = vs_now_ns();
	sleep_ms(100);
	vm_machine_run_at_safepoint(f.m, probe_cb, &p);
	assert_int_equal(p.instret, i0);
	assert_int_equal(p.mtime, t0);
	struct vm_machine_stats st;
	vm_machine_stats(f.m, &st);
	assert_true(st.paused);
	assert_true(st.paused_ns >= 90000000ULL);

	/* Resumed: both continue, mtime from where it stood (no jump). */
	vm_machine_run_at_safepoint(f.m, resume_cb, NULL);
	sleep_ms(50);
	vm_machine_run_at_safepoint(f.m, probe_cb, &p);
	uint64_t h1 = vs_now_ns();
	assert_true(p.instret > i0);
	assert_true(p.mtime > t0);
	/* mtime advanced only after the resume, i.e. in less than h1 - h0 - 100 ms. */
	uint64_t guest_ns = (p.mtime - t0) * (1000000000ULL / VM_TIMEBASE_HZ);
	assert_true(guest_ns + 100000000ULL <= h1 - h0);
	stop(&f);

	/* After the loop ended: on the caller's thread again. */
	p.loop_thread = pthread_self();
	assert_int_equal(vm_machine_run_at_safepoint(f.m, probe_cb, &p), 42);
	assert_true(p.on_loop_thread);
	vm_machine_free(f.m);
}

static void test_safepoint_wfi(void **state)
{
	/* Every hart sleeps in WFI: the eventfd must wake the loop. */
	struct fixture f = { .m = new_machine(INSN_WFI, INSN_J_BACK) };
	struct probe p = { 0 };
	start(&f);
	sleep_ms(20);
	for (int i = 0; i < 50; i++) {
		p.loop_thread = f.loop_thread;
		assert_int_equal(vm_machine_run_at_safepoint(f.m, probe_cb, &p), 42);
		assert_true(p.on_loop_thread);
	}
	/* Pausing and exiting while paused works too. */
	vm_machine_run_at_safepoint(f.m, pause_cb, NULL);
	stop(&f);
	vm_machine_free(f.m);
}

struct hammer {
	struct vm_machine *m;
	struct probe p;
};

static int count_cb(struct vm_machine *m, void *opaque)
{
	unsigned *n = opaque;
	(*n)++; /* unsynchronised on purpose: callbacks never overlap */
	return 0;
}

static void *hammer_thread(void *opaque)
{
	struct hammer *h = opaque;
	for (int i = 0; i < 100; i++)
		vm_machine_run_at_safepoint(h->m, count_cb, &h->p.calls);
	return NULL;
}

static void test_safepoint_concurrent(void **state)
{
	struct fixture f = { .m = new_machine(INSN_J_SELF, 0) };
	start(&f);
	struct hammer h = { .m = f.m };
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(h.p.calls, 400);
	stop(&f);
	vm_machine_free(f.m);
}

struct racer {
	struct vm_machine *m;
	unsigned calls;
	volatile int done;
};

static void *racer_thread(void *opaque)
{
	struct racer *r = opaque;
	for (int i = 0; i < 200; i++)
		vm_machine_run_at_safepoint(r->m, count_cb, &r->calls);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_safepoint_at_exit(void **state)
{
	/* Requests keep coming while the loop ends (a control API's GET as a
	 * migrated VMM exits): every one is answered, none waits forever. */
	for (int round = 0; round < 1500; round++) {
		struct fixture f = { .m = new_machine(INSN_J_SELF, 0) };
		struct racer r = { .m = f.m };
		pthread_t t;
		start(&f);
		assert_int_equal(pthread_create(&t, NULL, racer_thread, &r), 0);
		if (round % 3)
			sleep_ms(round % 2);
		stop(&f);
		uint64_t deadline = vs_now_ns() + 30000000000ULL;
		while (!__atomic_load_n(&r.done, __ATOMIC_SEQ_CST)) {
			if (vs_now_ns() > deadline)
				fail_msg("round %d: a safe-point request made as the loop ended "
					 "was never served (%u of 200 done)",
					 round, r.calls);
			sleep_ms(1);
		}
		pthread_join(t, NULL);
		assert_int_equal(r.calls, 200);
		vm_machine_free(f.m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safepoint_running),
		cmocka_unit_test(test_safepoint_wfi),
		cmocka_unit_test(test_safepoint_concurrent),
		cmocka_unit_test(test_safepoint_at_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
