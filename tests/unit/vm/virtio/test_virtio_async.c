/*
 * Unit tests of the disk I/O thread (lib/vm/backend/block_queue.c), of
 * virtio-blk completing through it asynchronously, and of the virtio
 * transport's per-pass work budget.  The block backend here counts its calls
 * and can be slowed down or blocked, so that pieces, cancellation and the
 * bounded close are observable.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "fake_guest.h"
#include "vessel/core/util.h"

/* ---- a counting, optionally slow or blocking, in-memory backend --------- */

struct slow_backend {
	struct vm_block_backend be;
	uint8_t *data;
	unsigned calls;	    /* data operations (atomic) */
	unsigned delay_us;  /* per call */
	int block;	    /* atomic: calls wait while set */
	int closed;	    /* atomic: close ran */
	bool free_on_close; /* else the test frees it */
};

static void slow_enter(struct slow_backend *s)
{
	__atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&s->block, __ATOMIC_SEQ_CST)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (s->delay_us) {
		struct timespec ts = { 0, (long)s->delay_us * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int slow_preadv(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
		       struct vs_err *err)
{
	struct slow_backend *s = (struct slow_backend *)be;
	slow_enter(s);
	for (int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, s->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int slow_pwritev(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
			struct vs_err *err)
{
	struct slow_backend *s = (struct slow_backend *)be;
	slow_enter(s);
	for (int i = 0; i < n; i++) {
		memcpy(s->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int slow_flush(struct vm_block_backend *be, struct vs_err *err)
{
	slow_enter((struct slow_backend *)be);
	return 0;
}

static int slow_zeroes(struct vm_block_backend *be, uint64_t off, uint64_t len, struct vs_err *err)
{
	struct slow_backend *s = (struct slow_backend *)be;
	slow_enter(s);
	memset(s->data + off, 0, len);
	return 0;
}

static void slow_close(struct vm_block_backend *be)
{
	struct slow_backend *s = (struct slow_backend *)be;
	bool free_it = s->free_on_close;
	__atomic_store_n(&s->closed, 1, __ATOMIC_SEQ_CST);
	if (free_it) {
		free(s->data);
		free(s);
	}
}

static const struct vm_block_backend_ops slow_ops = { slow_preadv, slow_pwritev, slow_flush,
						      slow_zeroes, slow_zeroes,	 slow_close,
						      NULL,	   NULL,	 NULL,
						      NULL };

static struct slow_backend *slow_new(uint64_t size)
{
	struct slow_backend *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->data = calloc(1, size);
	assert_non_null(s->data);
	for (uint64_t i = 0; i < size; i++)
		s->data[i] = (uint8_t)(i * 13 + i / 4096);
	s->be = (struct vm_block_backend){ .ops = &slow_ops, .size = size, .readonly = false };
	return s;
}

static void slow_free(struct slow_backend *s)
{
	free(s->data);
	free(s);
}

/* Wait (up to 10 s) for the queue's completions; returns the list. */
static struct vm_block_req *wait_reap(struct vm_block_queue *q)
{
	struct pollfd pfd = { .fd = vm_block_queue_fd(q), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct vm_block_req *list = vm_block_queue_reap(q);
	assert_non_null(list);
	return list;
}

/* ---- the I/O thread ------------------------------------------------------ */

/* Requests complete in order; large ones run as several pieces. */
static void test_queue_order_and_pieces(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	const uint64_t size = 16 << 20;
	struct slow_backend *s = slow_new(size);
	struct vm_block_queue *q = vm_block_queue_new(&s->be, &err);
	assert_non_null(q);

	uint8_t *buf = malloc(size);
	assert_non_null(buf);
	memset(buf, 0x5a, size);
	struct iovec iov = { buf, size };
	struct vm_block_req w = { .op = VM_BLOCK_WRITE, .iov = &iov, .iovcnt = 1, .len = size };
	struct vm_block_req f = { .op = VM_BLOCK_FLUSH };
	vm_block_queue_submit(q, &w);
	vm_block_queue_submit(q, &f);
	unsigned seen = 0;
	while (seen < 2) {
		for (struct vm_block_req *r = wait_reap(q); r; r = r->next) {
			assert_ptr_equal(r, seen == 0 ? &w : &f);
			assert_int_equal(r->result, 0);
			seen++;
		}
	}
	assert_int_equal(s->data[0], 0x5a);
	assert_int_equal(s->data[size - 1], 0x5a);
	/* 16 MiB cannot be one piece (the first piece is 256 KiB). */
	assert_true(s->calls > 2);

	s->free_on_close = true;
	assert_int_equal(vm_block_queue_close(q, vs_now_ns() + 5000000000ULL, NULL), 0);
	free(buf);
}

/* A cancelled request stops at a piece boundary with -ECANCELED. */
static void test_queue_cancel(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	const uint64_t size = 64 << 20;
	struct slow_backend *s = slow_new(size);
	s->delay_us = 3000; /* 3 ms per piece */
	struct vm_block_queue *q = vm_block_queue_new(&s->be, &err);
	assert_non_null(q);
	struct vm_block_req z = { .op = VM_BLOCK_WRITE_ZEROES, .nranges = 1 };
	z.range[0].offset = 0;
	z.range[0].len = size;
	vm_block_queue_submit(q, &z);
	while (__atomic_load_n(&s->calls, __ATOMIC_SEQ_CST) < 2) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	vm_block_queue_cancel(&z);
	struct vm_block_req *r = wait_reap(q);
	assert_ptr_equal(r, &z);
	assert_int_equal(z.result, -ECANCELED);
	/* Pieces shrink towards 2 ms, so 64 MiB would take far more calls. */
	assert_true(s->data[size - 1] != 0);
	s->free_on_close = true;
	assert_int_equal(vm_block_queue_close(q, vs_now_ns() + 5000000000ULL, NULL), 0);
}

static unsigned dropped;

static void count_drop(struct vm_block_req *req)
{
	dropped++;
	free(req);
}

/* Close waits until its deadline only; a blocked thread is abandoned, then
 * closes the backend and frees itself and its request once unblocked. */
static void test_queue_close_abandons(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct slow_backend *s = slow_new(1 << 20);
	struct vm_block_queue *q = vm_block_queue_new(&s->be, &err);
	assert_non_null(q);
	s->block = 1;
	struct vm_block_req *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	a->op = b->op = VM_BLOCK_FLUSH;
	vm_block_queue_submit(q, a);
	vm_block_queue_submit(q, b);
	while (__atomic_load_n(&s->calls, __ATOMIC_SEQ_CST) < 1) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	dropped = 0;
	uint64_t t0 = vs_now_ns();
	assert_int_equal(vm_block_queue_close(q, t0 + 20000000ULL, count_drop), -ETIMEDOUT);
	uint64_t took = vs_now_ns() - t0;
	assert_true(took >= 20000000ULL);
	assert_true(took < 2000000000ULL); /* bounded, however loaded the host */
	assert_int_equal(dropped, 1);	   /* b: never started */
	assert_int_equal(s->closed, 0);
	__atomic_store_n(&s->block, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 10000 && !__atomic_load_n(&s->closed, __ATOMIC_SEQ_CST); i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(s->closed, 1);
	/* The thread drops a after closing; give it a moment, then check. */
	for (int i = 0; i < 10000 && __atomic_load_n(&dropped, __ATOMIC_SEQ_CST) < 2; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(dropped, 2);
	slow_free(s);
}

/*
 * An abandoned thread frees the queue as soon as it finishes; close must not
 * touch the queue after letting go of its lock (it used to read q->thread
 * for pthread_detach afterwards: a use-after-free when the thread finished
 * in between, which ASan reports).  Each round's request ends around close's
 * deadline, at offsets spread over the window in which close drops the
 * requests and logs; every abandoned thread is waited for at the end.
 */
static unsigned race_closed;

static void race_close(struct vm_block_backend *be)
{
	slow_close(be);
	__atomic_add_fetch(&race_closed, 1, __ATOMIC_SEQ_CST);
}

static void race_drop(struct vm_block_req *req)
{
	free(req);
}

static void test_queue_close_abandon_race(void **state)
{
	static const struct vm_block_backend_ops ops = { slow_preadv, slow_pwritev, slow_flush,
							 slow_zeroes, slow_zeroes,  race_close,
							 NULL,	      NULL,	    NULL,
							 NULL };
	struct vs_err err = VS_ERR_INIT;
	const unsigned rounds = 60;
	race_closed = 0;
	for (unsigned i = 0; i < rounds; i++) {
		struct slow_backend *s = slow_new(4096);
		s->be.ops = &ops;
		s->free_on_close = true;
		s->delay_us = 2000 + (i % 30) * 20;
		struct vm_block_queue *q = vm_block_queue_new(&s->be, &err);
		assert_non_null(q);
		struct vm_block_req *a = calloc(1, sizeof(*a));
		assert_non_null(a);
		a->op = VM_BLOCK_FLUSH;
		vm_block_queue_submit(q, a);
		while (__atomic_load_n(&s->calls, __ATOMIC_SEQ_CST) < 1)
			sched_yield();
		int r = vm_block_queue_close(q, vs_now_ns() + 2000000ULL, race_drop);
		assert_true(r == 0 || r == -ETIMEDOUT);
	}
	for (int i = 0; i < 10000 && __atomic_load_n(&race_closed, __ATOMIC_SEQ_CST) < rounds;
	     i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(race_closed, rounds);
}

/* ---- virtio-blk over the I/O thread, with a run loop ----------------------- */

struct fake_loop {
	int fd;
	void (*cb)(void *);
	void *opaque;
};

static int loop_watch(void *opaque, int fd, void (*cb)(void *), void *cb_opaque)
{
	struct fake_loop *l = opaque;
	*l = (struct fake_loop){ fd, cb, cb_opaque };
	return 0;
}

static void loop_unwatch(void *opaque, int fd)
{
	struct fake_loop *l = opaque;
	if (l->fd == fd)
		l->fd = -1;
}

/* Run the watched callback once the fd is readable (10 s at most). */
static void loop_run_once(struct fake_loop *l)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	l->cb(l->opaque);
}

#define HDR    (G_DATA)
#define STATUS (G_DATA + 0x800)
#define BUF    (G_DATA + 0x1000)

static void put_request(struct fake_guest *g, uint32_t type, uint64_t sector, uint32_t len,
			bool writable)
{
	uint8_t *h = fg_ptr(g, HDR);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)fg_ptr(g, STATUS) = 0xee;
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, BUF, len, VIRTQ_DESC_F_NEXT | (writable ? VIRTQ_DESC_F_WRITE : 0), 2);
	fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
}

/* The notify returns before the disk work is done; the answer comes when
 * the loop runs the completion callback. */
static void test_blk_async_completion(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	struct fake_loop l = { -1, NULL, NULL };
	struct vm_host_poll poll = { loop_watch, loop_unwatch, &l };
	struct slow_backend *s = slow_new(64 * 1024);
	s->free_on_close = true;
	s->block = 1;
	fg_init(&g);
	fg_attach(&g, virtio_blk_new(&g.bus, &s->be, NULL, &poll, &err));
	assert_true(l.fd >= 0);
	fg_negotiate(&g, 0, 1);
	put_request(&g, 0, 4, 1024, true);
	fg_kick(&g, 0, 0);
	assert_int_equal(fg_used_idx(&g, 0), 0); /* in flight */
	__atomic_store_n(&s->block, 0, __ATOMIC_SEQ_CST);
	loop_run_once(&l);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	assert_int_equal(*(uint8_t *)fg_ptr(&g, STATUS), 0);
	assert_memory_equal(fg_ptr(&g, BUF), s->data + 4 * 512, 1024);
	assert_int_equal(g.irq_level, 1);
	fg_fini(&g);
	assert_int_equal(l.fd, -1); /* unwatched on free */
}

/* A device reset while a request is in flight: the request is cancelled and
 * its answer dropped; the device then serves new requests. */
static void test_blk_reset_in_flight(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	struct fake_loop l = { -1, NULL, NULL };
	struct vm_host_poll poll = { loop_watch, loop_unwatch, &l };
	struct slow_backend *s = slow_new(64 * 1024);
	s->free_on_close = true;
	s->block = 1;
	fg_init(&g);
	fg_attach(&g, virtio_blk_new(&g.bus, &s->be, NULL, &poll, &err));
	fg_negotiate(&g, 0, 1);
	put_request(&g, 1, 0, 512, false);
	memset(fg_ptr(&g, BUF), 0x77, 512);
	fg_kick(&g, 0, 0);
	fg_negotiate(&g, 0, 1); /* resets the device */
	__atomic_store_n(&s->block, 0, __ATOMIC_SEQ_CST);
	loop_run_once(&l);
	assert_int_equal(fg_used_idx(&g, 0), 0);
	assert_int_equal(*(uint8_t *)fg_ptr(&g, STATUS), 0xee);
	put_request(&g, 0, 0, 512, true);
	fg_kick(&g, 0, 0);
	loop_run_once(&l);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	assert_int_equal(*(uint8_t *)fg_ptr(&g, STATUS), 0);
	fg_fini(&g);
}

/* ---- the per-pass budget ------------------------------------------------- */

/* rng: huge buffers get at most 64 KiB each, and once a pass's budget is
 * spent the queue waits for the next pass (virtio_mmio_service). */
static void test_budget_defers_work(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_rng_new(&g.bus, &err));
	fg_negotiate(&g, 0, 1);
	for (unsigned i = 0; i < G_QSIZE; i++)
		fg_desc(&g, 0, i, G_DATA, 256 * 1024, VIRTQ_DESC_F_WRITE, 0);
	/* Within one pass, keep the ring full and notify until nothing moves. */
	uint16_t used = 0;
	for (unsigned round = 0; round < 8; round++) {
		while ((uint16_t)(g.avail_idx[0] - fg_used_idx(&g, 0)) < G_QSIZE)
			fg_publish(&g, 0, (uint16_t)(g.avail_idx[0] % G_QSIZE));
		fg_reg_write(&g, 0x50, 0);
		if (fg_used_idx(&g, 0) == used)
			break;
		used = fg_used_idx(&g, 0);
	}
	uint32_t id, len;
	fg_used_elem(&g, 0, 0, &id, &len);
	assert_int_equal(len, 64 * 1024);
	/* 1 MiB budget / (64 KiB + 4 KiB per chain): 16 chains, not 8 x 16. */
	assert_int_equal(used, 16);
	assert_true(g.vdev->pending & 1);
	assert_false(virtio_mmio_service(g.vdev)); /* nothing left after this pass */
	assert_int_equal(fg_used_idx(&g, 0), 32);  /* the next pass did 16 more */
	fg_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_order_and_pieces),
		cmocka_unit_test(test_queue_cancel),
		cmocka_unit_test(test_queue_close_abandons),
		cmocka_unit_test(test_queue_close_abandon_race),
		cmocka_unit_test(test_blk_async_completion),
		cmocka_unit_test(test_blk_reset_in_flight),
		cmocka_unit_test(test_budget_defers_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
