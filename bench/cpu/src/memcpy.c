/* memcpy: memory bandwidth, 64-bit word copies between two 1 MiB buffers
 * plus a STREAM-like triad a = b + 3 * c on 64-bit integers. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
#define WORDS (1 << 17)
static u64 a[WORDS], b[WORDS], c[WORDS];

u64 bench_run(void)
{
	for (int i = 0; i < WORDS; i++)
		b[i] = (u64)i * 0x9e3779b97f4a7c15UL, c[i] = (u64)i;
	u64 sum = 0;
	for (int rep = 0; rep < 100 * SCALE; rep++) {
		volatile u64 *dst = rep & 1 ? a : b;
		const u64 *src = rep & 1 ? b : a;
		for (int i = 0; i < WORDS; i += 4) {
			dst[i] = src[i];
			dst[i + 1] = src[i + 1];
			dst[i + 2] = src[i + 2];
			dst[i + 3] = src[i + 3];
		}
		for (int i = 0; i < WORDS; i++)
			a[i] = b[i] + 3 * c[i];
		sum += a[rep];
	}
	return sum;
}
