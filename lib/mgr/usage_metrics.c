/*
 * usage_metrics.c - GET /1.0/metrics: the sampler's newest readings in the
 * Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * One family per metric, all of its samples together after its # HELP and
 * # TYPE lines; names start with vessel_, counters end in _total, units are
 * seconds and bytes; every instance sample carries the labels name, type
 * (container|virtual-machine) and project (user.project, else "default"),
 * with label values escaped (\\, \", \n) as the format requires.  Families
 * whose field no instance measured are left out rather than reported as 0.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_internal.h"
#include "usage_internal.h"

enum kind { COUNTER, GAUGE };

struct family {
	const char *name;
	enum kind kind;
	const char *help;
	uint32_t needs; /* MGR_USAGE_* bit the sample must have */
	double (*get)(const struct usage_last *l);
};

#define NS(f)  ((double)l->s.f / 1e9)
#define U64(f) ((double)l->s.f)
#define GETTER(fn, expr)                             \
	static double fn(const struct usage_last *l) \
	{                                            \
		return (expr);                       \
	}
GETTER(g_cpu, NS(cpu_ns))
GETTER(g_hart, NS(hart_busy_ns))
GETTER(g_mem, U64(memory_bytes))
GETTER(g_memlimit, (double)l->limit_memory)
GETTER(g_cpulimit, l->limit_cpu)
GETTER(g_dr, U64(disk_read_bytes))
GETTER(g_dw, U64(disk_write_bytes))
GETTER(g_dro, U64(disk_read_ops))
GETTER(g_dwo, U64(disk_write_ops))
GETTER(g_rx, U64(net_rx_bytes))
GETTER(g_tx, U64(net_tx_bytes))
GETTER(g_rxp, U64(net_rx_packets))
GETTER(g_txp, U64(net_tx_packets))
GETTER(g_thr, NS(throttled_ns))
GETTER(g_thrp, U64(throttled_periods))
GETTER(g_psi, (double)l->s.pressure_us / 1e6)
GETTER(g_oom, U64(oom_kills))
GETTER(g_gavail, U64(guest_available))
GETTER(g_gtotal, U64(guest_total))

#define LIMIT_CPU (1u << 30)
#define LIMIT_MEM (1u << 31)

static const struct family families[] = {
	{ "vessel_cpu_seconds_total", COUNTER, "CPU time used by the instance.", MGR_USAGE_CPU,
	  g_cpu },
	{ "vessel_cpu_limit_cores", GAUGE, "The instance's limits.cpu (CPUs).", LIMIT_CPU,
	  g_cpulimit },
	{ "vessel_cpu_throttled_seconds_total", COUNTER,
	  "Time the instance's CPU quota held it back (CFS throttling).", MGR_USAGE_THROTTLE,
	  g_thr },
	{ "vessel_cpu_throttled_periods_total", COUNTER,
	  "CFS periods in which the instance was throttled.", MGR_USAGE_THROTTLE, g_thrp },
	{ "vessel_vm_hart_busy_seconds_total", COUNTER,
	  "Host time the VM's harts spent executing (sum over harts).", MGR_USAGE_HARTS, g_hart },
	{ "vessel_memory_usage_bytes", GAUGE,
	  "Memory in use (cgroup working set; VMs: guest total minus available).", MGR_USAGE_MEMORY,
	  g_mem },
	{ "vessel_memory_limit_bytes", GAUGE, "The instance's limits.memory.", LIMIT_MEM,
	  g_memlimit },
	{ "vessel_memory_pressure_seconds_total", COUNTER,
	  "Time some task of the instance stalled on memory (PSI some).", MGR_USAGE_PRESSURE,
	  g_psi },
	{ "vessel_memory_oom_kills_total", COUNTER, "Processes the OOM killer killed.",
	  MGR_USAGE_OOM, g_oom },
	{ "vessel_guest_memory_available_bytes", GAUGE,
	  "Memory the VM's guest says is still available (balloon statistics).",
	  MGR_USAGE_GUEST_MEMORY, g_gavail },
	{ "vessel_guest_memory_total_bytes", GAUGE,
	  "Memory the VM's guest sees (balloon statistics).", MGR_USAGE_GUEST_MEMORY, g_gtotal },
	{ "vessel_disk_read_bytes_total", COUNTER, "Bytes read from block devices.", MGR_USAGE_DISK,
	  g_dr },
	{ "vessel_disk_written_bytes_total", COUNTER, "Bytes written to block devices.",
	  MGR_USAGE_DISK, g_dw },
	{ "vessel_disk_reads_total", COUNTER, "Read operations.", MGR_USAGE_DISK, g_dro },
	{ "vessel_disk_writes_total", COUNTER, "Write operations.", MGR_USAGE_DISK, g_dwo },
	{ "vessel_network_receive_bytes_total", COUNTER, "Bytes the instance received.",
	  MGR_USAGE_NET, g_rx },
	{ "vessel_network_transmit_bytes_total", COUNTER, "Bytes the instance sent.", MGR_USAGE_NET,
	  g_tx },
	{ "vessel_network_receive_packets_total", COUNTER, "Packets the instance received.",
	  MGR_USAGE_NET, g_rxp },
	{ "vessel_network_transmit_packets_total", COUNTER, "Packets the instance sent.",
	  MGR_USAGE_NET, g_txp },
};

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* A label value, escaped. */
static void blabel(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			bprintf(b, "\\\\");
		else if (*v == '"')
			bprintf(b, "\\\"");
		else if (*v == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *v);
	}
}

static bool has(const struct usage_last *l, uint32_t needs)
{
	if (needs == LIMIT_CPU)
		return l->limit_cpu > 0;
	if (needs == LIMIT_MEM)
		return l->limit_memory > 0;
	return (l->s.valid & needs) == needs;
}

int mgr_usage_metrics(struct mgr *m, char **text, size_t *len, struct vs_err *err)
{
	*text = NULL;
	*len = 0;
	struct buf b = { 0 };
	struct mgr_usage *u = m->usage;
	bprintf(&b, "# HELP vessel_instances Instances vesseld manages, by state.\n"
		    "# TYPE vessel_instances gauge\n");
	struct mgr_instance *list = NULL;
	size_t n = 0;
	int r = mgr_instance_db_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	size_t running = 0;
	for (size_t i = 0; i < n; i++)
		running += list[i].power != MGR_POWER_STOPPED;
	mgr_instance_list_free(list, n);
	bprintf(&b, "vessel_instances{state=\"running\"} %zu\n", running);
	bprintf(&b, "vessel_instances{state=\"stopped\"} %zu\n", n - running);
	if (u) {
		pthread_mutex_lock(&u->lock);
		for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
			bool any = false;
			for (size_t i = 0; i < u->nlast && !any; i++)
				any = has(&u->last[i], families[f].needs);
			if (!any)
				continue;
			bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", families[f].name,
				families[f].help, families[f].name,
				families[f].kind == COUNTER ? "counter" : "gauge");
			for (size_t i = 0; i < u->nlast; i++) {
				const struct usage_last *l = &u->last[i];
				if (!has(l, families[f].needs))
					continue;
				bprintf(&b, "%s{name=\"", families[f].name);
				blabel(&b, l->name);
				bprintf(&b, "\",type=\"%s\",project=\"",
					l->type == MGR_INSTANCE_VM ? "virtual-machine"
								   : "container");
				blabel(&b, l->project);
				bprintf(&b, "\"} %.9g\n", families[f].get(l));
			}
		}
		bprintf(&b,
			"# HELP vessel_usage_samples_total Sampling rounds of the usage sampler.\n"
			"# TYPE vessel_usage_samples_total counter\n"
			"vessel_usage_samples_total %llu\n"
			"# HELP vessel_usage_sampler_cpu_seconds_total CPU time the usage sampler "
			"spent.\n"
			"# TYPE vessel_usage_sampler_cpu_seconds_total counter\n"
			"vessel_usage_sampler_cpu_seconds_total %.6f\n",
			(unsigned long long)u->ticks, (double)u->cpu_ns / 1e9);
		pthread_mutex_unlock(&u->lock);
	}
	if (b.oom) {
		free(b.p);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	*text = b.p;
	*len = b.len;
	return 0;
}
