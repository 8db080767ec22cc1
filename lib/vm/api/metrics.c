/*
 * metrics.c - GET /metrics: the VM's counters in the Prometheus text
 * exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats).
 *
 * Every metric has HELP and TYPE lines; names carry the vessel_vmm_ prefix,
 * counters end in _total, units are base units (seconds, bytes).  Runs at a
 * safe point, so the hart counters are a consistent snapshot.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api_internal.h"

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Resident set size of this process (bytes), 0 if unknown. */
static uint64_t process_rss(int statm_fd)
{
	char buf[128];
	unsigned long long size, resident;
	ssize_t n = statm_fd >= 0 ? pread(statm_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void api_metrics_exec(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		api_respond_error(resp, 500, "out of memory");
		return;
	}
	struct vm_machine_stats st;
	vm_machine_stats(api->m, &st);

	metric_head(f, "vessel_vmm_up", "gauge", "1 while the VM process serves its API.");
	fprintf(f, "vessel_vmm_up 1\n");
	metric_head(f, "vessel_vmm_paused", "gauge", "1 while the VM is paused.");
	fprintf(f, "vessel_vmm_paused %d\n", st.paused ? 1 : 0);
	metric_head(f, "vessel_vmm_uptime_seconds", "gauge", "Time since the VM was created.");
	fprintf(f, "vessel_vmm_uptime_seconds %.6f\n", st.uptime_ns / 1e9);
	metric_head(f, "vessel_vmm_paused_seconds_total", "counter", "Time spent paused.");
	fprintf(f, "vessel_vmm_paused_seconds_total %.6f\n", st.paused_ns / 1e9);
	metric_head(f, "vessel_vmm_guest_time_seconds", "gauge",
		    "The guest's timer clock (mtime), which stands still while paused.");
	fprintf(f, "vessel_vmm_guest_time_seconds %.6f\n", (double)st.mtime / VM_TIMEBASE_HZ);
	metric_head(f, "vessel_vmm_safepoints_total", "counter",
		    "Callbacks run with every hart stopped (API requests, snapshots).");
	fprintf(f, "vessel_vmm_safepoints_total %" PRIu64 "\n", st.safepoints);

	metric_head(f, "vessel_vmm_hart_busy_seconds_total", "counter",
		    "Host time spent executing each hart.");
	for (unsigned k = 0; k < st.nharts; k++)
		fprintf(f, "vessel_vmm_hart_busy_seconds_total{hart=\"%u\"} %.6f\n", k,
			st.harts[k].busy_ns / 1e9);
	metric_head(f, "vessel_vmm_hart_idle_seconds_total", "counter",
		    "Time each hart waited for an interrupt (WFI) while the VM ran.");
	for (unsigned k = 0; k < st.nharts; k++)
		fprintf(f, "vessel_vmm_hart_idle_seconds_total{hart=\"%u\"} %.6f\n", k,
			st.harts[k].idle_ns / 1e9);
	metric_head(f, "vessel_vmm_hart_exits_total", "counter",
		    "Times each hart returned to the run loop.");
	for (unsigned k = 0; k < st.nharts; k++)
		fprintf(f, "vessel_vmm_hart_exits_total{hart=\"%u\"} %" PRIu64 "\n", k,
			st.harts[k].slices);
	metric_head(f, "vessel_vmm_hart_instructions_total", "counter",
		    "Instructions retired by each hart.");
	for (unsigned k = 0; k < st.nharts; k++)
		fprintf(f, "vessel_vmm_hart_instructions_total{hart=\"%u\"} %" PRIu64 "\n", k,
			st.harts[k].instret);

	metric_head(f, "vessel_vmm_guest_memory_bytes", "gauge", "Guest RAM size (--mem).");
	fprintf(f, "vessel_vmm_guest_memory_bytes %" PRIu64 "\n", vm_machine_ram_size(api->m));
	metric_head(f, "vessel_vmm_resident_memory_bytes", "gauge",
		    "Resident set size of the vessel-vmm process (guest RAM included).");
	fprintf(f, "vessel_vmm_resident_memory_bytes %" PRIu64 "\n", process_rss(api->statm_fd));
	api_metrics_balloon(api, f);

	metric_head(f, "vessel_vmm_api_requests_total", "counter",
		    "API requests answered, by HTTP status code.");
	for (unsigned s = 100; s < API_MAX_STATUS; s++) {
		uint64_t n = __atomic_load_n(&api->requests[s], __ATOMIC_RELAXED);
		if (n)
			fprintf(f, "vessel_vmm_api_requests_total{code=\"%u\"} %" PRIu64 "\n", s,
				n);
	}
	if (fclose(f) != 0) {
		free(buf);
		api_respond_error(resp, 500, "out of memory");
		return;
	}
	api_respond_text(resp, 200, buf, "text/plain; version=0.0.4; charset=utf-8");
}
