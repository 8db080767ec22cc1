/*
 * cgroup_v2.c - limits through the unified hierarchy (pure v2 hosts), per
 * the kernel's Documentation/admin-guide/cgroup-v2.rst and runtime-spec
 * config-linux.md "Control groups" / "Unified".
 *
 * Invariants: controllers are enabled top-down in cgroup.subtree_control of
 * every ancestor (never in the container's own directory, which holds
 * processes: the "no internal processes" rule); OCI v1-style values are
 * converted the way runc and crun convert them (shares -> weight, swap =
 * memory+swap -> swap.max, blkio weight -> io.weight); device rules become a
 * BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup_bpf.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cgroup_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/ct/cgroup_testing.h"

static const char *const v2_wanted[] = { "cpu", "cpuset", "io", "memory", "pids", "hugetlb" };

unsigned long ct_cgroup_shares_to_weight(unsigned long shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

static bool v2_word_in(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += len)
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

/* Enable the wanted controllers in level/cgroup.subtree_control. */
static int v2_enable_controllers(const char *level, const char *root_available, struct vs_err *err)
{
	char avail[512], enabled[512], want[256] = "";
	if (cg_read(level, "cgroup.controllers", avail, sizeof(avail), NULL) < 0)
		snprintf(avail, sizeof(avail), "%s", root_available);
	if (cg_read(level, "cgroup.subtree_control", enabled, sizeof(enabled), NULL) < 0)
		enabled[0] = '\0';
	size_t len = 0;
	for (unsigned i = 0; i < VS_ARRAY_SIZE(v2_wanted); i++)
		if (v2_word_in(avail, v2_wanted[i]) && !v2_word_in(enabled, v2_wanted[i]))
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s+%s",
						len ? " " : "", v2_wanted[i]);
	if (!len || cg_write(level, "cgroup.subtree_control", want, NULL) == 0)
		return 0;
	/* one by one, so that one refused controller does not block the rest */
	for (unsigned i = 0; i < VS_ARRAY_SIZE(v2_wanted); i++) {
		if (!v2_word_in(avail, v2_wanted[i]) || v2_word_in(enabled, v2_wanted[i]))
			continue;
		struct vs_err e = VS_ERR_INIT;
		int r = cg_writef(level, "cgroup.subtree_control", &e, "+%s", v2_wanted[i]);
		if (r == -EBUSY)
			return vs_errf(
			    err, EBUSY,
			    "enable %s in %s/cgroup.subtree_control: the cgroup has "
			    "processes of its own (cgroup v2 'no internal processes' "
			    "rule); run the runtime from a leaf cgroup or use an absolute "
			    "cgroupsPath",
			    v2_wanted[i], level);
		if (r < 0)
			vs_log(VS_LOG_WARN, "cgroup: %s", e.msg);
	}
	return 0;
}

int cgroup_v2_prepare(struct cg_hier *h, struct cg_made *made, struct vs_err *err)
{
	int r = cg_mkdir_p(h->dir, made, err);
	return r < 0 ? r : cgroup_v2_enable_ancestors(h, err);
}

int cgroup_v2_enable_ancestors(struct cg_hier *h, struct vs_err *err)
{
	int r;
	char root_avail[512] = "", level[CG_PATH_MAX];
	cg_read(h->mount, "cgroup.controllers", root_avail, sizeof(root_avail), NULL);
	size_t mlen = strlen(h->mount);
	/* every ancestor from the mount down to the container's parent */
	for (const char *p = h->dir + mlen; p && *p == '/';) {
		snprintf(level, sizeof(level), "%.*s", (int)(p - h->dir), h->dir);
		if ((r = v2_enable_controllers(level, root_avail, err)) < 0)
			return r;
		p = strchr(p + 1, '/');
	}
	return 0;
}

/* A write that names the controller when its files are missing. */
static int v2_write(struct cg_hier *h, const char *file, const char *value, const char *what,
		    struct vs_err *err)
{
	int r = cg_write(h->dir, file, value, err);
	if (r == -ENOENT) {
		char ctl[32];
		snprintf(ctl, sizeof(ctl), "%.*s", (int)strcspn(file, "."), file);
		return vs_errf(err, ENOTSUP,
			       "%s: %s/%s does not exist (controller '%s' is not enabled for "
			       "this cgroup)",
			       what, h->dir, file, ctl);
	}
	return r < 0 ? vs_err_prefix(err, "%s", what) : 0;
}

static void v2_fmt_max(char *buf, size_t size, int64_t v)
{
	if (v < 0)
		snprintf(buf, size, "max");
	else
		snprintf(buf, size, "%" PRId64, v);
}

static int v2_apply_memory(struct cg_hier *h, const struct ct_resources *res, bool creating,
			   struct vs_err *err)
{
	char v[32];
	int r;
	if (res->memory_use_hierarchy == 0)
		return vs_errf(
		    err, ENOTSUP,
		    "linux.resources.memory.useHierarchy: false is impossible, cgroup v2 "
		    "is always hierarchical");
	if (!creating && res->memory_check_before_update && res->memory_limit > 0) {
		uint64_t usage = 0;
		if (cg_read_u64(h->dir, "memory.current", &usage, NULL) == 0 &&
		    usage > (uint64_t)res->memory_limit)
			return vs_errf(err, EBUSY,
				       "linux.resources.memory.limit %" PRId64
				       " is below the current usage %" PRIu64
				       " (checkBeforeUpdate)",
				       res->memory_limit, usage);
	}
	if (res->memory_limit != CT_RES_UNSET) {
		v2_fmt_max(v, sizeof(v), res->memory_limit);
		if ((r = v2_write(h, "memory.max", v, "memory.limit", err)) < 0)
			return r;
	}
	if (res->memory_reservation != CT_RES_UNSET) {
		v2_fmt_max(v, sizeof(v), res->memory_reservation);
		if ((r = v2_write(h, "memory.low", v, "memory.reservation", err)) < 0)
			return r;
	}
	if (res->memory_swap != CT_RES_UNSET) {
		/* OCI swap = memory + swap; v2 swap.max = swap alone */
		int64_t limit = res->memory_limit;
		if (limit == CT_RES_UNSET) {
			uint64_t cur = 0;
			if (cg_read_u64(h->dir, "memory.max", &cur, NULL) == 0 && cur != UINT64_MAX)
				limit = (int64_t)cur;
		}
		if (res->memory_swap == -1) {
			snprintf(v, sizeof(v), "max");
		} else if (limit == CT_RES_UNSET || limit < 0) {
			return vs_errf(err, EINVAL,
				       "memory.swap %" PRId64 " needs a memory.limit on cgroup v2 "
				       "(swap.max = swap - limit)",
				       res->memory_swap);
		} else {
			snprintf(v, sizeof(v), "%" PRId64, res->memory_swap - limit);
		}
		if (cg_exists(h->dir, "memory.swap.max") || cg_fake()) {
			if ((r = v2_write(h, "memory.swap.max", v, "memory.swap", err)) < 0)
				return r;
		} else if (res->memory_swap != -1 && res->memory_swap != limit) {
			return vs_errf(err, ENOTSUP,
				       "linux.resources.memory.swap: %s has no memory.swap.max "
				       "(swap accounting is off)",
				       h->dir);
		}
	}
	/* v1-only knobs: refused, not dropped (no silent no-ops) */
	if (res->memory_swappiness != CT_RES_UNSET)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup "
			       "swappiness");
	if (res->memory_disable_oom_killer)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable "
			       "the OOM killer");
	if (res->memory_kernel != CT_RES_UNSET || res->memory_kernel_tcp != CT_RES_UNSET)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.memory.%s: cgroup v2 has no separate kernel memory "
			       "limit (memory.max counts it)",
			       res->memory_kernel != CT_RES_UNSET ? "kernel" : "kernelTCP");
	return 0;
}

static int v2_apply_cpu(struct cg_hier *h, const struct ct_resources *res, struct vs_err *err)
{
	char v[64];
	int r;
	if (res->cpu_shares != CT_RES_UNSET) {
		snprintf(v, sizeof(v), "%lu",
			 ct_cgroup_shares_to_weight((unsigned long)res->cpu_shares));
		if ((r = v2_write(h, "cpu.weight", v, "cpu.shares", err)) < 0)
			return r;
	}
	if (res->cpu_quota != CT_RES_UNSET || res->cpu_period != CT_RES_UNSET) {
		char quota[32] = "max";
		if (res->cpu_quota != CT_RES_UNSET) {
			v2_fmt_max(quota, sizeof(quota), res->cpu_quota);
		} else {
			/* keep the current quota, change only the period */
			char cur[64];
			if (cg_read(h->dir, "cpu.max", cur, sizeof(cur), NULL) == 0)
				snprintf(quota, sizeof(quota), "%.*s", (int)strcspn(cur, " "), cur);
		}
		if (res->cpu_period != CT_RES_UNSET)
			snprintf(v, sizeof(v), "%s %" PRId64, quota, res->cpu_period);
		else
			snprintf(v, sizeof(v), "%s", quota);
		if ((r = v2_write(h, "cpu.max", v, "cpu.quota/period", err)) < 0)
			return r;
	}
	if ((res->cpu_realtime_runtime != CT_RES_UNSET && res->cpu_realtime_runtime != 0) ||
	    (res->cpu_realtime_period != CT_RES_UNSET && res->cpu_realtime_period != 0))
		return vs_errf(err, ENOTSUP,
			       "cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime "
			       "bandwidth control");
	if (res->cpu_idle != CT_RES_UNSET) {
		snprintf(v, sizeof(v), "%" PRId64, res->cpu_idle);
		if ((r = v2_write(h, "cpu.idle", v, "cpu.idle", err)) < 0)
			return r;
	}
	if (res->cpu_cpus[0] &&
	    (r = v2_write(h, "cpuset.cpus", res->cpu_cpus, "cpu.cpus", err)) < 0)
		return r;
	if (res->cpu_mems[0] &&
	    (r = v2_write(h, "cpuset.mems", res->cpu_mems, "cpu.mems", err)) < 0)
		return r;
	return 0;
}

/* OCI blkio weight [10, 1000] -> io.weight [1, 10000], as crun maps it */
static int64_t v2_io_weight(int64_t w)
{
	return 1 + (w - 10) * 9999 / 990;
}

/* blockIO: io.bfq.weight (BFQ) or io.weight, per device too; throttles in io.max */
static int v2_apply_io(struct cg_hier *h, const struct ct_resources *res, struct vs_err *err)
{
	static const char *const throttle_keys[CT_THROTTLE_COUNT] = {
		[CT_THROTTLE_READ_BPS] = "rbps",
		[CT_THROTTLE_WRITE_BPS] = "wbps",
		[CT_THROTTLE_READ_IOPS] = "riops",
		[CT_THROTTLE_WRITE_IOPS] = "wiops",
	};
	char v[96];
	int r;
	bool bfq = cg_exists(h->dir, "io.bfq.weight");
	if (res->blkio_weight != CT_RES_UNSET) {
		if (bfq)
			snprintf(v, sizeof(v), "%" PRId64, res->blkio_weight);
		else
			snprintf(v, sizeof(v), "default %" PRId64, v2_io_weight(res->blkio_weight));
		if ((r = v2_write(h, bfq ? "io.bfq.weight" : "io.weight", v, "blockIO.weight",
				  err)) < 0)
			return r;
	}
	if (res->blkio_leaf_weight != CT_RES_UNSET)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights");
	for (unsigned i = 0; i < res->nblkio_weight_devices; i++) {
		const struct ct_blkio_device *w = &res->blkio_weight_devices[i];
		if (w->leaf_weight != CT_RES_UNSET)
			return vs_errf(
			    err, ENOTSUP,
			    "linux.resources.blockIO.weightDevice[%u].leafWeight: cgroup "
			    "v2 has no leaf weights",
			    i);
		if (w->weight == CT_RES_UNSET)
			continue;
		snprintf(v, sizeof(v), "%" PRId64 ":%" PRId64 " %" PRId64, w->major, w->minor,
			 bfq ? w->weight : v2_io_weight(w->weight));
		if ((r = v2_write(h, bfq ? "io.bfq.weight" : "io.weight", v, "blockIO.weightDevice",
				  err)) < 0)
			return r;
	}
	for (int t = 0; t < CT_THROTTLE_COUNT; t++)
		for (unsigned i = 0; i < res->nblkio_throttle[t]; i++) {
			const struct ct_blkio_device *x = &res->blkio_throttle[t][i];
			snprintf(v, sizeof(v), "%" PRId64 ":%" PRId64 " %s=%" PRIu64, x->major,
				 x->minor, throttle_keys[t], x->rate);
			if ((r = v2_write(h, "io.max", v, "blockIO throttle", err)) < 0)
				return r;
		}
	return 0;
}

int cgroup_v2_hugetlb(struct cg_hier *h, const struct ct_resources *res, struct vs_err *err)
{
	char file[64], v[32];
	for (unsigned i = 0; i < res->nhugetlb; i++) {
		snprintf(file, sizeof(file), "hugetlb.%s.max", res->hugetlb[i].page_size);
		snprintf(v, sizeof(v), "%" PRIu64, res->hugetlb[i].limit);
		int r = v2_write(h, file, v, "linux.resources.hugepageLimits", err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int v2_apply_other(struct cg_hier *h, const struct ct_resources *res, struct vs_err *err)
{
	char v[64];
	int r;
	if (res->pids_limit != CT_RES_UNSET) {
		v2_fmt_max(v, sizeof(v), res->pids_limit > 0 ? res->pids_limit : -1);
		if ((r = v2_write(h, "pids.max", v, "pids.limit", err)) < 0)
			return r;
	}
	if ((r = v2_apply_io(h, res, err)) < 0)
		return r;
	if (res->net_class_id != CT_RES_UNSET || res->nnet_priorities)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.network: cgroup v2 has no net_cls/net_prio "
			       "controllers (classify traffic with BPF or nftables instead)");
	for (unsigned i = 0; i < res->nrdma; i++) {
		const struct ct_rdma_limit *l = &res->rdma[i];
		char rv[160];
		int n = snprintf(rv, sizeof(rv), "%s", l->device);
		if (l->hca_handles != CT_RES_UNSET)
			n += snprintf(rv + n, sizeof(rv) - (size_t)n, " hca_handle=%" PRId64,
				      l->hca_handles);
		if (l->hca_objects != CT_RES_UNSET)
			snprintf(rv + n, sizeof(rv) - (size_t)n, " hca_object=%" PRId64,
				 l->hca_objects);
		if ((r = v2_write(h, "rdma.max", rv, "linux.resources.rdma", err)) < 0)
			return r;
	}
	if ((r = cgroup_v2_hugetlb(h, res, err)) < 0)
		return r;
	for (unsigned i = 0; i < res->nunified; i++) {
		const char *key = res->unified_keys[i];
		if (!cg_fake() && !cg_exists(h->dir, key))
			return vs_errf(err, ENOENT,
				       "linux.resources.unified.%s: %s has no such file (unknown "
				       "key or controller not enabled)",
				       key, h->dir);
		if ((r = cg_write(h->dir, key, res->unified_values[i], err)) < 0)
			return vs_err_prefix(err, "linux.resources.unified.%s", key);
	}
	return 0;
}

int cgroup_v2_apply(struct cg_hier *h, const struct ct_resources *res, bool creating,
		    struct vs_err *err)
{
	int r;
	if ((r = v2_apply_memory(h, res, creating, err)) < 0 ||
	    (r = v2_apply_cpu(h, res, err)) < 0 || (r = v2_apply_other(h, res, err)) < 0)
		return r;
	if ((creating || res->ndevices > 0) && !cg_fake())
		return cgroup_bpf_devices_apply(h->dir, res->devices, res->ndevices, err);
	return 0;
}

int cgroup_v2_freeze(struct cg_hier *h, bool frozen, struct vs_err *err)
{
	int r = cg_write(h->dir, "cgroup.freeze", frozen ? "1" : "0", err);
	if (r < 0)
		return vs_err_prefix(err, frozen ? "pause" : "resume");
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t state = 0;
		if (cg_read_keyed(h->dir, "cgroup.events", "frozen", &state) < 0)
			return cg_fake() ? 0 : vs_errf(err, EIO, "%s: no cgroup.events", h->dir);
		if ((state == 1) == frozen)
			return 0;
		struct timespec ts = { 0, i < 50 ? 100000L : 5000000L };
		nanosleep(&ts, NULL);
	}
	if (frozen)
		cg_write(h->dir, "cgroup.freeze", "0", NULL);
	return vs_errf(err, ETIMEDOUT, "%s %s: the cgroup did not reach the state in time",
		       frozen ? "pause" : "resume", h->dir);
}

int cgroup_v2_stats(struct cg_hier *h, struct ct_cgroup_stats *st, struct vs_err *err)
{
	int r = cg_read_u64(h->dir, "memory.current", &st->memory_usage, NULL);
	if (r < 0 && !cg_exists(h->dir, "cgroup.procs"))
		return vs_syserrf(err, ENOENT, "stats of %s", h->dir);
	cg_read_u64(h->dir, "memory.max", &st->memory_limit, NULL);
	cg_read_u64(h->dir, "memory.peak", &st->memory_max_usage, NULL);
	cg_read_keyed(h->dir, "memory.events", "oom_kill", &st->oom_kills);
	uint64_t usec = 0;
	if (cg_read_keyed(h->dir, "cpu.stat", "usage_usec", &usec) == 0)
		st->cpu_usage_ns = usec * 1000;
	cg_read_u64(h->dir, "pids.current", &st->pids_current, NULL);
	cg_read_u64(h->dir, "pids.max", &st->pids_limit, NULL);
	return 0;
}
