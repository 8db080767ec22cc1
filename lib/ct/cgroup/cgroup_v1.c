/*
 * cgroup_v1.c - limits through cgroup v1 controllers (pure v1 and hybrid
 * hosts), per the kernel's Documentation/admin-guide/cgroup-v1/ and the
 * runtime-spec config-linux.md "Control groups".
 *
 * Every controller lives in its own hierarchy (some co-mounted, e.g.
 * "cpu,cpuacct"); cgroup.c found them and the container's directory in each.
 * Invariants: a limit is written only when the config sets it; a limit that
 * needs a controller this host lacks is an error naming the controller, not
 * silently dropped; memory limit and memory+swap limit are written in the
 * order the kernel accepts (memsw must stay >= limit); new cpuset
 * directories get their parent's cpus/mems before any task can join.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cgroup_internal.h"
#include "vessel/core/log.h"

static int v1_need(struct cg_hosts *hs, const char *controller, struct cg_hier **out,
		   const char *what, struct vs_err *err)
{
	*out = cg_hosts_find(hs, controller);
	if (!*out)
		return vs_errf(err, ENOTSUP,
			       "%s needs the v1 '%s' controller, which is not mounted", what,
			       controller);
	return 0;
}

/* Give every cpuset directory from the mount down to dir its parent's sets. */
static int v1_cpuset_inherit(struct cg_hier *h, struct vs_err *err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char parent[CG_PATH_MAX], level[CG_PATH_MAX], value[4096];
	size_t mlen = strlen(h->mount);
	snprintf(parent, sizeof(parent), "%s", h->mount);
	for (const char *p = h->dir + mlen; *p == '/';) {
		const char *end = strchrnul(p + 1, '/');
		snprintf(level, sizeof(level), "%.*s", (int)(end - h->dir), h->dir);
		for (unsigned i = 0; i < 2; i++) {
			if (cg_read(level, files[i], value, sizeof(value), NULL) == 0 && value[0])
				continue;
			int r = cg_read(parent, files[i], value, sizeof(value), err);
			if (r < 0)
				return r;
			if ((r = cg_write(level, files[i], value, err)) < 0)
				return r;
		}
		snprintf(parent, sizeof(parent), "%s", level);
		p = end;
	}
	return 0;
}

int cgroup_v1_prepare(struct cg_hosts *hs, struct cg_made *made, struct vs_err *err)
{
	for (unsigned i = 0; i < hs->n; i++) {
		int r = cg_mkdir_p(hs->h[i].dir, made, err);
		if (r < 0)
			return r;
	}
	struct cg_hier *cpuset = cg_hosts_find(hs, "cpuset");
	return cpuset ? v1_cpuset_inherit(cpuset, err) : 0;
}

static int v1_write_i64(const char *dir, const char *file, int64_t v, struct vs_err *err)
{
	return cg_writef(dir, file, err, "%" PRId64, v);
}

/* A file only some kernels have: its absence is an error naming the key. */
static int v1_write_opt(const char *dir, const char *file, int64_t v, const char *key,
			struct vs_err *err)
{
	if (!cg_fake() && !cg_exists(dir, file))
		return vs_errf(err, ENOTSUP, "%s: this kernel has no %s/%s", key, dir, file);
	int r = v1_write_i64(dir, file, v, err);
	return r < 0 ? vs_err_prefix(err, "%s %" PRId64, key, v) : 0;
}

static int v1_apply_memory(struct cg_hosts *hs, const struct ct_resources *res, bool creating,
			   struct vs_err *err)
{
	bool any = res->memory_limit != CT_RES_UNSET || res->memory_swap != CT_RES_UNSET ||
		   res->memory_reservation != CT_RES_UNSET ||
		   res->memory_swappiness != CT_RES_UNSET || res->memory_disable_oom_killer ||
		   res->memory_kernel != CT_RES_UNSET || res->memory_kernel_tcp != CT_RES_UNSET ||
		   res->memory_use_hierarchy >= 0;
	if (!any)
		return 0;
	struct cg_hier *h;
	int r = v1_need(hs, "memory", &h, "linux.resources.memory", err);
	if (r < 0)
		return r;
	const char *d = h->dir;
	bool memsw = cg_exists(d, "memory.memsw.limit_in_bytes");
	bool swap_first = false;
	if (res->memory_swap != CT_RES_UNSET && memsw) {
		/* raising memsw must come before raising the limit, lowering after */
		uint64_t cur = 0;
		if (cg_read_u64(d, "memory.memsw.limit_in_bytes", &cur, NULL) == 0)
			swap_first = res->memory_swap == -1 || (uint64_t)res->memory_swap > cur;
	} else if (res->memory_swap != CT_RES_UNSET && res->memory_swap != -1 &&
		   res->memory_swap != res->memory_limit && !cg_fake()) {
		return vs_errf(err, ENOTSUP,
			       "linux.resources.memory.swap: this kernel has no swap accounting "
			       "(%s/memory.memsw.limit_in_bytes is missing)",
			       d);
	}
	if (!creating && res->memory_check_before_update && res->memory_limit > 0) {
		uint64_t usage = 0;
		if (cg_read_u64(d, "memory.usage_in_bytes", &usage, NULL) == 0 &&
		    usage > (uint64_t)res->memory_limit)
			return vs_errf(err, EBUSY,
				       "linux.resources.memory.limit %" PRId64
				       " is below the current usage %" PRIu64
				       " (checkBeforeUpdate)",
				       res->memory_limit, usage);
	}
	if (res->memory_use_hierarchy >= 0 &&
	    (r = v1_write_i64(d, "memory.use_hierarchy", res->memory_use_hierarchy, err)) < 0)
		return vs_err_prefix(err, "linux.resources.memory.useHierarchy");
	if (swap_first &&
	    (r = v1_write_i64(d, "memory.memsw.limit_in_bytes", res->memory_swap, err)) < 0)
		return vs_err_prefix(err, "memory.swap %" PRId64, res->memory_swap);
	if (res->memory_limit != CT_RES_UNSET &&
	    (r = v1_write_i64(d, "memory.limit_in_bytes", res->memory_limit, err)) < 0)
		return vs_err_prefix(err, "memory.limit %" PRId64, res->memory_limit);
	if (memsw && !swap_first && res->memory_swap != CT_RES_UNSET &&
	    (r = v1_write_i64(d, "memory.memsw.limit_in_bytes", res->memory_swap, err)) < 0)
		return vs_err_prefix(err, "memory.swap %" PRId64, res->memory_swap);
	if (res->memory_reservation != CT_RES_UNSET &&
	    (r = v1_write_i64(d, "memory.soft_limit_in_bytes", res->memory_reservation, err)) < 0)
		return vs_err_prefix(err, "memory.reservation %" PRId64, res->memory_reservation);
	if (res->memory_swappiness != CT_RES_UNSET &&
	    (r = v1_write_i64(d, "memory.swappiness", res->memory_swappiness, err)) < 0)
		return vs_err_prefix(err, "memory.swappiness %" PRId64, res->memory_swappiness);
	if (res->memory_kernel != CT_RES_UNSET &&
	    (r = v1_write_opt(d, "memory.kmem.limit_in_bytes", res->memory_kernel,
			      "linux.resources.memory.kernel", err)) < 0)
		return r;
	if (res->memory_kernel_tcp != CT_RES_UNSET &&
	    (r = v1_write_opt(d, "memory.kmem.tcp.limit_in_bytes", res->memory_kernel_tcp,
			      "linux.resources.memory.kernelTCP", err)) < 0)
		return r;
	if ((creating ? res->memory_disable_oom_killer : true) &&
	    (r = cg_write(d, "memory.oom_control", res->memory_disable_oom_killer ? "1" : "0",
			  err)) < 0)
		return vs_err_prefix(err, "memory.disableOOMKiller");
	return 0;
}

static int v1_apply_cpu(struct cg_hosts *hs, const struct ct_resources *res, struct vs_err *err)
{
	bool any = res->cpu_shares != CT_RES_UNSET || res->cpu_quota != CT_RES_UNSET ||
		   res->cpu_period != CT_RES_UNSET || res->cpu_realtime_runtime != CT_RES_UNSET ||
		   res->cpu_realtime_period != CT_RES_UNSET;
	struct cg_hier *h;
	int r;
	if (any) {
		if ((r = v1_need(hs, "cpu", &h, "linux.resources.cpu", err)) < 0)
			return r;
		const char *d = h->dir;
		if (res->cpu_shares != CT_RES_UNSET &&
		    (r = v1_write_i64(d, "cpu.shares", res->cpu_shares, err)) < 0)
			return vs_err_prefix(err, "cpu.shares %" PRId64, res->cpu_shares);
		/* the kernel checks quota/period as a pair: try both orders */
		if (res->cpu_period != CT_RES_UNSET &&
		    (r = v1_write_i64(d, "cpu.cfs_period_us", res->cpu_period, err)) < 0) {
			if (r != -EINVAL || res->cpu_quota == CT_RES_UNSET ||
			    v1_write_i64(d, "cpu.cfs_quota_us", res->cpu_quota, NULL) < 0 ||
			    (r = v1_write_i64(d, "cpu.cfs_period_us", res->cpu_period, err)) < 0)
				return vs_err_prefix(err, "cpu.period %" PRId64, res->cpu_period);
		}
		if (res->cpu_quota != CT_RES_UNSET &&
		    (r = v1_write_i64(d, "cpu.cfs_quota_us", res->cpu_quota, err)) < 0)
			return vs_err_prefix(err, "cpu.quota %" PRId64, res->cpu_quota);
		if (res->cpu_realtime_period != CT_RES_UNSET &&
		    (r = v1_write_i64(d, "cpu.rt_period_us", res->cpu_realtime_period, err)) < 0)
			return vs_err_prefix(err, "cpu.realtimePeriod %" PRId64,
					     res->cpu_realtime_period);
		if (res->cpu_realtime_runtime != CT_RES_UNSET &&
		    (r = v1_write_i64(d, "cpu.rt_runtime_us", res->cpu_realtime_runtime, err)) < 0)
			return vs_err_prefix(err, "cpu.realtimeRuntime %" PRId64,
					     res->cpu_realtime_runtime);
	}
	if (res->cpu_idle != CT_RES_UNSET)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.cpu.idle: cgroup v1 has no cpu.idle (a cgroup v2 "
			       "file)");
	if (!res->cpu_cpus[0] && !res->cpu_mems[0])
		return 0;
	if ((r = v1_need(hs, "cpuset", &h, "linux.resources.cpu.cpus/mems", err)) < 0)
		return r;
	if (res->cpu_cpus[0] && (r = cg_write(h->dir, "cpuset.cpus", res->cpu_cpus, err)) < 0)
		return vs_err_prefix(err, "cpu.cpus '%s'", res->cpu_cpus);
	if (res->cpu_mems[0] && (r = cg_write(h->dir, "cpuset.mems", res->cpu_mems, err)) < 0)
		return vs_err_prefix(err, "cpu.mems '%s'", res->cpu_mems);
	return 0;
}

/* blkio.weight (CFQ) or blkio.bfq.weight (BFQ); the per-device and leaf
 * variants likewise.  NULL when the kernel has neither. */
static const char *v1_blkio_file(const char *dir, const char *cfq, const char *bfq)
{
	if (cg_exists(dir, cfq))
		return cfq;
	if (bfq && cg_exists(dir, bfq))
		return bfq;
	return cg_fake() ? cfq : NULL; /* a fake tree creates what is written */
}

static bool v1_blkio_any(const struct ct_resources *res)
{
	bool any = res->blkio_weight != CT_RES_UNSET || res->blkio_leaf_weight != CT_RES_UNSET ||
		   res->nblkio_weight_devices > 0;
	for (int t = 0; t < CT_THROTTLE_COUNT; t++)
		any = any || res->nblkio_throttle[t] > 0;
	return any;
}

static int v1_apply_blkio(struct cg_hosts *hs, const struct ct_resources *res, struct vs_err *err)
{
	static const char *const throttle_files[CT_THROTTLE_COUNT] = {
		[CT_THROTTLE_READ_BPS] = "blkio.throttle.read_bps_device",
		[CT_THROTTLE_WRITE_BPS] = "blkio.throttle.write_bps_device",
		[CT_THROTTLE_READ_IOPS] = "blkio.throttle.read_iops_device",
		[CT_THROTTLE_WRITE_IOPS] = "blkio.throttle.write_iops_device",
	};
	static const char *const throttle_keys[CT_THROTTLE_COUNT] = {
		[CT_THROTTLE_READ_BPS] = "throttleReadBpsDevice",
		[CT_THROTTLE_WRITE_BPS] = "throttleWriteBpsDevice",
		[CT_THROTTLE_READ_IOPS] = "throttleReadIOPSDevice",
		[CT_THROTTLE_WRITE_IOPS] = "throttleWriteIOPSDevice",
	};
	struct cg_hier *h;
	int r;
	if (!v1_blkio_any(res))
		return 0;
	if ((r = v1_need(hs, "blkio", &h, "linux.resources.blockIO", err)) < 0)
		return r;
	const char *d = h->dir, *file;
	if (res->blkio_weight != CT_RES_UNSET) {
		if (!(file = v1_blkio_file(d, "blkio.weight", "blkio.bfq.weight")))
			return vs_errf(
			    err, ENOTSUP,
			    "linux.resources.blockIO.weight: %s has neither blkio.weight "
			    "nor blkio.bfq.weight (no CFQ/BFQ scheduler)",
			    d);
		if ((r = v1_write_i64(d, file, res->blkio_weight, err)) < 0)
			return vs_err_prefix(err, "blockIO.weight %" PRId64, res->blkio_weight);
	}
	if (res->blkio_leaf_weight != CT_RES_UNSET) {
		if (!(file = v1_blkio_file(d, "blkio.leaf_weight", NULL)))
			return vs_errf(
			    err, ENOTSUP,
			    "linux.resources.blockIO.leafWeight: %s has no blkio.leaf_weight "
			    "(only the CFQ scheduler, removed in Linux 5.0, had leaf weights)",
			    d);
		if ((r = v1_write_i64(d, file, res->blkio_leaf_weight, err)) < 0)
			return vs_err_prefix(err, "blockIO.leafWeight %" PRId64,
					     res->blkio_leaf_weight);
	}
	for (unsigned i = 0; i < res->nblkio_weight_devices; i++) {
		const struct ct_blkio_device *w = &res->blkio_weight_devices[i];
		if (w->weight != CT_RES_UNSET) {
			if (!(file = v1_blkio_file(d, "blkio.weight_device",
						   "blkio.bfq.weight_device")))
				return vs_errf(
				    err, ENOTSUP,
				    "linux.resources.blockIO.weightDevice[%u].weight: %s has "
				    "no blkio.weight_device nor blkio.bfq.weight_device",
				    i, d);
			if ((r = cg_writef(d, file, err, "%" PRId64 ":%" PRId64 " %" PRId64,
					   w->major, w->minor, w->weight)) < 0)
				return vs_err_prefix(err, "blockIO.weightDevice[%u]", i);
		}
		if (w->leaf_weight != CT_RES_UNSET) {
			if (!(file = v1_blkio_file(d, "blkio.leaf_weight_device", NULL)))
				return vs_errf(
				    err, ENOTSUP,
				    "linux.resources.blockIO.weightDevice[%u].leafWeight: "
				    "%s has no blkio.leaf_weight_device (CFQ only)",
				    i, d);
			if ((r = cg_writef(d, file, err, "%" PRId64 ":%" PRId64 " %" PRId64,
					   w->major, w->minor, w->leaf_weight)) < 0)
				return vs_err_prefix(err, "blockIO.weightDevice[%u]", i);
		}
	}
	for (int t = 0; t < CT_THROTTLE_COUNT; t++)
		for (unsigned i = 0; i < res->nblkio_throttle[t]; i++) {
			const struct ct_blkio_device *x = &res->blkio_throttle[t][i];
			if (!cg_fake() && !cg_exists(d, throttle_files[t]))
				return vs_errf(err, ENOTSUP,
					       "linux.resources.blockIO.%s: %s has no %s (kernel "
					       "without CONFIG_BLK_DEV_THROTTLING)",
					       throttle_keys[t], d, throttle_files[t]);
			if ((r = cg_writef(d, throttle_files[t], err,
					   "%" PRId64 ":%" PRId64 " %" PRIu64, x->major, x->minor,
					   x->rate)) < 0)
				return vs_err_prefix(err, "linux.resources.blockIO.%s[%u]",
						     throttle_keys[t], i);
		}
	return 0;
}

/* network (net_cls, net_prio) and rdma: refused when the controller is not mounted */
static int v1_apply_net_rdma(struct cg_hosts *hs, const struct ct_resources *res,
			     struct vs_err *err)
{
	struct cg_hier *h;
	int r;
	if (res->net_class_id != CT_RES_UNSET) {
		if ((r = v1_need(hs, "net_cls", &h, "linux.resources.network.classID", err)) < 0 ||
		    (r = v1_write_i64(h->dir, "net_cls.classid", res->net_class_id, err)) < 0)
			return r;
	}
	for (unsigned i = 0; i < res->nnet_priorities; i++) {
		const struct ct_net_priority *p = &res->net_priorities[i];
		if ((r = v1_need(hs, "net_prio", &h, "linux.resources.network.priorities", err)) <
			0 ||
		    (r = cg_writef(h->dir, "net_prio.ifpriomap", err, "%s %" PRIu32, p->name,
				   p->priority)) < 0)
			return r;
	}
	for (unsigned i = 0; i < res->nrdma; i++) {
		const struct ct_rdma_limit *l = &res->rdma[i];
		char v[160];
		int n = snprintf(v, sizeof(v), "%s", l->device);
		if (l->hca_handles != CT_RES_UNSET)
			n += snprintf(v + n, sizeof(v) - (size_t)n, " hca_handle=%" PRId64,
				      l->hca_handles);
		if (l->hca_objects != CT_RES_UNSET)
			snprintf(v + n, sizeof(v) - (size_t)n, " hca_object=%" PRId64,
				 l->hca_objects);
		if ((r = v1_need(hs, "rdma", &h, "linux.resources.rdma", err)) < 0 ||
		    (r = cg_write(h->dir, "rdma.max", v, err)) < 0)
			return r;
	}
	return 0;
}

/* The unified tree of a hybrid host offers this controller. */
static bool v1_unified_has(struct cg_hier *u, const char *controller)
{
	char avail[512];
	if (cg_read(u->mount, "cgroup.controllers", avail, sizeof(avail), NULL) < 0)
		return false;
	size_t len = strlen(controller);
	for (const char *p = avail; (p = strstr(p, controller)) != NULL; p += len)
		if ((p == avail || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

static int v1_apply_io_pids_hugetlb(struct cg_hosts *hs, const struct ct_resources *res,
				    struct vs_err *err)
{
	struct cg_hier *h;
	int r;
	if (res->pids_limit != CT_RES_UNSET) {
		if ((r = v1_need(hs, "pids", &h, "linux.resources.pids", err)) < 0)
			return r;
		r = res->pids_limit > 0 ? v1_write_i64(h->dir, "pids.max", res->pids_limit, err)
					: cg_write(h->dir, "pids.max", "max", err);
		if (r < 0)
			return vs_err_prefix(err, "pids.limit %" PRId64, res->pids_limit);
	}
	if ((r = v1_apply_blkio(hs, res, err)) < 0 || (r = v1_apply_net_rdma(hs, res, err)) < 0)
		return r;
	/* hybrid host whose hugetlb controller lives in the unified tree */
	struct cg_hier *u = res->nhugetlb ? cg_hosts_find(hs, "") : NULL;
	if (u && !cg_hosts_find(hs, "hugetlb") && v1_unified_has(u, "hugetlb")) {
		if ((r = cgroup_v2_enable_ancestors(u, err)) < 0)
			return vs_err_prefix(err, "linux.resources.hugepageLimits");
		return cgroup_v2_hugetlb(u, res, err);
	}
	for (unsigned i = 0; i < res->nhugetlb; i++) {
		if ((r = v1_need(hs, "hugetlb", &h, "linux.resources.hugepageLimits", err)) < 0)
			return r;
		char file[64];
		snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes",
			 res->hugetlb[i].page_size);
		if ((r = cg_writef(h->dir, file, err, "%" PRIu64, res->hugetlb[i].limit)) < 0)
			return vs_err_prefix(err, "hugepageLimits %s", res->hugetlb[i].page_size);
	}
	return 0;
}

static int v1_write_device(const char *dir, const struct ct_device_rule *d, struct vs_err *err)
{
	char major[24] = "*", minor[24] = "*";
	if (d->major >= 0)
		snprintf(major, sizeof(major), "%" PRId64, d->major);
	if (d->minor >= 0)
		snprintf(minor, sizeof(minor), "%" PRId64, d->minor);
	const char *file = d->allow ? "devices.allow" : "devices.deny";
	if (d->type == 'a')
		return cg_write(dir, file, "a", err);
	return cg_writef(dir, file, err, "%c %s:%s %s", d->type, major, minor, d->access);
}

/*
 * Start from "deny everything", apply the config's rules in order, then the
 * default devices, which must stay usable even after a leading
 * {"allow": false} (the order runc and crun use).
 */
static int v1_apply_devices(struct cg_hosts *hs, const struct ct_resources *res, bool creating,
			    struct vs_err *err)
{
	if (!creating && res->ndevices == 0)
		return 0;
	struct cg_hier *h = cg_hosts_find(hs, "devices");
	if (!h) {
		if (res->ndevices == 0)
			return 0;
		return vs_errf(err, ENOTSUP,
			       "linux.resources.devices needs the v1 'devices' controller, "
			       "which is not mounted");
	}
	int r = cg_write(h->dir, "devices.deny", "a", err);
	for (unsigned i = 0; r == 0 && i < res->ndevices; i++)
		if ((r = v1_write_device(h->dir, &res->devices[i], err)) < 0)
			vs_err_prefix(err, "linux.resources.devices[%u]", i);
	for (unsigned i = 0; r == 0 && i < cg_ndefault_devices; i++)
		r = v1_write_device(h->dir, &cg_default_devices[i], err);
	return r;
}

int cgroup_v1_apply(struct cg_hosts *hs, const struct ct_resources *res, bool creating,
		    struct vs_err *err)
{
	int r;
	if (res->nunified > 0)
		return vs_errf(err, ENOTSUP,
			       "linux.resources.unified (%s) needs cgroup v2 controllers; this "
			       "host's controllers are v1",
			       res->unified_keys[0]);
	if ((r = v1_apply_memory(hs, res, creating, err)) < 0 ||
	    (r = v1_apply_cpu(hs, res, err)) < 0 ||
	    (r = v1_apply_io_pids_hugetlb(hs, res, err)) < 0 ||
	    (r = v1_apply_devices(hs, res, creating, err)) < 0)
		return r;
	return 0;
}

int cgroup_v1_freeze(struct cg_hosts *hs, bool frozen, struct vs_err *err)
{
	struct cg_hier *h;
	int r = v1_need(hs, "freezer", &h, frozen ? "pause" : "resume", err);
	if (r < 0)
		return r;
	const char *want = frozen ? "FROZEN" : "THAWED";
	char state[32];
	/* FREEZING may last while tasks are in uninterruptible sleep: retry ~5 s */
	for (unsigned i = 0; i < 1000; i++) {
		if ((r = cg_write(h->dir, "freezer.state", want, err)) < 0)
			return r;
		if ((r = cg_read(h->dir, "freezer.state", state, sizeof(state), err)) < 0)
			return r;
		if (strcmp(state, want) == 0)
			return 0;
		struct timespec ts = { 0, i < 50 ? 100000L : 5000000L };
		nanosleep(&ts, NULL);
	}
	if (frozen)
		cg_write(h->dir, "freezer.state", "THAWED", NULL);
	return vs_errf(err, ETIMEDOUT, "freeze %s: state stays %s", h->dir, state);
}

int cgroup_v1_stats(struct cg_hosts *hs, struct ct_cgroup_stats *st, struct vs_err *err)
{
	struct cg_hier *h;
	if ((h = cg_hosts_find(hs, "memory")) != NULL) {
		int r = cg_read_u64(h->dir, "memory.usage_in_bytes", &st->memory_usage, err);
		if (r < 0)
			return r;
		cg_read_u64(h->dir, "memory.limit_in_bytes", &st->memory_limit, NULL);
		cg_read_u64(h->dir, "memory.max_usage_in_bytes", &st->memory_max_usage, NULL);
		cg_read_keyed(h->dir, "memory.oom_control", "oom_kill", &st->oom_kills);
	}
	if ((h = cg_hosts_find(hs, "cpuacct")) != NULL)
		cg_read_u64(h->dir, "cpuacct.usage", &st->cpu_usage_ns, NULL);
	if ((h = cg_hosts_find(hs, "pids")) != NULL) {
		cg_read_u64(h->dir, "pids.current", &st->pids_current, NULL);
		cg_read_u64(h->dir, "pids.max", &st->pids_limit, NULL);
	}
	return 0;
}
