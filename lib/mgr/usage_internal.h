/*
 * usage_internal.h - the sampler's state, shared by usage.c (the thread),
 * usage_metrics.c (the Prometheus exposition) and usage_advice.c.
 */
#ifndef VESSEL_MGR_USAGE_INTERNAL_H
#define VESSEL_MGR_USAGE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/mgr/usage.h"

/* The newest reading of one running instance. */
struct usage_last {
	int64_t id;
	char name[MGR_NAME_MAX + 1];
	char project[128];
	enum mgr_instance_type type;
	double limit_cpu;      /* 0: none */
	uint64_t limit_memory; /* 0: none */
	uint64_t mono_ns;      /* when it was read (monotonic) */
	int64_t wall;	       /* unix seconds */
	struct mgr_usage_sample s;
	struct mgr_usage_row row; /* rates against the previous reading */
	bool have_row;
};

/* A cgroup's cached descriptors, by instance. */
struct usage_fdcache {
	int64_t id;
	char runtime_id[40];
	struct mgr_usage_fds fds;
	bool seen; /* sampled in this tick */
};

struct mgr_usage {
	struct mgr_usage_opts opts;
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t lock; /* guards last[] (written only by the sampler thread,
			       * under the lock), ticks, cpu_ns, stop */
	pthread_cond_t cond;
	struct usage_last *last;
	size_t nlast;
	int64_t maintained; /* the 5-minute bucket the store was last maintained in */
	uint64_t ticks;
	uint64_t cpu_ns;	     /* CPU time the sampler thread spent */
	struct usage_fdcache *cache; /* the sampler thread's own */
	size_t ncache, cache_cap;
};

/* The instance's descriptor cache (from the sampler thread only), or NULL. */
struct mgr_usage_fds *mgr_usage_fds_for(struct mgr *m, const struct mgr_instance *inst);

/* Whether the reading b, taken after a, makes a history row: not when a
 * counter went back (a restart) or b lost a's memory figure. */
bool mgr_usage_row_due(const struct mgr_usage_sample *a, const struct mgr_usage_sample *b);

/* The instance's limits.cpu as cores (a CPU list counts its CPUs), 0: none. */
double mgr_usage_limit_cpu(const struct mgr_instance *inst);
/* limits.memory in bytes, 0: none. */
uint64_t mgr_usage_limit_memory(const struct mgr_instance *inst);
/* user.project, or "default". */
const char *mgr_usage_project(const struct mgr_instance *inst);

#endif
