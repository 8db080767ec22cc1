/*
 * usage_sample.c - one usage reading of an instance from the host's own
 * accounting: cgroup files, /proc/self/net/dev and, for VMs, the VMM's
 * control API (docs/api/vessel-vmm.yaml: GET /vm, GET /balloon/statistics).
 *
 * Cgroup layouts (include/vessel/ct/cgroup.h): on v1/hybrid the instance's
 * cgroup NAME is /sys/fs/cgroup/<controller>/NAME (cpuacct.usage, cpu.stat
 * throttled_time, memory.usage_in_bytes minus inactive file pages = the
 * working set, memory.oom_control oom_kill, blkio.throttle.io_service*);
 * hybrid adds memory.pressure (PSI) in /sys/fs/cgroup/unified/NAME; pure v2
 * has all in /sys/fs/cgroup/NAME (cpu.stat usage_usec/throttled_usec,
 * memory.current, memory.events, io.stat, memory.pressure).
 *
 * Network counters are the host side's: the instance's veth or TAP, read
 * from /proc/self/net/dev (the reader's network namespace, which is the
 * daemon's, unlike /sys/class/net).  The host side's rx is the instance's
 * tx; samples are from the instance's point of view.
 *
 * Every file is read with one open/read/close (no stdio): sampling 1,000
 * instances must stay under 1% of a core (bench/observe).  A file that is
 * missing leaves its field unmeasured (its MGR_USAGE_* bit clear).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "usage_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/ct/cgroup.h"
#include "vessel/mgr/usage.h"

#define CG_ROOT "/sys/fs/cgroup"

/* Read a small file into buf (NUL-terminated); length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	return n;
}

/* Cached descriptors: at most this many, kept at numbers >= CACHE_FD_MIN so
 * that the low numbers stay free for libmicrohttpd (select(), < 1024). */
#define CACHE_FD_MIN 2048
static atomic_long cached_fds;

static long cache_budget(void)
{
	static long budget = -1;
	if (budget < 0) {
		struct rlimit rl;
		budget = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
				 rl.rlim_cur > CACHE_FD_MIN + 2048
			     ? (long)rl.rlim_cur - CACHE_FD_MIN - 1024
			     : 0;
	}
	return budget;
}

void mgr_usage_fds_init(struct mgr_usage_fds *f)
{
	for (size_t i = 0; i < MGR_USAGE_FDS; i++)
		f->fd[i] = -1;
}

void mgr_usage_fds_close(struct mgr_usage_fds *f)
{
	for (size_t i = 0; i < MGR_USAGE_FDS; i++)
		if (f->fd[i] >= 0) {
			close(f->fd[i]);
			f->fd[i] = -1;
			atomic_fetch_sub(&cached_fds, 1);
		}
}

/*
 * Read a cgroup file: through the cached descriptor in slot `slot` of fds
 * (pread at 0 makes the kernel format it afresh), else open/read/close,
 * keeping the descriptor for next time when the budget allows.  A cached
 * descriptor that fails (the cgroup was removed and made again) is dropped
 * and the path opened anew.
 */
static ssize_t read_cg(struct mgr_usage_fds *fds, unsigned slot, const char *path, char *buf,
		       size_t len)
{
	if (fds && fds->fd[slot] >= 0) {
		ssize_t n = pread(fds->fd[slot], buf, len - 1, 0);
		if (n >= 0) {
			buf[n] = 0;
			return n;
		}
		close(fds->fd[slot]);
		fds->fd[slot] = -1;
		atomic_fetch_sub(&cached_fds, 1);
	}
	if (!fds || atomic_load(&cached_fds) >= cache_budget())
		return read_small(path, buf, len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, len - 1, 0);
	if (n < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	buf[n] = 0;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, CACHE_FD_MIN);
	close(fd);
	if (high >= 0) {
		fds->fd[slot] = high;
		atomic_fetch_add(&cached_fds, 1);
	}
	return n;
}

static bool read_u64(struct mgr_usage_fds *fds, unsigned slot, const char *path, uint64_t *v)
{
	char buf[64];
	if (read_cg(fds, slot, path, buf, sizeof(buf)) <= 0)
		return false;
	*v = strtoull(buf, NULL, 10);
	return true;
}

/* "key value" lines: the value of key (whole word), or false. */
static bool kv_get(const char *text, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			*v = strtoull(p + kl + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

/* PSI file: the "some" line's total= (microseconds). */
static bool psi_some_total(struct mgr_usage_fds *fds, unsigned slot, const char *path, uint64_t *v)
{
	char buf[256];
	if (read_cg(fds, slot, path, buf, sizeof(buf)) <= 0 || strncmp(buf, "some ", 5) != 0)
		return false;
	const char *t = strstr(buf, "total=");
	if (!t)
		return false;
	*v = strtoull(t + 6, NULL, 10);
	return true;
}

/* blkio.throttle.io_service_bytes(_recursive): sum of "MAJ:MIN Read N". */
static void blkio_sum(const char *text, uint64_t *rd, uint64_t *wr)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char op[16];
		uint64_t n;
		if (sscanf(p, "%*u:%*u %15s %" SCNu64, op, &n) != 2)
			continue;
		if (strcmp(op, "Read") == 0)
			*rd += n;
		else if (strcmp(op, "Write") == 0)
			*wr += n;
	}
}

/* v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. ..." per device. */
static void iostat_sum(const char *text, struct mgr_usage_sample *s)
{
	static const char *const keys[] = { "rbytes=", "wbytes=", "rios=", "wios=" };
	uint64_t *dst[] = { &s->disk_read_bytes, &s->disk_write_bytes, &s->disk_read_ops,
			    &s->disk_write_ops };
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end = strchr(p, '\n');
		for (int k = 0; k < 4; k++) {
			const char *f = strstr(p, keys[k]);
			if (f && (!end || f < end))
				*dst[k] += strtoull(f + strlen(keys[k]), NULL, 10);
		}
	}
}

static enum ct_cgroup_layout cgroup_layout(void)
{
	static enum ct_cgroup_layout layout;
	if (!layout) {
		struct vs_err e = VS_ERR_INIT;
		enum ct_cgroup_layout l;
		layout = ct_cgroup_detect(&l, &e) == 0 ? l : CT_CGROUP_V1;
	}
	return layout;
}

static void sample_cgroup_v1(const char *cg, struct mgr_usage_fds *f, struct mgr_usage_sample *s)
{
	char path[512], buf[4096];
	uint64_t v;
	snprintf(path, sizeof(path), CG_ROOT "/cpuacct/%s/cpuacct.usage", cg);
	if (read_u64(f, 0, path, &s->cpu_ns))
		s->valid |= MGR_USAGE_CPU;
	snprintf(path, sizeof(path), CG_ROOT "/cpu/%s/cpu.stat", cg);
	if (read_cg(f, 1, path, buf, sizeof(buf)) > 0 &&
	    kv_get(buf, "throttled_time", &s->throttled_ns)) {
		kv_get(buf, "nr_throttled", &s->throttled_periods);
		s->valid |= MGR_USAGE_THROTTLE;
	}
	snprintf(path, sizeof(path), CG_ROOT "/memory/%s/memory.usage_in_bytes", cg);
	if (read_u64(f, 2, path, &s->memory_bytes)) {
		s->valid |= MGR_USAGE_MEMORY;
		snprintf(path, sizeof(path), CG_ROOT "/memory/%s/memory.stat", cg);
		if (read_cg(f, 3, path, buf, sizeof(buf)) > 0 &&
		    kv_get(buf, "total_inactive_file", &v))
			s->memory_bytes = s->memory_bytes > v ? s->memory_bytes - v : 0;
		snprintf(path, sizeof(path), CG_ROOT "/memory/%s/memory.limit_in_bytes", cg);
		if (read_u64(f, 4, path, &v))
			s->memory_limit = v >= (1ull << 60) ? 0 : v;
		snprintf(path, sizeof(path), CG_ROOT "/memory/%s/memory.oom_control", cg);
		if (read_cg(f, 5, path, buf, sizeof(buf)) > 0 &&
		    kv_get(buf, "oom_kill", &s->oom_kills))
			s->valid |= MGR_USAGE_OOM;
	}
	snprintf(path, sizeof(path), CG_ROOT "/blkio/%s/blkio.throttle.io_service_bytes_recursive",
		 cg);
	if (read_cg(f, 6, path, buf, sizeof(buf)) >= 0) {
		blkio_sum(buf, &s->disk_read_bytes, &s->disk_write_bytes);
		snprintf(path, sizeof(path),
			 CG_ROOT "/blkio/%s/blkio.throttle.io_serviced_recursive", cg);
		if (read_cg(f, 7, path, buf, sizeof(buf)) >= 0)
			blkio_sum(buf, &s->disk_read_ops, &s->disk_write_ops);
		s->valid |= MGR_USAGE_DISK;
	}
	snprintf(path, sizeof(path), CG_ROOT "/unified/%s/memory.pressure", cg);
	if (psi_some_total(f, 8, path, &s->pressure_us))
		s->valid |= MGR_USAGE_PRESSURE;
}

static void sample_cgroup_v2(const char *cg, struct mgr_usage_fds *f, struct mgr_usage_sample *s)
{
	char path[512], buf[4096];
	uint64_t v;
	snprintf(path, sizeof(path), CG_ROOT "/%s/cpu.stat", cg);
	if (read_cg(f, 0, path, buf, sizeof(buf)) > 0 && kv_get(buf, "usage_usec", &v)) {
		s->cpu_ns = v * 1000;
		s->valid |= MGR_USAGE_CPU;
		if (kv_get(buf, "throttled_usec", &v)) {
			s->throttled_ns = v * 1000;
			kv_get(buf, "nr_throttled", &s->throttled_periods);
			s->valid |= MGR_USAGE_THROTTLE;
		}
	}
	snprintf(path, sizeof(path), CG_ROOT "/%s/memory.current", cg);
	if (read_u64(f, 1, path, &s->memory_bytes)) {
		s->valid |= MGR_USAGE_MEMORY;
		snprintf(path, sizeof(path), CG_ROOT "/%s/memory.stat", cg);
		if (read_cg(f, 2, path, buf, sizeof(buf)) > 0 && kv_get(buf, "inactive_file", &v))
			s->memory_bytes = s->memory_bytes > v ? s->memory_bytes - v : 0;
		snprintf(path, sizeof(path), CG_ROOT "/%s/memory.max", cg);
		if (read_cg(f, 3, path, buf, sizeof(buf)) > 0 && buf[0] >= '0' && buf[0] <= '9')
			s->memory_limit = strtoull(buf, NULL, 10);
		snprintf(path, sizeof(path), CG_ROOT "/%s/memory.events", cg);
		if (read_cg(f, 4, path, buf, sizeof(buf)) > 0 &&
		    kv_get(buf, "oom_kill", &s->oom_kills))
			s->valid |= MGR_USAGE_OOM;
	}
	snprintf(path, sizeof(path), CG_ROOT "/%s/io.stat", cg);
	if (read_cg(f, 5, path, buf, sizeof(buf)) >= 0) {
		iostat_sum(buf, s);
		s->valid |= MGR_USAGE_DISK;
	}
	snprintf(path, sizeof(path), CG_ROOT "/%s/memory.pressure", cg);
	if (psi_some_total(f, 6, path, &s->pressure_us))
		s->valid |= MGR_USAGE_PRESSURE;
}

/*
 * The host's interface counters, from /proc/self/net/dev, parsed once per
 * tick (reused for NETDEV_FRESH_NS) into an array sorted by name: one
 * read of the file serves every instance (with 1,000 veths it is ~130 KB).
 */
#define NETDEV_FRESH_NS 200000000ull

struct netdev {
	char name[IFNAMSIZ];
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
};

static pthread_mutex_t netdev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct netdev *netdevs; /* kept for the process's life */
static size_t nnetdevs, netdevs_cap;
static uint64_t netdevs_at;

static int netdev_cmp(const void *a, const void *b)
{
	return strcmp(((const struct netdev *)a)->name, ((const struct netdev *)b)->name);
}

/* Holding netdev_lock: re-read the file when the copy is stale. */
static void netdev_refresh(void)
{
	uint64_t now = vs_now_ns();
	if (netdevs_at && now - netdevs_at < NETDEV_FRESH_NS)
		return;
	vs_cleanup_free char *text = NULL;
	size_t len = 0;
	struct vs_err e = VS_ERR_INIT;
	if (vs_read_file("/proc/self/net/dev", &text, &len, 64u << 20, &e) < 0)
		return;
	nnetdevs = 0;
	for (char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		while (*p == ' ')
			p++;
		char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
		if (!colon || (nl && colon > nl) || (size_t)(colon - p) >= IFNAMSIZ)
			continue;
		struct netdev d = { 0 };
		memcpy(d.name, p, (size_t)(colon - p));
		if (sscanf(colon + 1,
			   "%" SCNu64 " %" SCNu64 " %*u %*u %*u %*u %*u %*u %" SCNu64 " %" SCNu64,
			   &d.rx_bytes, &d.rx_packets, &d.tx_bytes, &d.tx_packets) != 4)
			continue;
		if (nnetdevs == netdevs_cap) {
			size_t cap = netdevs_cap ? netdevs_cap * 2 : 64;
			struct netdev *nd = realloc(netdevs, cap * sizeof(*nd));
			if (!nd)
				break;
			netdevs = nd;
			netdevs_cap = cap;
		}
		netdevs[nnetdevs++] = d;
	}
	qsort(netdevs, nnetdevs, sizeof(*netdevs), netdev_cmp);
	netdevs_at = now;
}

/* The host side's counters of ifnames[], swapped to the instance's point
 * of view (the host's rx is what the instance sent). */
static void sample_net(const char *const *ifnames, size_t nif, struct mgr_usage_sample *s)
{
	if (nif == 0)
		return;
	pthread_mutex_lock(&netdev_lock);
	netdev_refresh();
	for (size_t i = 0; i < nif; i++) {
		struct netdev key = { 0 };
		if (!ifnames[i] || strlen(ifnames[i]) >= IFNAMSIZ)
			continue;
		strcpy(key.name, ifnames[i]);
		const struct netdev *d =
		    nnetdevs ? bsearch(&key, netdevs, nnetdevs, sizeof(*netdevs), netdev_cmp)
			     : NULL;
		if (!d)
			continue;
		s->net_tx_bytes += d->rx_bytes;
		s->net_tx_packets += d->rx_packets;
		s->net_rx_bytes += d->tx_bytes;
		s->net_rx_packets += d->tx_packets;
		s->valid |= MGR_USAGE_NET;
	}
	pthread_mutex_unlock(&netdev_lock);
}

int mgr_usage_cgroup(const char *cgroup, const char *const *ifnames, size_t nif,
		     struct mgr_usage_sample *s, struct vs_err *err)
{
	return mgr_usage_cgroup_cached(cgroup, ifnames, nif, NULL, s, err);
}

int mgr_usage_cgroup_cached(const char *cgroup, const char *const *ifnames, size_t nif,
			    struct mgr_usage_fds *fds, struct mgr_usage_sample *s,
			    struct vs_err *err)
{
	memset(s, 0, sizeof(*s));
	if (!cgroup || !*cgroup || strchr(cgroup, '/') || strcmp(cgroup, "..") == 0)
		return vs_errf(err, EINVAL, "usage: bad cgroup name");
	if (cgroup_layout() == CT_CGROUP_V2)
		sample_cgroup_v2(cgroup, fds, s);
	else
		sample_cgroup_v1(cgroup, fds, s);
	sample_net(ifnames, nif, s);
	if (!(s->valid & (MGR_USAGE_CPU | MGR_USAGE_MEMORY)))
		return vs_errf(err, ENOENT, "usage: cgroup %s not found", cgroup);
	if (!(s->valid & MGR_USAGE_NET) && nif == 0)
		s->valid |= MGR_USAGE_NET; /* no NIC: nothing sent, measured as zero */
	return 0;
}

int mgr_usage_container(struct mgr *m, const struct mgr_instance *inst, struct mgr_usage_sample *s,
			struct vs_err *err)
{
	(void)m;
	/* the host ends of the NICs, named as ct_start names them */
	char names[4][16];
	const char *ifs[4];
	for (unsigned i = 0; i < 4; i++) {
		snprintf(names[i], sizeof(names[i]), "vv%.10s%u", inst->runtime_id + 7, i);
		ifs[i] = names[i];
	}
	return mgr_usage_cgroup_cached(inst->runtime_id, ifs, 4, mgr_usage_fds_for(m, inst), s,
				       err);
}

/* --- VMs: the VMM's control API over its unix socket --- */

struct body {
	char *buf;
	size_t len;
};

static size_t body_write(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t add = size * n;
	if (b->len + add > (1u << 20))
		return 0;
	char *nb = realloc(b->buf, b->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, p, add);
	b->buf = nb;
	b->len += add;
	b->buf[b->len] = 0;
	return add;
}

/* GET path on the VMM API: parsed JSON (NULL with err when not 200). */
static struct json_object *vmm_get(const char *sock, const char *path, struct vs_err *err)
{
	CURL *c = curl_easy_init();
	if (!c) {
		vs_errf(err, ENOMEM, "curl init");
		return NULL;
	}
	char url[256];
	snprintf(url, sizeof(url), "http://localhost%s", path);
	struct body b = { 0 };
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	struct json_object *o = NULL;
	if (rc != CURLE_OK)
		vs_errf(err, EIO, "VMM API %s %s: %s", sock, path, curl_easy_strerror(rc));
	else if (code != 200)
		vs_errf(err, EIO, "VMM API %s %s: HTTP %ld", sock, path, code);
	else if (!(o = json_tokener_parse(b.buf ? b.buf : "")))
		vs_errf(err, EPROTO, "VMM API %s %s: not JSON", sock, path);
	free(b.buf);
	return o;
}

static uint64_t jnum_u64(struct json_object *o, const char *key, bool *ok)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v)) {
		if (ok)
			*ok = false;
		return 0;
	}
	if (ok)
		*ok = true;
	return (uint64_t)json_object_get_int64(v);
}

int mgr_usage_vm_at(const char *cgroup, const char *api_sock, pid_t vmm_pid,
		    struct mgr_usage_sample *s, struct vs_err *err)
{
	memset(s, 0, sizeof(*s));
	struct json_object *vm = vmm_get(api_sock, "/vm", err);
	if (!vm)
		return -err->code;
	struct json_object *harts, *cfg, *tap;
	double busy = 0;
	if (json_object_object_get_ex(vm, "harts", &harts) &&
	    json_object_is_type(harts, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(harts); i++) {
			struct json_object *h = json_object_array_get_idx(harts, i), *b;
			if (json_object_object_get_ex(h, "busy_s", &b))
				busy += json_object_get_double(b);
		}
		s->hart_busy_ns = (uint64_t)(busy * 1e9);
		s->valid |= MGR_USAGE_HARTS;
	}
	const char *ifname = NULL;
	if (json_object_object_get_ex(vm, "config", &cfg)) {
		s->guest_total = jnum_u64(cfg, "mem_bytes", NULL);
		s->memory_limit = s->guest_total;
		if (json_object_object_get_ex(cfg, "tap", &tap) &&
		    json_object_is_type(tap, json_type_string))
			ifname = json_object_get_string(tap);
	}
	/* the VMM process's cgroup: CPU (harts and devices), memory as fallback */
	struct mgr_usage_sample cg;
	struct vs_err e2 = VS_ERR_INIT;
	const char *ifs[1] = { ifname };
	if (mgr_usage_cgroup(cgroup, ifs, ifname ? 1 : 0, &cg, &e2) == 0) {
		s->cpu_ns = cg.cpu_ns;
		s->memory_bytes = cg.memory_bytes;
		s->valid |= cg.valid & (MGR_USAGE_CPU | MGR_USAGE_MEMORY | MGR_USAGE_THROTTLE |
					MGR_USAGE_PRESSURE | MGR_USAGE_OOM);
		s->throttled_ns = cg.throttled_ns;
		s->throttled_periods = cg.throttled_periods;
		s->pressure_us = cg.pressure_us;
		s->oom_kills = cg.oom_kills;
	} else if (s->valid & MGR_USAGE_HARTS) {
		s->cpu_ns = s->hart_busy_ns;
		s->valid |= MGR_USAGE_CPU;
	}
	if (ifname) {
		sample_net(ifs, 1, s);
	} else {
		s->valid |= MGR_USAGE_NET;
	}
	json_object_put(vm);
	/* the guest's own memory figures (needs the balloon's statistics) */
	struct json_object *st = vmm_get(api_sock, "/balloon/statistics", &e2);
	if (st) {
		bool ok1, ok2;
		uint64_t total = jnum_u64(st, "total_memory_bytes", &ok1);
		uint64_t avail = jnum_u64(st, "available_memory_bytes", &ok2);
		if (ok1 && ok2 && total) {
			s->guest_total = total;
			s->guest_available = avail;
			s->memory_bytes = total > avail ? total - avail : 0;
			s->valid |= MGR_USAGE_GUEST_MEMORY | MGR_USAGE_MEMORY;
		}
		json_object_put(st);
	}
	/* disk: the VMM process's block I/O (its disks are files it reads) */
	if (vmm_pid > 0) {
		char path[64], buf[1024];
		snprintf(path, sizeof(path), "/proc/%d/io", (int)vmm_pid);
		if (read_small(path, buf, sizeof(buf)) > 0) {
			char *p;
			if ((p = strstr(buf, "\nread_bytes: ")))
				s->disk_read_bytes = strtoull(p + 13, NULL, 10);
			if ((p = strstr(buf, "\nwrite_bytes: ")))
				s->disk_write_bytes = strtoull(p + 14, NULL, 10);
			if ((p = strstr(buf, "syscr: ")))
				s->disk_read_ops = strtoull(p + 7, NULL, 10);
			if ((p = strstr(buf, "syscw: ")))
				s->disk_write_ops = strtoull(p + 7, NULL, 10);
			s->valid |= MGR_USAGE_DISK;
		}
	}
	return 0;
}

int mgr_usage_vm(struct mgr *m, const struct mgr_instance *inst, struct mgr_usage_sample *s,
		 struct vs_err *err)
{
	char sock[512], pidf[512], cg[64], buf[32];
	snprintf(sock, sizeof(sock), "%s/vms/%s/api.sock", m->state_dir, inst->runtime_id);
	snprintf(pidf, sizeof(pidf), "%s/vms/%s/vmm.pid", m->state_dir, inst->runtime_id);
	snprintf(cg, sizeof(cg), "vessel-vm-%s", inst->runtime_id);
	pid_t pid = 0;
	if (read_small(pidf, buf, sizeof(buf)) > 0)
		pid = (pid_t)strtol(buf, NULL, 10);
	return mgr_usage_vm_at(cg, sock, pid, s, err);
}
