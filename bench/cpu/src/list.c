/* list: pointer chasing through a randomly permuted linked list of 256 K
 * nodes (2 MiB): load latency and TLB behaviour. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
#define NODES (1 << 18)
struct node {
	struct node *next;
	u64 value;
};
static struct node nodes[NODES];
static u32 perm[NODES];

u64 bench_run(void)
{
	u64 x = 88172645463325252UL;
	for (u32 i = 0; i < NODES; i++)
		perm[i] = i;
	for (u32 i = NODES - 1; i > 0; i--) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		u32 j = (u32)(x % (i + 1)), t = perm[i];
		perm[i] = perm[j], perm[j] = t;
	}
	for (u32 i = 0; i < NODES; i++) {
		nodes[perm[i]].next = &nodes[perm[(i + 1) % NODES]];
		nodes[perm[i]].value = i;
	}
	u64 sum = 0;
	struct node *p = &nodes[perm[0]];
	for (long k = 0; k < 25L * SCALE * NODES; k++) {
		sum += p->value;
		p = p->next;
	}
	return sum;
}
