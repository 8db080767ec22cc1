/*
 * block_queue.c - the I/O thread of one disk (contract in
 * include/vessel/vm/backend.h): block requests leave the machine thread so
 * that a guest request of any size, on any image layout, never stops the run
 * loop from serving timers, signals and exit requests.
 *
 * Threads: the machine thread submits, reaps and closes; the queue's thread
 * is the only one that touches the backend (the image) until close joins it.
 * Two FIFO lists under one mutex: `todo` (submitted) and `done` (completed,
 * announced by writing the eventfd the run loop watches).  The thread takes
 * requests one at a time, in order, so a FLUSH completes after every request
 * submitted before it.  Every signal is blocked on the thread: SIGTERM and
 * friends always land on the machine thread, interrupting its poll.
 *
 * Bounded pieces: reads and writes advance in pieces of at most `piece_rw`
 * bytes, discards and write-zeroes in pieces of `piece_range`; after each
 * piece the thread checks for cancellation and re-sizes the next piece
 * (doubled while a piece takes under a quarter of PIECE_TARGET_NS, shrunk in
 * proportion when it takes longer), so a piece stays a few milliseconds long
 * even on a 512-byte-cluster qcow2.  Range pieces end on multiples of
 * min(piece, 2 MiB) of the disk offset, so that a discard split in pieces
 * still covers whole clusters for every cluster size up to the piece.
 *
 * Cancellation stops a request between pieces: each piece is one complete
 * call into lib/disk, so the image is consistent at every boundary.  On
 * stop the thread finishes (or cancels) the piece in progress and then
 * closes the backend itself, which flushes the image.  Close waits for that
 * until a deadline; past it (a piece or a flush that takes too long, e.g. a
 * slow image layout, or a backend stuck in the kernel) it abandons the
 * thread rather than hang the VMM's exit: the thread finishes on its own and
 * frees everything, unless the process exits first, which leaves the image
 * as a crash would (lib/disk orders its writes so that a crash leaks
 * clusters at worst, never corrupts).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/backend.h"

#define PIECE_TARGET_NS	  2000000ULL /* 2 ms per piece */
#define PIECE_RW_MIN	  (4ULL << 10)
#define PIECE_RANGE_MIN	  (64ULL << 10)
#define PIECE_MAX	  (64ULL << 20)
#define PIECE_ALIGN_MAX	  (2ULL << 20)
#define PIECE_RW_START	  (256ULL << 10)
#define PIECE_RANGE_START (1ULL << 20)

static unsigned queues_abandoned; /* atomic: see vm_block_queue_any_abandoned */

struct vm_block_queue {
	struct vm_block_backend *be;
	int efd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* work submitted, stop requested, thread exited */
	struct vm_block_req *todo, **todo_tail;
	struct vm_block_req *done, **done_tail;
	struct vm_block_req *current;		/* being executed by the thread */
	int stopping;				/* atomic: stop or close was called */
	bool exited;				/* the thread closed the backend and returns */
	bool abandoned;				/* close gave up waiting: the thread cleans up */
	void (*drop)(struct vm_block_req *req); /* for the abandoned thread */
	/* Thread only: */
	uint64_t piece_rw, piece_range;
	struct iovec slice[VM_BLOCK_MAX_IOV];
};

static bool req_cancelled(struct vm_block_queue *q, struct vm_block_req *req)
{
	return __atomic_load_n(&req->cancel, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&q->stopping, __ATOMIC_RELAXED);
}

/* Resize *piece after a piece of len bytes took ns. */
static void piece_adapt(uint64_t *piece, uint64_t min, uint64_t len, uint64_t ns)
{
	if (ns < PIECE_TARGET_NS / 4) {
		if (len >= *piece && *piece < PIECE_MAX)
			*piece *= 2;
	} else if (ns > PIECE_TARGET_NS) {
		uint64_t want = (uint64_t)((double)len * PIECE_TARGET_NS / (double)ns);
		uint64_t p = min;
		while (p * 2 <= want && p * 2 <= PIECE_MAX)
			p *= 2;
		*piece = p;
	}
}

/* iovecs for bytes [off, off + len) of iov[0..cnt) into q->slice. */
static int iov_slice(struct vm_block_queue *q, const struct iovec *iov, int cnt, uint64_t off,
		     uint64_t len)
{
	int n = 0;
	for (int i = 0; i < cnt && len > 0; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		uint64_t take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		q->slice[n++] = (struct iovec){ (uint8_t *)iov[i].iov_base + off, (size_t)take };
		len -= take;
		off = 0;
	}
	return n;
}

static int run_rw(struct vm_block_queue *q, struct vm_block_req *req)
{
	struct vm_block_backend *be = q->be;
	for (uint64_t done = 0; done < req->len;) {
		if (req_cancelled(q, req))
			return -ECANCELED;
		uint64_t n = req->len - done < q->piece_rw ? req->len - done : q->piece_rw;
		int cnt = iov_slice(q, req->iov, req->iovcnt, done, n);
		uint64_t t0 = vs_now_ns();
		int r = req->op == VM_BLOCK_READ
			    ? be->ops->preadv(be, q->slice, cnt, req->offset + done, &req->err)
			    : be->ops->pwritev(be, q->slice, cnt, req->offset + done, &req->err);
		if (r < 0)
			return r;
		piece_adapt(&q->piece_rw, PIECE_RW_MIN, n, vs_now_ns() - t0);
		done += n;
	}
	return 0;
}

static int run_ranges(struct vm_block_queue *q, struct vm_block_req *req)
{
	struct vm_block_backend *be = q->be;
	for (unsigned i = 0; i < req->nranges; i++) {
		uint64_t pos = req->range[i].offset, end = pos + req->range[i].len;
		while (pos < end) {
			if (req_cancelled(q, req))
				return -ECANCELED;
			uint64_t align =
			    q->piece_range < PIECE_ALIGN_MAX ? q->piece_range : PIECE_ALIGN_MAX;
			uint64_t stop = (pos + q->piece_range) / align * align;
			if (stop <= pos || stop > end)
				stop = end;
			uint64_t t0 = vs_now_ns();
			int r = req->op == VM_BLOCK_DISCARD
				    ? be->ops->discard(be, pos, stop - pos, &req->err)
				    : be->ops->write_zeroes(be, pos, stop - pos, &req->err);
			if (r < 0)
				return r;
			piece_adapt(&q->piece_range, PIECE_RANGE_MIN, stop - pos, vs_now_ns() - t0);
			pos = stop;
		}
	}
	return 0;
}

static int run_req(struct vm_block_queue *q, struct vm_block_req *req)
{
	if (req_cancelled(q, req))
		return -ECANCELED;
	switch (req->op) {
	case VM_BLOCK_READ:
	case VM_BLOCK_WRITE: return run_rw(q, req);
	case VM_BLOCK_FLUSH: return q->be->ops->flush(q->be, &req->err);
	case VM_BLOCK_DISCARD:
	case VM_BLOCK_WRITE_ZEROES: return run_ranges(q, req);
	}
	return vs_errf(&req->err, EINVAL, "unknown block operation %d", (int)req->op);
}

static void queue_signal_done(struct vm_block_queue *q)
{
	uint64_t one = 1;
	ssize_t r = write(q->efd, &one, sizeof(one));
	(void)r; /* EAGAIN: the counter is already non-zero, the loop will look */
}

static void drop_list(struct vm_block_req *list, void (*drop)(struct vm_block_req *req))
{
	while (list) {
		struct vm_block_req *next = list->next;
		if (drop)
			drop(list);
		list = next;
	}
}

static void queue_destroy(struct vm_block_queue *q)
{
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
	free(q);
}

static void *queue_thread(void *opaque)
{
	struct vm_block_queue *q = opaque;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->todo && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stopping)
			break;
		struct vm_block_req *req = q->todo;
		q->todo = req->next;
		if (!q->todo)
			q->todo_tail = &q->todo;
		q->current = req;
		pthread_mutex_unlock(&q->lock);

		int r = run_req(q, req);
		if (r == -ECANCELED)
			vs_errf(&req->err, ECANCELED, "request cancelled");

		pthread_mutex_lock(&q->lock);
		q->current = NULL;
		req->result = r < 0 ? r : 0;
		req->next = NULL;
		*q->done_tail = req;
		q->done_tail = &req->next;
		queue_signal_done(q);
	}
	pthread_mutex_unlock(&q->lock);
	vm_block_backend_close(q->be); /* flushes the image */
	pthread_mutex_lock(&q->lock);
	q->exited = true;
	pthread_cond_broadcast(&q->cond);
	if (!q->abandoned) {
		pthread_mutex_unlock(&q->lock);
		return NULL; /* close joins us and frees the queue */
	}
	struct vm_block_req *done = q->done;
	q->done = NULL;
	pthread_mutex_unlock(&q->lock);
	drop_list(done, q->drop);
	queue_destroy(q);
	return NULL;
}

struct vm_block_queue *vm_block_queue_new(struct vm_block_backend *be, struct vs_err *err)
{
	struct vm_block_queue *q = calloc(1, sizeof(*q));
	if (!q) {
		vm_block_backend_close(be);
		vs_errf(err, ENOMEM, "disk I/O thread: out of memory");
		return NULL;
	}
	q->be = be;
	q->todo_tail = &q->todo;
	q->done_tail = &q->done;
	q->piece_rw = PIECE_RW_START;
	q->piece_range = PIECE_RANGE_START;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		vs_syserrf(err, errno, "disk I/O thread: eventfd");
		vm_block_backend_close(be);
		free(q);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&q->lock, NULL);

	/* The thread starts with every signal blocked (it inherits our mask). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&q->thread, NULL, queue_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		vs_syserrf(err, r, "disk I/O thread: pthread_create");
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->lock);
		close(q->efd);
		vm_block_backend_close(be);
		free(q);
		return NULL;
	}
	pthread_setname_np(q->thread, "vessel-blk-io");
	return q;
}

int vm_block_queue_fd(const struct vm_block_queue *q)
{
	return q->efd;
}

void vm_block_queue_submit(struct vm_block_queue *q, struct vm_block_req *req)
{
	req->result = 0;
	req->cancel = 0;
	req->next = NULL;
	vs_err_clear(&req->err);
	pthread_mutex_lock(&q->lock);
	*q->todo_tail = req;
	q->todo_tail = &req->next;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct vm_block_req *vm_block_queue_reap(struct vm_block_queue *q)
{
	uint64_t count;
	ssize_t r = read(q->efd, &count, sizeof(count));
	(void)r; /* EAGAIN: nothing announced since the last reap */
	pthread_mutex_lock(&q->lock);
	struct vm_block_req *list = q->done;
	q->done = NULL;
	q->done_tail = &q->done;
	pthread_mutex_unlock(&q->lock);
	return list;
}

void vm_block_queue_cancel(struct vm_block_req *req)
{
	__atomic_store_n(&req->cancel, 1, __ATOMIC_RELAXED);
}

void vm_block_queue_stop(struct vm_block_queue *q)
{
	pthread_mutex_lock(&q->lock);
	__atomic_store_n(&q->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

int vm_block_queue_close(struct vm_block_queue *q, uint64_t deadline_ns,
			 void (*drop)(struct vm_block_req *req))
{
	if (!q)
		return 0;
	struct timespec deadline = { .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
				     .tv_nsec = (long)(deadline_ns % 1000000000ULL) };
	pthread_mutex_lock(&q->lock);
	__atomic_store_n(&q->stopping, 1, __ATOMIC_RELAXED);
	struct vm_block_req *todo = q->todo;
	q->todo = NULL;
	q->todo_tail = &q->todo;
	pthread_cond_broadcast(&q->cond);
	int r = 0;
	while (!q->exited && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
	bool exited = q->exited;
	struct vm_block_req *done = q->done;
	q->done = NULL;
	q->done_tail = &q->done;
	if (!exited) {
		/* From the unlock on the thread may finish and free q at any
		 * moment: detach it while q is still ours. */
		q->abandoned = true;
		q->drop = drop;
		pthread_detach(q->thread);
	}
	pthread_mutex_unlock(&q->lock);
	drop_list(todo, drop);
	drop_list(done, drop);

	if (!exited) {
		vs_log(VS_LOG_WARN, "disk I/O thread: still busy at exit (a long piece or flush); "
				    "not waiting for it");
		__atomic_add_fetch(&queues_abandoned, 1, __ATOMIC_SEQ_CST);
		return -ETIMEDOUT;
	}
	pthread_join(q->thread, NULL);
	queue_destroy(q);
	return 0;
}

bool vm_block_queue_any_abandoned(void)
{
	return __atomic_load_n(&queues_abandoned, __ATOMIC_SEQ_CST) != 0;
}
