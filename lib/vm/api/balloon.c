/*
 * balloon.c - the balloon routes of the control API (GET|PATCH /balloon,
 * GET /balloon/statistics) and the balloon's lines of /metrics.
 *
 * Sizes: --mem is the ceiling.  PATCH /balloon {"memory_mib": N} asks the
 * guest to keep N MiB (the balloon grows to ceiling - N); the guest's
 * driver inflates or deflates towards it while it runs, and GET /balloon
 * shows how far it got.  Statistics are asked from the guest on every GET
 * (the device hands the statistics buffer back; the driver refills it) and
 * the reply waits up to STATS_WAIT_MS for the fresh numbers; while the VM
 * is paused the last numbers are returned, with their age.
 */
#include <errno.h>
#include <inttypes.h>

#include "api_internal.h"
#include "vessel/core/util.h"
#include "vessel/vm/virtio.h"

#define MiB	       ((uint64_t)1 << 20)
#define PAGE	       ((uint64_t)4096)
#define MIN_MEMORY_MIB 8
#define STATS_WAIT_MS  2000

static const struct {
	const char *name; /* JSON key and metric label */
	bool bytes;
} stat_names[VIRTIO_BALLOON_S_NR] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = { "swap_in_bytes", true },
	[VIRTIO_BALLOON_S_SWAP_OUT] = { "swap_out_bytes", true },
	[VIRTIO_BALLOON_S_MAJFLT] = { "major_faults", false },
	[VIRTIO_BALLOON_S_MINFLT] = { "minor_faults", false },
	[VIRTIO_BALLOON_S_MEMFREE] = { "free_memory_bytes", true },
	[VIRTIO_BALLOON_S_MEMTOT] = { "total_memory_bytes", true },
	[VIRTIO_BALLOON_S_AVAIL] = { "available_memory_bytes", true },
	[VIRTIO_BALLOON_S_CACHES] = { "disk_caches_bytes", true },
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = { "hugetlb_allocations", false },
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = { "hugetlb_failures", false },
};

static struct virtio_mmio *api_balloon(struct vm_api *api, struct api_response *resp)
{
	struct virtio_mmio *b = virt_board_balloon(api->board);
	if (!b)
		api_respond_error(resp, 400, "no balloon device (start vessel-vmm with --balloon)");
	return b;
}

static struct json_object *balloon_json(struct vm_api *api, struct virtio_mmio *b)
{
	struct virtio_balloon_info bi;
	uint64_t ceiling = vm_machine_ram_size(api->m);
	virtio_balloon_info(b, &bi);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ceiling_mib", json_object_new_int64((int64_t)(ceiling / MiB)));
	json_object_object_add(
	    o, "memory_mib",
	    json_object_new_int64((int64_t)((ceiling - bi.target_pages * PAGE) / MiB)));
	json_object_object_add(o, "target_balloon_bytes",
			       json_object_new_int64((int64_t)(bi.target_pages * PAGE)));
	json_object_object_add(o, "actual_balloon_bytes",
			       json_object_new_int64((int64_t)(bi.actual_pages * PAGE)));
	json_object_object_add(o, "guest_memory_bytes",
			       json_object_new_int64((int64_t)(ceiling - bi.actual_pages * PAGE)));
	json_object_object_add(o, "driver_ready", json_object_new_boolean(bi.driver_ok));
	json_object_object_add(o, "deflate_on_oom", json_object_new_boolean(bi.deflate_on_oom));
	json_object_object_add(o, "statistics", json_object_new_boolean(bi.stats_vq));
	json_object_object_add(o, "inflated_pages_total",
			       json_object_new_int64((int64_t)bi.inflated_pages_total));
	json_object_object_add(o, "deflated_pages_total",
			       json_object_new_int64((int64_t)bi.deflated_pages_total));
	return o;
}

void api_balloon_get(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct virtio_mmio *b = api_balloon(api, resp);
	if (b)
		api_respond_json(resp, 200, balloon_json(api, b));
}

int api_balloon_patch_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "memory_mib", NULL };
	struct json_object *v;
	int r = api_body_only_keys(req->body, keys, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(req->body, "memory_mib", &v))
		return vs_errf(err, EINVAL, "missing field 'memory_mib'");
	if (!json_object_is_type(v, json_type_int))
		return vs_errf(err, EINVAL, "field 'memory_mib' must be an integer");
	int64_t mib = json_object_get_int64(v);
	if (mib < MIN_MEMORY_MIB || mib > (int64_t)(1 << 20))
		return vs_errf(err, EINVAL, "memory_mib %" PRId64 ": must be at least %d", mib,
			       MIN_MEMORY_MIB);
	req->u.balloon.memory_bytes = (uint64_t)mib * MiB;
	return 0;
}

void api_balloon_patch(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct virtio_mmio *b = api_balloon(api, resp);
	if (!b)
		return;
	uint64_t ceiling = vm_machine_ram_size(api->m);
	if (req->u.balloon.memory_bytes > ceiling) {
		api_respond_error(resp, 400,
				  "memory_mib %" PRIu64 " is above the ceiling (--mem %" PRIu64
				  " MiB)",
				  req->u.balloon.memory_bytes / MiB, ceiling / MiB);
		return;
	}
	virtio_balloon_set_target(b, (uint32_t)((ceiling - req->u.balloon.memory_bytes) / PAGE));
	api_respond_json(resp, 200, balloon_json(api, b));
}

/* At the safe point: ask the guest for fresh numbers (unless paused). */
void api_balloon_stats_request(struct vm_api *api, struct api_request *req,
			       struct api_response *resp)
{
	struct virtio_mmio *b = api_balloon(api, resp);
	if (!b)
		return;
	struct virtio_balloon_stats st;
	virtio_balloon_get_stats(b, &st);
	req->u.balloon.generation = st.generation;
	req->u.balloon.refresh =
	    api_vm_state(api) == API_VM_RUNNING && virtio_balloon_request_stats(b) == 0;
}

/* On the API thread: wait for the guest's answer, then reply. */
void api_balloon_stats_reply(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct virtio_mmio *b = virt_board_balloon(api->board);
	struct virtio_balloon_stats st;
	if (req->u.balloon.refresh)
		virtio_balloon_wait_stats(b, req->u.balloon.generation, STATS_WAIT_MS, &st);
	else
		virtio_balloon_get_stats(b, &st);
	if (st.generation == 0) {
		api_respond_error(resp, 409,
				  "the guest has not reported statistics (no balloon driver yet)");
		return;
	}
	struct json_object *o = json_object_new_object();
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		if (st.have & (1U << t))
			json_object_object_add(o, stat_names[t].name,
					       json_object_new_int64((int64_t)st.val[t]));
	json_object_object_add(o, "age_s",
			       json_object_new_double((vs_now_ns() - st.updated_ns) / 1e9));
	json_object_object_add(o, "fresh",
			       json_object_new_boolean(st.generation > req->u.balloon.generation));
	api_respond_json(resp, 200, o);
}

void api_metrics_balloon(struct vm_api *api, FILE *f)
{
	struct virtio_mmio *b = virt_board_balloon(api->board);
	if (!b)
		return;
	struct virtio_balloon_info bi;
	struct virtio_balloon_stats st;
	virtio_balloon_info(b, &bi);
	virtio_balloon_get_stats(b, &st);
	fprintf(f,
		"# HELP vessel_vmm_balloon_target_bytes Balloon size asked of the guest.\n"
		"# TYPE vessel_vmm_balloon_target_bytes gauge\n"
		"vessel_vmm_balloon_target_bytes %" PRIu64 "\n",
		bi.target_pages * PAGE);
	fprintf(f,
		"# HELP vessel_vmm_balloon_actual_bytes Memory the guest has put in the balloon.\n"
		"# TYPE vessel_vmm_balloon_actual_bytes gauge\n"
		"vessel_vmm_balloon_actual_bytes %" PRIu64 "\n",
		bi.actual_pages * PAGE);
	fprintf(f,
		"# HELP vessel_vmm_balloon_inflated_pages_total Pages the guest gave back.\n"
		"# TYPE vessel_vmm_balloon_inflated_pages_total counter\n"
		"vessel_vmm_balloon_inflated_pages_total %" PRIu64 "\n",
		bi.inflated_pages_total);
	fprintf(f,
		"# HELP vessel_vmm_balloon_deflated_pages_total Pages the guest took back.\n"
		"# TYPE vessel_vmm_balloon_deflated_pages_total counter\n"
		"vessel_vmm_balloon_deflated_pages_total %" PRIu64 "\n",
		bi.deflated_pages_total);
	if (!st.generation)
		return;
	fprintf(f, "# HELP vessel_vmm_guest_memory_stat_bytes Guest memory statistics "
		   "(virtio-balloon), in bytes.\n"
		   "# TYPE vessel_vmm_guest_memory_stat_bytes gauge\n");
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		if ((st.have & (1U << t)) && stat_names[t].bytes)
			fprintf(f, "vessel_vmm_guest_memory_stat_bytes{stat=\"%s\"} %" PRIu64 "\n",
				stat_names[t].name, st.val[t]);
	fprintf(f, "# HELP vessel_vmm_guest_page_faults_total Guest page faults "
		   "(virtio-balloon statistics).\n"
		   "# TYPE vessel_vmm_guest_page_faults_total counter\n");
	if (st.have & (1U << VIRTIO_BALLOON_S_MAJFLT))
		fprintf(f, "vessel_vmm_guest_page_faults_total{kind=\"major\"} %" PRIu64 "\n",
			st.val[VIRTIO_BALLOON_S_MAJFLT]);
	if (st.have & (1U << VIRTIO_BALLOON_S_MINFLT))
		fprintf(f, "vessel_vmm_guest_page_faults_total{kind=\"minor\"} %" PRIu64 "\n",
			st.val[VIRTIO_BALLOON_S_MINFLT]);
}
