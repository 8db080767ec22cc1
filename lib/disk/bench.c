/*
 * bench.c - a request generator for measuring an image's I/O path, shaped
 * like `qemu-img bench`: count requests of buffer_size bytes starting at
 * offset, each step bytes after the previous one (wrapping at the end of
 * the disk), or at random aligned offsets.  Only the requests are timed,
 * not the open or the final flush/close (as in qemu-img bench).
 *
 * disk_image_bench_parallel keeps up to `depth` read requests in flight
 * (qemu-img bench's -d): one thread per handle, each handle a separate
 * read-only open of the same image (an image handle is not shared between
 * threads: its L2 cache is not locked), requests handed out in order from
 * one counter.  Reads only: two writable handles on one image would each
 * allocate clusters and corrupt it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/util.h"

#include "disk_internal.h"

#define BENCH_SEED 0x9e3779b97f4a7c15ULL

/* Where the next request goes: at off (the previous one plus the step),
 * back at 0 when it would pass the end, or at a random aligned offset
 * (xorshift on *rng). */
static uint64_t bench_place(const struct disk_bench_options *o, uint64_t size, uint64_t off,
			    uint64_t *rng)
{
	uint64_t bs = o->buffer_size;
	if (o->random) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		return (*rng % (size / bs)) * bs;
	}
	return off + bs > size ? 0 : off;
}

int disk_image_bench(struct disk_image *img, const struct disk_bench_options *o,
		     struct disk_bench_result *res, struct vs_err *err)
{
	uint64_t size = img->size, bs = o->buffer_size, step = o->step ? o->step : bs;
	if (bs == 0 || bs > size || bs > (64ULL << 20))
		return vs_errf(err, EINVAL, "buffer size %llu invalid for a %llu-byte disk",
			       (unsigned long long)bs, (unsigned long long)size);
	uint8_t *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, bs))
		return vs_errf(err, ENOMEM, "out of memory");
	memset(buf, o->pattern, bs);
	uint64_t off = o->offset, rng = BENCH_SEED;
	int r = 0;
	uint64_t t0 = vs_now_ns();
	for (uint64_t i = 0; i < o->count; i++) {
		off = bench_place(o, size, off, &rng);
		if (o->write)
			r = disk_image_pwrite(img, buf, bs, off, err);
		else
			r = disk_image_pread(img, buf, bs, off, err);
		if (r < 0)
			break;
		if (o->flush_interval && (i + 1) % o->flush_interval == 0 &&
		    (r = disk_image_flush(img, err)) < 0)
			break;
		off += step;
	}
	res->elapsed_ns = vs_now_ns() - t0;
	res->bytes = o->count * bs;
	free(buf);
	return r;
}

/* The offsets of a run's requests in order, placed as disk_image_bench
 * places them. */
static uint64_t *bench_offsets(const struct disk_bench_options *o, uint64_t size)
{
	uint64_t bs = o->buffer_size, step = o->step ? o->step : bs;
	uint64_t *v = malloc(sizeof(uint64_t) * o->count);
	if (!v)
		return NULL;
	uint64_t off = o->offset, rng = BENCH_SEED;
	for (uint64_t i = 0; i < o->count; i++) {
		off = bench_place(o, size, off, &rng);
		v[i] = off;
		off += step;
	}
	return v;
}

struct bench_shared {
	const struct disk_bench_options *o;
	const uint64_t *offs;
	atomic_uint_fast64_t next;
	atomic_int failed;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go;		   /* under lock: 0 wait, 1 run, -1 give up */
	struct vs_err err; /* first failure, under lock */
};

struct bench_worker {
	pthread_t tid;
	struct bench_shared *sh;
	struct disk_image *img;
	uint8_t *buf;
};

static void *bench_worker_run(void *arg)
{
	struct bench_worker *w = arg;
	struct bench_shared *sh = w->sh;
	struct vs_err err = VS_ERR_INIT;
	pthread_mutex_lock(&sh->lock);
	while (sh->go == 0)
		pthread_cond_wait(&sh->cond, &sh->lock);
	int go = sh->go;
	pthread_mutex_unlock(&sh->lock);
	while (go > 0 && !atomic_load_explicit(&sh->failed, memory_order_relaxed)) {
		uint64_t i = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed);
		if (i >= sh->o->count)
			break;
		if (disk_image_pread(w->img, w->buf, sh->o->buffer_size, sh->offs[i], &err) < 0) {
			pthread_mutex_lock(&sh->lock);
			if (!atomic_load(&sh->failed))
				sh->err = err;
			atomic_store(&sh->failed, 1);
			pthread_mutex_unlock(&sh->lock);
			break;
		}
	}
	return NULL;
}

static void bench_release(struct bench_shared *sh, int go)
{
	pthread_mutex_lock(&sh->lock);
	sh->go = go;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

int disk_image_bench_parallel(struct disk_image **imgs, unsigned depth,
			      const struct disk_bench_options *o, struct disk_bench_result *res,
			      struct vs_err *err)
{
	if (depth == 1)
		return disk_image_bench(imgs[0], o, res, err);
	if (depth == 0 || depth > DISK_BENCH_MAX_DEPTH)
		return vs_errf(err, EINVAL, "queue depth %u out of range 1-%u", depth,
			       DISK_BENCH_MAX_DEPTH);
	if (o->write || o->flush_interval)
		return vs_errf(err, EINVAL,
			       "a queue depth above 1 is for read requests only "
			       "(one image handle per request in flight)");
	uint64_t size = imgs[0]->size, bs = o->buffer_size;
	if (bs == 0 || bs > size || bs > (64ULL << 20))
		return vs_errf(err, EINVAL, "buffer size %llu invalid for a %llu-byte disk",
			       (unsigned long long)bs, (unsigned long long)size);
	if (o->count > DISK_BENCH_MAX_PARALLEL_COUNT)
		return vs_errf(err, EINVAL, "at most %llu requests with a queue depth above 1",
			       (unsigned long long)DISK_BENCH_MAX_PARALLEL_COUNT);
	for (unsigned i = 1; i < depth; i++)
		if (imgs[i]->size != size)
			return vs_errf(err, EINVAL, "bench handles disagree on the disk size");
	struct bench_shared sh = { .o = o, .go = 0 };
	struct bench_worker *w = calloc(depth, sizeof(*w));
	sh.offs = bench_offsets(o, size);
	int r = 0;
	if (!w || !sh.offs)
		r = vs_errf(err, ENOMEM, "out of memory");
	for (unsigned i = 0; i < depth && r == 0; i++) {
		w[i].sh = &sh;
		w[i].img = imgs[i];
		if (posix_memalign((void **)&w[i].buf, 4096, bs))
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			memset(w[i].buf, o->pattern, bs);
	}
	if (r < 0)
		goto out;
	atomic_init(&sh.next, 0);
	atomic_init(&sh.failed, 0);
	vs_err_clear(&sh.err);
	pthread_mutex_init(&sh.lock, NULL);
	pthread_cond_init(&sh.cond, NULL);
	unsigned started = 0;
	for (; started < depth; started++) {
		int e = pthread_create(&w[started].tid, NULL, bench_worker_run, &w[started]);
		if (e) {
			r = vs_errf(err, e, "cannot start bench thread %u", started);
			break;
		}
	}
	/* the clock starts when every handle's thread exists */
	uint64_t t0 = vs_now_ns();
	bench_release(&sh, r == 0 ? 1 : -1);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	res->elapsed_ns = vs_now_ns() - t0;
	res->bytes = o->count * bs;
	if (r == 0 && atomic_load(&sh.failed)) {
		*err = sh.err;
		r = -sh.err.code;
	}
	pthread_cond_destroy(&sh.cond);
	pthread_mutex_destroy(&sh.lock);
out:
	for (unsigned i = 0; w && i < depth; i++)
		free(w[i].buf);
	free(w);
	free((void *)sh.offs);
	return r;
}
