/* qsort: branchy integer code, recursive quicksort of 200 K random keys,
 * repeated. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
#define N 200000
static u32 keys[N];

static void sort(u32 *v, long lo, long hi)
{
	while (lo < hi) {
		u32 p = v[lo + (hi - lo) / 2];
		long i = lo, j = hi;
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				u32 t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (j - lo < hi - i) {
			sort(v, lo, j);
			lo = i;
		} else {
			sort(v, i, hi);
			hi = j;
		}
	}
}

u64 bench_run(void)
{
	u64 x = 2463534242UL, sum = 0;
	for (int rep = 0; rep < 25 * SCALE; rep++) {
		for (int i = 0; i < N; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			keys[i] = (u32)x;
		}
		sort(keys, 0, N - 1);
		for (int i = 1; i < N; i++)
			if (keys[i - 1] > keys[i])
				return ~0UL;
		sum += keys[N / 2];
	}
	return sum;
}
