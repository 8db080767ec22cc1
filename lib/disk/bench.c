/*
 * bench.c - a request generator for measuring an image's I/O path, shaped
 * like `qemu-img bench`: count requests of buffer_size bytes starting at
 * offset, each step bytes after the previous one (wrapping at the end of
 * the disk), or at random aligned offsets.  Only the requests are timed,
 * not the open or the final flush/close (as in qemu-img bench).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/util.h"

#include "disk_internal.h"

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
	uint64_t slots = size / bs;
	uint64_t off = o->offset, rng = 0x9e3779b97f4a7c15ULL;
	int r = 0;
	uint64_t t0 = vs_now_ns();
	for (uint64_t i = 0; i < o->count; i++) {
		if (o->random) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			off = (rng % slots) * bs;
		} else if (off + bs > size) {
			off = 0;
		}
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
