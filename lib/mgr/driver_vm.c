/*
 * driver_vm.c - instances of type vm, each one vessel-vmm process driven
 * through its control API (docs/api/vessel-vmm.yaml) and reached inside
 * through the guest agent (docs/agent-protocol.md).
 *
 * The VMM is started detached: vesseld forks, the child makes its own
 * session and forks the VMM, whose parent exits at once; so the VMM is
 * never vesseld's child, shares neither its session nor its fate, and a
 * `kill -9` of vesseld leaves it running.  The pid goes to vmm.pid; a pid
 * counts as this VM's VMM only while its command line names this VM's
 * api.sock (pids are reused).  The next vesseld adopts a live VMM by that
 * pidfile and socket and needs nothing else: all the VM's state is in the
 * VMM and its directory.
 *
 * Host objects of one VM, all named by its runtime ID (fixed at creation):
 *   STATE/vms/ID/            root.qcow2 (thin overlay backed by the image's
 *                            disk.qcow2), api.sock, agent.sock,
 *                            console.sock (the serial port), console.log (its
 *                            output, vessel-vmm --serial-log), vmm.log (the
 *                            VMM's stderr), vmm.pid, boot.json (what this
 *                            boot was given: memory ceiling, harts, TAPs)
 *   cgroup vessel-vm-ID      v1: in cpu, cpuacct and memory; v2: under the
 *                            unified root.  Holds the VMM; limits.cpu is its
 *                            CPU quota
 *   TAP vtIIIIIIIIIIN        one per NIC (IIIIIIIIII: the ID's first hex
 *                            digits), on the NIC's network bridge
 * start makes the cgroup, TAPs, sockets and process; stop removes them
 * (pid gone first); destroy removes the directory; reconcile kills the
 * VMM of a directory no instance owns and removes its objects.
 *
 * Limits: limits.memory is the guest's memory, set live through the
 * virtio-balloon below the boot ceiling (limits.memory.max when set, else
 * the boot size itself: a VM cannot grow above what it booted with);
 * limits.cpu is the hart count at the next start and, live, a CPU quota
 * on the VMM's cgroup (the hart count itself cannot change while it runs).
 *
 * Snapshots: a stopped VM's snapshot is an internal qcow2 snapshot of
 * root.qcow2 (lib/disk); a running VM's is taken by its VMM (PUT
 * /snapshot/create {"savevm"}), which stores the disk and the running
 * state under the same tag, and deleted by it (PUT /snapshot/delete): it
 * holds the disk open, so nothing else may write the qcow2 meanwhile.  Restore (VM stopped) rolls root.qcow2 back;
 * a stateful snapshot (snapshots/SNAP.state, made by snapshot_stateful)
 * also leaves a request (loadvm) that makes the next start continue the
 * saved state with `vessel-vmm --loadvm SNAP` instead of booting.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/usage.h"
#include "vessel/mgr/volume.h"
#include "vessel/vm/agent.h"

#define OUT_CAP		(1u << 20)
#define BOOT_TIMEOUT_S	240 /* the agent's first answer (TCG-like JIT, ASan, loaded host) */
#define AGENT_TIMEOUT_S 60
#define API_TIMEOUT_S	30
#define LIST_TIMEOUT_S	10 /* a listing waits this long for all VMMs together */
#define MAX_NICS	4  /* vessel-vmm's --net (VIRT_MAX_NETS) */
#define MAX_VOLS	6  /* storage volumes: --disk after the root disk */
#define DEFAULT_MEM	(256ull << 20)
#define DEFAULT_STOP_S	30

/* One agent client at a time per VMM (its socket takes one connection):
 * the runtime ids of the VMs whose agent is in use; others wait. */
static pthread_mutex_t agent_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t agent_cond = PTHREAD_COND_INITIALIZER;
#define AGENT_USERS_MAX 64
static char agent_users[AGENT_USERS_MAX][40];

static void agent_acquire(const char *id)
{
	pthread_mutex_lock(&agent_lock);
	for (;;) {
		int free_slot = -1;
		bool busy = false;
		for (int i = 0; i < AGENT_USERS_MAX; i++) {
			if (!agent_users[i][0])
				free_slot = free_slot < 0 ? i : free_slot;
			else if (strcmp(agent_users[i], id) == 0)
				busy = true;
		}
		if (!busy && free_slot >= 0) {
			snprintf(agent_users[free_slot], sizeof(agent_users[0]), "%s", id);
			break;
		}
		pthread_cond_wait(&agent_cond, &agent_lock);
	}
	pthread_mutex_unlock(&agent_lock);
}

static void agent_release(const char *id)
{
	pthread_mutex_lock(&agent_lock);
	for (int i = 0; i < AGENT_USERS_MAX; i++)
		if (strcmp(agent_users[i], id) == 0)
			agent_users[i][0] = 0;
	pthread_cond_broadcast(&agent_cond);
	pthread_mutex_unlock(&agent_lock);
}

static char *vm_path(struct mgr *m, const char *id, const char *sub)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s%s%s", m->vm_dir, id, sub ? "/" : "", sub ? sub : "") < 0)
		return NULL;
	return p;
}

static void tap_name(const char *id, unsigned i, char out[16])
{
	snprintf(out, 16, "vt%.10s%u", id + 7, i & 7);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* ---- cgroup vessel-vm-ID ---- */

static bool cgroup_v1(void)
{
	return access("/sys/fs/cgroup/cpu/cgroup.procs", F_OK) == 0;
}

/* The cgroup's directories (v1: cpu, cpuacct, memory; v2: one). */
static size_t cgroup_dirs(const char *id, char dirs[3][256])
{
	static const char *const v1[] = { "cpu", "cpuacct", "memory" };
	if (!cgroup_v1()) {
		snprintf(dirs[0], 256, "/sys/fs/cgroup/vessel-vm-%s", id);
		return 1;
	}
	size_t n = 0;
	for (size_t i = 0; i < 3; i++) {
		char probe[64];
		snprintf(probe, sizeof(probe), "/sys/fs/cgroup/%s/cgroup.procs", v1[i]);
		if (access(probe, F_OK) < 0)
			continue;
		/* cpu and cpuacct may be one hierarchy (cpu,cpuacct) under two names */
		char real[PATH_MAX], other[PATH_MAX];
		snprintf(probe, sizeof(probe), "/sys/fs/cgroup/%s", v1[i]);
		if (i == 1 && realpath(probe, real) && realpath("/sys/fs/cgroup/cpu", other) &&
		    strcmp(real, other) == 0)
			continue;
		snprintf(dirs[n++], 256, "/sys/fs/cgroup/%s/vessel-vm-%s", v1[i], id);
	}
	return n;
}

static int write_text(const char *path, const char *text, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || vs_write_full(fd, text, strlen(text)) < 0)
		return err ? vs_syserrf(err, errno, "write %s", path) : -errno;
	return 0;
}

static int cgroup_make(const char *id, struct vs_err *err)
{
	char dirs[3][256];
	size_t n = cgroup_dirs(id, dirs);
	for (size_t i = 0; i < n; i++)
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
			return vs_syserrf(err, errno, "mkdir %s", dirs[i]);
	if (!cgroup_v1()) { /* the controllers the limits need */
		struct vs_err e = VS_ERR_INIT;
		write_text("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +memory", &e);
	}
	return 0;
}

/* CPU quota of the VMM: N CPUs (limits.cpu=N) or none. */
static int cgroup_set_cpu(const char *id, const char *cpu, struct vs_err *err)
{
	long n = cpu && !strpbrk(cpu, "-,") ? strtol(cpu, NULL, 10) : 0;
	char dirs[3][256], path[300], text[64];
	cgroup_dirs(id, dirs);
	if (cgroup_v1()) {
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dirs[0]);
		int r = write_text(path, "100000", err);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dirs[0]);
		snprintf(text, sizeof(text), "%ld", n > 0 ? n * 100000 : -1L);
		return write_text(path, text, err);
	}
	snprintf(path, sizeof(path), "%s/cpu.max", dirs[0]);
	if (n > 0)
		snprintf(text, sizeof(text), "%ld 100000", n * 100000);
	else
		snprintf(text, sizeof(text), "max 100000");
	return write_text(path, text, err);
}

/* Remove the cgroup (its processes are gone, or are killed first). */
static void cgroup_remove(const char *id)
{
	char dirs[3][256];
	size_t n = cgroup_dirs(id, dirs);
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < 100 && rmdir(dirs[i]) < 0 && errno == EBUSY; k++)
			sleep_ms(20); /* the last process is still being reaped */
	}
}

/* ---- the VMM process ---- */

/* The pid in vmm.pid when it is alive and is this VM's VMM, else 0. */
static pid_t vmm_pid(struct mgr *m, const char *id)
{
	vs_cleanup_free char *pidfile = vm_path(m, id, "vmm.pid");
	vs_cleanup_free char *api = vm_path(m, id, "api.sock");
	vs_cleanup_free char *text = NULL, *cmd = NULL, *cmdpath = NULL, *stat = NULL;
	size_t len, clen;
	if (!pidfile || !api || vs_read_file(pidfile, &text, &len, 64, NULL) < 0)
		return 0;
	long pid = strtol(text, NULL, 10);
	if (pid <= 1 || asprintf(&cmdpath, "/proc/%ld/cmdline", pid) < 0)
		return 0;
	if (vs_read_file(cmdpath, &cmd, &clen, 1 << 16, NULL) < 0)
		return 0;
	bool ours = false;
	for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1)
		if (strcmp(cmd + off, api) == 0)
			ours = true;
	if (!ours)
		return 0;
	/* a zombie (its parent has not reaped it yet) is gone */
	free(cmdpath);
	cmdpath = NULL;
	if (asprintf(&cmdpath, "/proc/%ld/stat", pid) < 0 ||
	    vs_read_file(cmdpath, &stat, &len, 4096, NULL) < 0)
		return 0;
	const char *p = strrchr(stat, ')');
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return 0;
	return (pid_t)pid;
}

/* A VMM of this VM that has no pidfile (vesseld died between the spawn and
 * the pidfile): found by the api.sock path on its command line; 0: none. */
static pid_t vmm_scan(struct mgr *m, const char *id)
{
	vs_cleanup_free char *api = vm_path(m, id, "api.sock");
	DIR *d = opendir("/proc");
	pid_t found = 0;
	if (!api || !d) {
		if (d)
			closedir(d);
		return 0;
	}
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == getpid())
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		vs_cleanup_free char *cmd = NULL;
		size_t len;
		if (vs_read_file(path, &cmd, &len, 1 << 16, NULL) < 0)
			continue;
		bool vmm = false, ours = false;
		for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
			if (off == 0) {
				const char *base = strrchr(cmd, '/');
				vmm = strcmp(base ? base + 1 : cmd, "vessel-vmm") == 0;
			}
			ours |= strcmp(cmd + off, api) == 0;
		}
		if (vmm && ours)
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

static bool wait_gone(struct mgr *m, const char *id, int timeout_ms)
{
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	while (vmm_pid(m, id)) {
		if (vs_now_ns() >= deadline)
			return false;
		sleep_ms(50);
	}
	return true;
}

/* ---- the control API (HTTP on api.sock, libcurl) ---- */

struct buf {
	char *p;
	size_t len;
};

static size_t buf_write(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct buf *b = opaque;
	size_t n = size * nmemb;
	if (b->len + n > (1u << 20))
		return 0;
	char *np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

/* METHOD path with an optional JSON body; *reply (may be NULL) gets the
 * parsed answer.  A non-2xx status is an error with the VMM's message. */
static int api_call(struct mgr *m, const struct mgr_instance *inst, const char *method,
		    const char *path, const char *body, struct json_object **reply,
		    struct vs_err *err)
{
	if (reply)
		*reply = NULL;
	vs_cleanup_free char *sock = vm_path(m, inst->runtime_id, "api.sock");
	char url[256];
	snprintf(url, sizeof(url), "http://localhost%s", path);
	CURL *c = curl_easy_init();
	if (!sock || !c) {
		if (c)
			curl_easy_cleanup(c);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	struct buf b = { 0 };
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)API_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	int r = 0;
	struct json_object *j = b.p ? json_tokener_parse(b.p) : NULL;
	if (rc != CURLE_OK) {
		r = vs_errf(err, EIO, "VM %s: control API %s %s: %s", inst->name, method, path,
			    curl_easy_strerror(rc));
	} else if (status < 200 || status >= 300) {
		struct json_object *e;
		const char *msg = j && json_object_object_get_ex(j, "error", &e)
				      ? json_object_get_string(e)
				      : (b.p ? b.p : "");
		r = vs_errf(err,
			    status == 409   ? EBUSY
			    : status == 404 ? ENOENT
					    : EIO,
			    "VM %s: %s %s: %d %s", inst->name, method, path, (int)status, msg);
	}
	if (r == 0 && reply)
		*reply = j;
	else
		json_object_put(j);
	free(b.p);
	return r;
}

int mgr_vm_api_call(struct mgr *m, const struct mgr_instance *inst, const char *method,
		    const char *path, const char *body, struct vs_err *err)
{
	return api_call(m, inst, method, path, body, NULL, err);
}

/* ---- boot parameters ---- */

struct boot {
	uint64_t mem, max; /* guest memory now, and the ceiling (--mem) */
	unsigned cpus;
};

static int cpu_count(const char *cpu)
{
	if (!cpu)
		return 0;
	if (!strpbrk(cpu, "-,"))
		return (int)strtol(cpu, NULL, 10);
	int n = 0; /* a CPU list: as many harts as CPUs listed */
	const char *p = cpu;
	while (*p) {
		long a = strtol(p, (char **)&p, 10), b = a;
		if (*p == '-')
			b = strtol(p + 1, (char **)&p, 10);
		n += (int)(b - a + 1);
		if (*p == ',')
			p++;
		else
			break;
	}
	return n;
}

static int boot_params(const struct mgr_instance *inst, struct json_object *meta, struct boot *b,
		       struct vs_err *err)
{
	struct json_object *v;
	uint64_t def = DEFAULT_MEM;
	if (meta && json_object_object_get_ex(meta, "memory", &v))
		def = (uint64_t)json_object_get_int64(v);
	b->cpus = meta && json_object_object_get_ex(meta, "cpus", &v) ? json_object_get_int(v) : 1;
	int n = cpu_count(mgr_instance_config_get(inst, "limits.cpu"));
	if (n > 0)
		b->cpus = (unsigned)n;
	if (b->cpus > 8)
		b->cpus = 8; /* vessel-vmm's VM_MAX_HARTS */
	b->mem = def;
	struct vs_err e = VS_ERR_INIT;
	const char *mem = mgr_instance_config_get(inst, "limits.memory");
	if (mem && vs_parse_size(mem, &b->mem, &e) < 0)
		return vs_errf(err, EINVAL, "limits.memory=%s: %s", mem, e.msg);
	b->max = b->mem;
	const char *max = mgr_instance_config_get(inst, "limits.memory.max");
	if (max && vs_parse_size(max, &b->max, &e) < 0)
		return vs_errf(err, EINVAL, "limits.memory.max=%s: %s", max, e.msg);
	if (b->max < b->mem)
		return vs_errf(err, EINVAL,
			       "VM %s: limits.memory (%s) is above limits.memory.max (%s)",
			       inst->name, mem, max);
	b->mem &= ~((1ull << 20) - 1);
	b->max &= ~((1ull << 20) - 1);
	if (b->mem < (32ull << 20))
		return vs_errf(err, EINVAL, "VM %s: limits.memory: a VM needs at least 32MiB",
			       inst->name);
	return 0;
}

static int boot_save(struct mgr *m, const struct mgr_instance *inst, const struct boot *b,
		     struct vs_err *err)
{
	vs_cleanup_free char *p = vm_path(m, inst->runtime_id, "boot.json");
	char text[160];
	int n = snprintf(text, sizeof(text), "{\"memory\":%llu,\"max\":%llu,\"cpus\":%u}\n",
			 (unsigned long long)b->mem, (unsigned long long)b->max, b->cpus);
	return p ? vs_write_file_atomic(p, text, (size_t)n, err)
		 : vs_errf(err, ENOMEM, "out of memory");
}

static int boot_load(struct mgr *m, const struct mgr_instance *inst, struct boot *b,
		     struct vs_err *err)
{
	vs_cleanup_free char *p = vm_path(m, inst->runtime_id, "boot.json");
	vs_cleanup_free char *text = NULL;
	size_t len;
	if (!p)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = vs_read_file(p, &text, &len, 4096, err);
	if (r < 0)
		return r;
	struct json_object *j = json_tokener_parse(text), *v;
	if (!j)
		return vs_errf(err, EINVAL, "%s: not JSON", p);
	b->mem =
	    json_object_object_get_ex(j, "memory", &v) ? (uint64_t)json_object_get_int64(v) : 0;
	b->max = json_object_object_get_ex(j, "max", &v) ? (uint64_t)json_object_get_int64(v) : 0;
	b->cpus = json_object_object_get_ex(j, "cpus", &v) ? json_object_get_int(v) : 1;
	json_object_put(j);
	return 0;
}

/* ---- the guest agent ---- */

/* Run argv in the guest (the caller holds agent_acquire). */
static int agent_run(struct mgr *m, const struct mgr_instance *inst, const struct vm_agent_exec *x,
		     struct vm_agent_exec_result *res, double connect_s, struct vs_err *err)
{
	vs_cleanup_free char *sock = vm_path(m, inst->runtime_id, "agent.sock");
	if (!sock)
		return vs_errf(err, ENOMEM, "out of memory");
	struct vm_agent *a = vm_agent_connect(sock, connect_s, err);
	if (!a)
		return vs_err_prefix(err, "VM %s: guest agent", inst->name);
	int r = vm_agent_exec(a, x, res, err);
	vm_agent_close(a);
	return r;
}

/* A shell command in the guest that must succeed. */
static int guest_sh(struct mgr *m, const struct mgr_instance *inst, const char *script,
		    double connect_s, struct vs_err *err)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct vm_agent_exec x = { .argv = argv,
				   .stdin_fd = -1,
				   .stdout_fd = -1,
				   .stderr_fd = -1,
				   .capture_max = 65536,
				   .timeout_sec = AGENT_TIMEOUT_S };
	struct vm_agent_exec_result res = { 0 };
	agent_acquire(inst->runtime_id);
	int r = agent_run(m, inst, &x, &res, connect_s, err);
	agent_release(inst->runtime_id);
	if (r == 0 && res.exit_status != 0)
		r = vs_errf(err, EIO, "VM %s: %s: %.200s", inst->name, script,
			    res.err && *res.err ? res.err : "failed");
	vm_agent_exec_result_free(&res);
	return r;
}

/* ---- entries ---- */

static int vm_create(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		     struct vs_err *err)
{
	if (!img || strcmp(img->type, "vm") != 0)
		return vs_errf(err, EINVAL,
			       "image %.12s is a %s image: a VM needs a VM image (type vm)",
			       img ? img->fingerprint : "?", img ? img->type : "missing");
	vs_cleanup_free char *dir = vm_path(m, inst->runtime_id, NULL);
	vs_cleanup_free char *root = vm_path(m, inst->runtime_id, "root.qcow2");
	vs_cleanup_free char *disk = mgr_image_vm_file(&m->images, img, "disk.qcow2");
	if (!dir || !root || !disk)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = mgr_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	if (mgr_path_exists(root))
		return 0; /* a repeated create after a crash */
	vs_cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", root) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct disk_create_options o = { .format = "qcow2",
					 .backing_file = disk,
					 .backing_format = "qcow2" };
	if ((r = disk_image_create(tmp, &o, err)) < 0)
		return vs_err_prefix(err, "root disk of %s", inst->name);
	if (rename(tmp, root) < 0)
		return vs_syserrf(err, errno, "rename %s", tmp);
	return 0;
}

/* Remove what a boot made on the host (the VMM is gone). */
static void release(struct mgr *m, const char *id)
{
	for (unsigned i = 0; i < MAX_NICS; i++) {
		char tap[16];
		tap_name(id, i, tap);
		mgr_network_tap_detach(tap);
	}
	cgroup_remove(id);
	static const char *const files[] = { "api.sock", "agent.sock", "console.sock", "vmm.pid" };
	for (size_t i = 0; i < VS_ARRAY_SIZE(files); i++) {
		vs_cleanup_free char *p = vm_path(m, id, files[i]);
		if (p)
			unlink(p);
	}
}

/* The last lines of vmm.log, for an error message. */
static void log_tail(struct mgr *m, const char *id, char *out, size_t len)
{
	vs_cleanup_free char *p = vm_path(m, id, "vmm.log");
	vs_cleanup_free char *text = NULL;
	size_t n;
	out[0] = 0;
	if (!p || vs_read_file(p, &text, &n, 1 << 20, NULL) < 0 || n == 0)
		return;
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = 0;
	const char *start = text + n;
	for (int lines = 0; start > text && lines < 2; start--)
		if (start[-1] == '\n')
			lines++;
	snprintf(out, len, "%s", start);
	for (char *c = out; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

/* fork + setsid + fork: the VMM in its own session, reparented away from
 * vesseld, in the cgroup, stdio on vmm.log.  Everything is prepared before
 * the fork (vesseld has threads: the children only call async-signal-safe
 * functions). */
static int spawn_detached(char *const argv[], const char *log, char cg_procs[3][300], size_t ncg,
			  pid_t *out, struct vs_err *err)
{
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (logfd < 0)
		return vs_syserrf(err, errno, "open %s", log);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int cgfd[3] = { -1, -1, -1 };
	for (size_t i = 0; i < ncg; i++)
		cgfd[i] = open(cg_procs[i], O_WRONLY | O_CLOEXEC);
	int p[2] = { -1, -1 }, q[2] = { -1, -1 }; /* p: the VMM's pid; q: closed by its exec */
	if (devnull < 0 || pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (p[i] >= 0)
				close(p[i]);
			if (q[i] >= 0)
				close(q[i]);
		}
		close(logfd);
		if (devnull >= 0)
			close(devnull);
		for (size_t i = 0; i < ncg; i++)
			if (cgfd[i] >= 0)
				close(cgfd[i]);
		return vs_syserrf(err, e, "spawn vessel-vmm");
	}
	pid_t child = fork();
	if (child == 0) {
		setsid();
		pid_t vmm = fork();
		if (vmm == 0) {
			sigset_t all;
			sigemptyset(&all);
			sigprocmask(SIG_SETMASK, &all, NULL);
			for (int s = 1; s < 32; s++)
				if (s != SIGKILL && s != SIGSTOP)
					signal(s, SIG_DFL);
			for (size_t i = 0; i < ncg; i++)
				if (cgfd[i] < 0 || write(cgfd[i], "0", 1) != 1)
					_exit(126);
			dup2(devnull, 0);
			dup2(logfd, 1);
			dup2(logfd, 2);
			execv(argv[0], argv);
			int e = errno;
			(void)!write(q[1], &e, sizeof(e));
			_exit(127);
		}
		(void)!write(p[1], &vmm, sizeof(vmm));
		_exit(vmm > 0 ? 0 : 1);
	}
	close(p[1]);
	close(q[1]);
	close(logfd);
	close(devnull);
	for (size_t i = 0; i < ncg; i++)
		if (cgfd[i] >= 0)
			close(cgfd[i]);
	if (child < 0) {
		close(p[0]);
		close(q[0]);
		return vs_syserrf(err, errno, "fork");
	}
	pid_t vmm = -1;
	ssize_t n = read(p[0], &vmm, sizeof(vmm));
	close(p[0]);
	/* EOF once the VMM has exec'd (or died): from then on its command
	 * line names it, which is how vmm_pid knows it */
	int exec_errno = 0;
	ssize_t qn;
	while ((qn = read(q[0], &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR)
		;
	close(q[0]);
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(vmm) || vmm <= 0)
		return vs_errf(err, EIO, "spawn vessel-vmm: fork failed");
	if (qn == sizeof(exec_errno))
		return vs_syserrf(err, exec_errno, "exec %s", argv[0]);
	*out = vmm;
	return 0;
}

/*
 * The VM's storage volumes (mgr_volume_mounts: by path, the order the
 * guest sees them in, vdb, vdc, ...; a live move keeps it) with their
 * vessel-vmm --disk arguments "FILE,format=raw|qcow2" in disks: at most
 * MAX_VOLS.  *vols is the caller's to free.
 */
static int vm_volumes(struct mgr *m, const struct mgr_instance *inst,
		      struct mgr_volume_mount **vols, size_t *nvols, char disks[MAX_VOLS][4200],
		      struct vs_err *err)
{
	int r = mgr_volume_mounts(m, inst->id, vols, nvols, err);
	if (r < 0)
		return r;
	if (*nvols > MAX_VOLS)
		return vs_errf(err, EINVAL, "VM %s: at most %d storage volumes", inst->name,
			       MAX_VOLS);
	for (size_t i = 0; i < *nvols; i++) {
		const char *dot = strrchr((*vols)[i].file, '.');
		snprintf(disks[i], 4200, "%s,format=%s", (*vols)[i].file,
			 dot && strcmp(dot, ".qcow2") == 0 ? "qcow2" : "raw");
	}
	return 0;
}

static int vm_stop(struct mgr *m, const struct mgr_instance *inst, bool force, int timeout_s,
		   struct vs_err *err);

static int vm_start(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		    struct vs_err *err)
{
	const char *id = inst->runtime_id;
	if (vmm_pid(m, id))
		return vs_errf(err, EALREADY, "instance %s is already running", inst->name);
	if (!m->vmm || access(m->vmm, X_OK) < 0)
		return vs_errf(err, ENOENT, "vessel-vmm not found (%s): start vesseld with --vmm",
			       m->vmm ? m->vmm : "none");
	if (!img || strcmp(img->type, "vm") != 0)
		return vs_errf(err, EINVAL, "instance %s: its image is no VM image", inst->name);
	release(m, id);			      /* leftovers of a VMM that died */
	int r = vm_create(m, inst, img, err); /* after a crash before create finished */
	if (r < 0)
		return r;
	struct json_object *meta = json_tokener_parse(img->config_json), *v;
	struct boot b = { 0 };
	if ((r = boot_params(inst, meta, &b, err)) < 0) {
		json_object_put(meta);
		return r;
	}
	vs_cleanup_free char *cmdline = NULL;
	const char *base = meta && json_object_object_get_ex(meta, "cmdline", &v)
			       ? json_object_get_string(v)
			       : "console=ttyS0";
	struct mgr_nic nics[MAX_NICS + 1];
	size_t nnics = 0;
	if ((r = mgr_network_nics(m, inst->id, nics, MAX_NICS + 1, &nnics, err)) < 0) {
		json_object_put(meta);
		return r;
	}
	if (nnics > MAX_NICS) {
		json_object_put(meta);
		return vs_errf(err, EINVAL, "VM %s: at most %d NICs", inst->name, MAX_NICS);
	}
	if (nnics)
		r = asprintf(&cmdline, "%s vessel.ip=%s/%u vessel.gw=%s", base, nics[0].address,
			     nics[0].prefix, nics[0].gateway);
	else
		r = asprintf(&cmdline, "%s", base);
	json_object_put(meta);
	if (r < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t nvols = 0;
	char disks[MAX_VOLS][4200];
	if ((r = vm_volumes(m, inst, &vols, &nvols, disks, err)) < 0)
		return r;
	if (nnics + nvols > MGR_VM_NICS_MAX)
		return vs_errf(
		    err, EINVAL,
		    "VM %s: %zu NICs and %zu storage volumes: at most %d together (of "
		    "vessel-vmm's 8 virtio slots, the root disk, agent, rng, balloon and "
		    "keyboard take 5)",
		    inst->name, nnics, nvols, MGR_VM_NICS_MAX);

	vs_cleanup_free char *dir = vm_path(m, id, NULL);
	vs_cleanup_free char *root = vm_path(m, id, "root.qcow2");
	vs_cleanup_free char *api = vm_path(m, id, "api.sock");
	vs_cleanup_free char *agent = vm_path(m, id, "agent.sock");
	vs_cleanup_free char *console = vm_path(m, id, "console.sock");
	vs_cleanup_free char *clog = vm_path(m, id, "console.log");
	vs_cleanup_free char *vlog = vm_path(m, id, "vmm.log");
	vs_cleanup_free char *pidfile = vm_path(m, id, "vmm.pid");
	vs_cleanup_free char *kernel = mgr_image_vm_file(&m->images, img, "kernel");
	vs_cleanup_free char *initrd = mgr_image_vm_file(&m->images, img, "initrd");
	if (!dir || !root || !api || !agent || !console || !clog || !vlog || !pidfile || !kernel)
		return vs_errf(err, ENOMEM, "out of memory");
	char memtext[32], cpus[16], serial[4200], rootspec[4200], net[MAX_NICS][64];
	snprintf(memtext, sizeof(memtext), "%lluM", (unsigned long long)(b.max >> 20));
	snprintf(cpus, sizeof(cpus), "%u", b.cpus);
	snprintf(serial, sizeof(serial), "unix:%s", console);
	snprintf(rootspec, sizeof(rootspec), "%s,format=qcow2", root);
	/* a restored stateful snapshot: continue its saved state (the machine,
	 * its memory and NIC come from the snapshot), once */
	char loadvm[MGR_NAME_MAX + 1] = "";
	{
		vs_cleanup_free char *req = vm_path(m, id, "loadvm");
		vs_cleanup_free char *text = NULL, *saved = NULL, *bp = NULL;
		size_t len;
		if (req && vs_read_file(req, &text, &len, sizeof(loadvm), NULL) == 0 && len > 0) {
			snprintf(loadvm, sizeof(loadvm), "%.*s", (int)strcspn(text, "\n"), text);
			if (asprintf(&saved, "snapshots/%s.state", loadvm) >= 0 &&
			    (bp = vm_path(m, id, saved)) &&
			    vs_read_file(bp, &text, &len, 4096, NULL) == 0) {
				struct json_object *j = json_tokener_parse(text), *jv;
				if (j && json_object_object_get_ex(j, "memory", &jv))
					b.mem = (uint64_t)json_object_get_int64(jv);
				if (j && json_object_object_get_ex(j, "max", &jv))
					b.max = (uint64_t)json_object_get_int64(jv);
				if (j && json_object_object_get_ex(j, "cpus", &jv))
					b.cpus = (unsigned)json_object_get_int(jv);
				json_object_put(j);
			}
		}
		if (req)
			unlink(req);
	}
	const char *argv[64];
	size_t n = 0;
	argv[n++] = m->vmm;
	if (loadvm[0]) {
		argv[n++] = "--loadvm";
		argv[n++] = loadvm;
	} else {
		argv[n++] = "--kernel";
		argv[n++] = kernel;
		if (initrd) {
			argv[n++] = "--initrd";
			argv[n++] = initrd;
		}
		argv[n++] = "--append";
		argv[n++] = cmdline;
		argv[n++] = "--mem";
		argv[n++] = memtext;
		argv[n++] = "--cpus";
		argv[n++] = cpus;
		argv[n++] = "--balloon";
	}
	argv[n++] = "--disk";
	argv[n++] = rootspec;
	for (size_t i = 0; i < nvols; i++) {
		argv[n++] = "--disk";
		argv[n++] = disks[i];
	}
	argv[n++] = "--serial";
	argv[n++] = serial;
	argv[n++] = "--serial-log";
	argv[n++] = clog;
	argv[n++] = "--agent";
	argv[n++] = agent;
	argv[n++] = "--api";
	argv[n++] = api;
	argv[n++] = "--snapshot-dir";
	argv[n++] = dir;
	argv[n++] = "--sandbox";
	char cg_procs[3][300];
	char cgdirs[3][256];
	size_t ncg = cgroup_dirs(id, cgdirs);
	for (size_t i = 0; i < ncg; i++)
		snprintf(cg_procs[i], sizeof(cg_procs[i]), "%s/cgroup.procs", cgdirs[i]);
	if ((r = cgroup_make(id, err)) < 0)
		goto fail;
	if ((r = cgroup_set_cpu(id, mgr_instance_config_get(inst, "limits.cpu"), err)) < 0)
		goto fail;
	for (size_t i = 0; i < nnics; i++) {
		char tap[16];
		tap_name(id, (unsigned)i, tap);
		if ((r = mgr_network_tap_attach(m, &nics[i], tap, err)) < 0)
			goto fail;
		snprintf(net[i], sizeof(net[i]), "tap=%s,mac=%s", tap, nics[i].mac);
		if (!loadvm[0]) { /* else the snapshot names the same TAPs */
			argv[n++] = "--net";
			argv[n++] = net[i];
		}
	}
	argv[n] = NULL;
	if ((r = boot_save(m, inst, &b, err)) < 0)
		goto fail;
	pid_t pid = 0;
	if ((r = spawn_detached((char *const *)argv, vlog, cg_procs, ncg, &pid, err)) < 0)
		goto fail;
	{
		char text[32];
		int len = snprintf(text, sizeof(text), "%d\n", (int)pid);
		if ((r = vs_write_file_atomic(pidfile, text, (size_t)len, err)) < 0) {
			kill(pid, SIGKILL);
			goto fail;
		}
	}
	/* the VMM is up when its API answers; the guest when its agent does */
	uint64_t deadline = vs_now_ns() + (uint64_t)BOOT_TIMEOUT_S * 1000000000ull;
	for (;;) {
		struct vs_err e = VS_ERR_INIT;
		if (!vmm_pid(m, id)) {
			char tail[512];
			log_tail(m, id, tail, sizeof(tail));
			r = vs_errf(err, EIO, "VM %s: vessel-vmm exited at start: %s", inst->name,
				    *tail ? tail : "(no message)");
			goto fail;
		}
		if (access(api, F_OK) == 0 && api_call(m, inst, "GET", "/vm", NULL, NULL, &e) == 0)
			break;
		if (vs_now_ns() >= deadline) {
			r = vs_errf(err, ETIMEDOUT, "VM %s: the control API did not answer",
				    inst->name);
			goto fail;
		}
		sleep_ms(50);
	}
	if (b.mem < b.max && !loadvm[0]) {
		char body[64];
		snprintf(body, sizeof(body), "{\"memory_mib\":%llu}",
			 (unsigned long long)(b.mem >> 20));
		if ((r = api_call(m, inst, "PATCH", "/balloon", body, NULL, err)) < 0)
			goto fail;
	}
	/* guest set-up through the agent: name server, NICs after eth0 (the
	 * guest's init sets up eth0 only, from vessel.ip=; each other one is
	 * found by its MAC), storage volumes */
	{
		double left = (double)(deadline - vs_now_ns()) / 1e9;
		char script[8192];
		size_t off = (size_t)snprintf(script, sizeof(script), "true");
		if (nnics && !loadvm[0]) /* a restored guest has it all already */
			off += (size_t)snprintf(script + off, sizeof(script) - off,
						" && echo nameserver %s >/etc/resolv.conf",
						nics[0].gateway);
		for (size_t i = 1; i < nnics && off < sizeof(script) && !loadvm[0]; i++)
			off += (size_t)snprintf(
			    script + off, sizeof(script) - off,
			    " && d=$(grep -lx %s /sys/class/net/*/address) && d=${d%%/address} && "
			    "ip link set ${d##*/} up && ip addr add %s/%u dev ${d##*/}",
			    nics[i].mac, nics[i].address, nics[i].prefix);
		for (size_t i = 0; i < nvols && off < sizeof(script) && !loadvm[0]; i++)
			off += (size_t)snprintf(script + off, sizeof(script) - off,
						" && mkdir -p '%s' && mount /dev/vd%c '%s'",
						vols[i].path, (char)('b' + i), vols[i].path);
		if (off >= sizeof(script)) {
			r = vs_errf(err, E2BIG, "VM %s: too many volume paths", inst->name);
			goto fail;
		}
		if ((r = guest_sh(m, inst, script, left > 1 ? left : 1, err)) < 0) {
			if (!vmm_pid(m, id)) {
				char tail[512];
				log_tail(m, id, tail, sizeof(tail));
				vs_err_clear(err);
				r = vs_errf(err, EIO, "VM %s: vessel-vmm exited during boot: %s",
					    inst->name, *tail ? tail : "(no message)");
			}
			goto fail;
		}
	}
	return 0;
fail : {
	struct vs_err e2 = VS_ERR_INIT;
	vm_stop(m, inst, true, 0, &e2);
}
	return r;
}

static int vm_stop(struct mgr *m, const struct mgr_instance *inst, bool force, int timeout_s,
		   struct vs_err *err)
{
	const char *id = inst->runtime_id;
	pid_t pid = vmm_pid(m, id);
	if (!pid && force && (pid = vmm_scan(m, id)) > 0) {
		/* a VMM without its pidfile (vesseld died while starting it) */
		vs_log(VS_LOG_INFO, "stop %s: killing VMM %d that has no pidfile", inst->name,
		       (int)pid);
		kill(pid, SIGKILL);
		for (int i = 0; i < 600 && kill(pid, 0) == 0; i++)
			sleep_ms(50);
		pid = 0;
	}
	if (pid) {
		bool gone = false;
		struct vs_err e = VS_ERR_INIT;
		struct json_object *vm = NULL, *st;
		if (api_call(m, inst, "GET", "/vm", NULL, &vm, &e) == 0 &&
		    json_object_object_get_ex(vm, "state", &st) &&
		    strcmp(json_object_get_string(st), "paused") == 0)
			api_call(m, inst, "PUT", "/vm/state", "{\"state\":\"running\"}", NULL, &e);
		json_object_put(vm);
		if (!force) {
			/* Ctrl-Alt-Del: the guest's init powers off cleanly */
			if (api_call(m, inst, "PUT", "/actions", "{\"action\":\"shutdown\"}", NULL,
				     &e) == 0)
				gone = wait_gone(
				    m, id, (timeout_s < 0 ? DEFAULT_STOP_S : timeout_s) * 1000);
			else
				vs_log(VS_LOG_INFO, "stop %s: %s; killing it", inst->name, e.msg);
		}
		if (!gone) {
			kill(pid, SIGKILL);
			if (!wait_gone(m, id, 30000))
				return vs_errf(err, ETIMEDOUT,
					       "instance %s: still running 30 s after SIGKILL",
					       inst->name);
		}
	}
	release(m, id);
	return 0;
}

static int vm_freeze(struct mgr *m, const struct mgr_instance *inst, bool freeze,
		     struct vs_err *err)
{
	return api_call(m, inst, "PUT", "/vm/state",
			freeze ? "{\"state\":\"paused\"}" : "{\"state\":\"running\"}", NULL, err);
}

static int vm_state(struct mgr *m, const struct mgr_instance *inst, enum mgr_power *power,
		    pid_t *pid, struct vs_err *err)
{
	*power = MGR_POWER_STOPPED;
	*pid = vmm_pid(m, inst->runtime_id);
	if (!*pid)
		return 0;
	*power = MGR_POWER_RUNNING;
	struct vs_err e = VS_ERR_INIT;
	struct json_object *vm = NULL, *st;
	if (api_call(m, inst, "GET", "/vm", NULL, &vm, &e) == 0 &&
	    json_object_object_get_ex(vm, "state", &st) &&
	    strcmp(json_object_get_string(st), "paused") == 0)
		*power = MGR_POWER_FROZEN;
	json_object_put(vm);
	return 0;
}

/* A listing: every running VMM is asked for its state at once (one GET
 * /vm each, in parallel through a curl multi handle, LIST_TIMEOUT_S for
 * them all) instead of one after another, so n VMs cost about one answer,
 * and a stuck VMM holds the listing up once, not once per VM.  Each
 * result is vm_state's: running unless the VMM says it is paused. */
static int vm_state_many(struct mgr *m, const struct mgr_instance *list, size_t n,
			 enum mgr_power *power, pid_t *pid, struct vs_err *err)
{
	struct probe {
		CURL *c;
		struct buf b;
		size_t i;
		char *sock;
	};
	struct probe *pr = calloc(n ? n : 1, sizeof(*pr));
	CURLM *multi = curl_multi_init();
	if (!pr || !multi) {
		free(pr);
		if (multi)
			curl_multi_cleanup(multi);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].type != MGR_INSTANCE_VM)
			continue;
		power[i] = MGR_POWER_STOPPED;
		pid[i] = vmm_pid(m, list[i].runtime_id);
		if (!pid[i])
			continue;
		power[i] = MGR_POWER_RUNNING;
		struct probe *p = &pr[np];
		p->i = i;
		p->sock = vm_path(m, list[i].runtime_id, "api.sock");
		p->c = p->sock ? curl_easy_init() : NULL;
		if (!p->c) { /* stays running, as vm_state on a failed call */
			free(p->sock);
			p->sock = NULL;
			continue;
		}
		curl_easy_setopt(p->c, CURLOPT_UNIX_SOCKET_PATH, p->sock);
		curl_easy_setopt(p->c, CURLOPT_URL, "http://localhost/vm");
		curl_easy_setopt(p->c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(p->c, CURLOPT_TIMEOUT, (long)LIST_TIMEOUT_S);
		curl_easy_setopt(p->c, CURLOPT_WRITEFUNCTION, buf_write);
		curl_easy_setopt(p->c, CURLOPT_WRITEDATA, &p->b);
		if (curl_multi_add_handle(multi, p->c) != CURLM_OK) {
			curl_easy_cleanup(p->c);
			free(p->sock);
			p->c = NULL;
			p->sock = NULL;
			continue;
		}
		np++;
	}
	int running = 1;
	while (np && running) {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		if (running && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	for (size_t k = 0; k < np; k++) {
		struct probe *p = &pr[k];
		long status = 0;
		curl_easy_getinfo(p->c, CURLINFO_RESPONSE_CODE, &status);
		struct json_object *vm =
				       status == 200 && p->b.p ? json_tokener_parse(p->b.p) : NULL,
				   *st;
		if (vm && json_object_object_get_ex(vm, "state", &st) &&
		    strcmp(json_object_get_string(st), "paused") == 0)
			power[p->i] = MGR_POWER_FROZEN;
		json_object_put(vm);
		curl_multi_remove_handle(multi, p->c);
		curl_easy_cleanup(p->c);
		free(p->sock);
		free(p->b.p);
	}
	curl_multi_cleanup(multi);
	free(pr);
	return 0;
}

static int vm_update_limits(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	struct boot b = { 0 };
	int r = boot_load(m, inst, &b, err);
	if (r < 0)
		return r;
	const char *mem = mgr_instance_config_get(inst, "limits.memory");
	uint64_t want = b.max;
	struct vs_err e = VS_ERR_INIT;
	if (mem && vs_parse_size(mem, &want, &e) < 0)
		return vs_errf(err, EINVAL, "limits.memory=%s: %s", mem, e.msg);
	if (want > b.max) {
		char max[32];
		vs_format_size(b.max, max, sizeof(max));
		return vs_errf(err, ERANGE,
			       "limits.memory=%s: above the maximum of the running VM (%s); set "
			       "limits.memory.max and restart it to go higher",
			       mem, max);
	}
	if (want < (32ull << 20))
		return vs_errf(err, ERANGE, "limits.memory=%s: a VM needs at least 32MiB", mem);
	char body[64];
	snprintf(body, sizeof(body), "{\"memory_mib\":%llu}", (unsigned long long)(want >> 20));
	if ((r = api_call(m, inst, "PATCH", "/balloon", body, NULL, err)) < 0)
		return r;
	const char *cpu = mgr_instance_config_get(inst, "limits.cpu");
	if ((r = cgroup_set_cpu(inst->runtime_id, cpu, err)) < 0)
		return r;
	int harts = cpu_count(cpu);
	if (harts > 0 && (unsigned)harts != b.cpus)
		vs_log(VS_LOG_INFO,
		       "%s: limits.cpu=%s is a CPU quota now; the VM keeps %u harts until its "
		       "next start",
		       inst->name, cpu, b.cpus);
	b.mem = want;
	return boot_save(m, inst, &b, err);
}

static int vm_exec(struct mgr *m, const struct mgr_instance *inst, const struct mgr_exec_req *req,
		   struct mgr_exec_result *res, struct vs_err *err)
{
	/* --user UID[:GID], as in a container (a bare UID: GID 0, as vessel-runtime): the guest's
	 * busybox chpst (supplementary groups: the GID), else util-linux
	 * setpriv (none), drops to it and runs the command (127: none such) */
	static const char drop[] =
	    "command -v chpst >/dev/null 2>&1 && exec chpst -u \"$0\" \"$@\"; "
	    "exec setpriv --reuid=\"${0%:*}\" --regid=\"${0#*:}\" --clear-groups -- \"$@\"";
	char ugid[32];
	const char *argv_user[40];
	const char *const *argv = (const char *const *)req->argv;
	if (req->user) {
		char *end;
		unsigned long uid = strtoul(req->user, &end, 10), gid = 0;
		bool ok = end != req->user && (!*end || *end == ':') && uid < UINT32_MAX;
		if (ok && *end == ':') {
			const char *g = end + 1;
			gid = strtoul(g, &end, 10);
			ok = end != g && !*end && gid < UINT32_MAX;
		}
		size_t argc = 0;
		while (req->argv[argc])
			argc++;
		if (!ok)
			return vs_errf(err, EINVAL, "exec in VM %s: user %s: expected UID[:GID]",
				       inst->name, req->user);
		if (argc + 4 > VS_ARRAY_SIZE(argv_user))
			return vs_errf(err, E2BIG, "exec in VM %s: too many arguments", inst->name);
		snprintf(ugid, sizeof(ugid), "%lu:%lu", uid, gid);
		size_t k = 0;
		argv_user[k++] = "sh";
		argv_user[k++] = "-c";
		argv_user[k++] = drop;
		argv_user[k++] = ugid; /* $0 */
		for (size_t i = 0; i <= argc; i++)
			argv_user[k++] = req->argv[i];
		argv = argv_user;
	}
	struct vm_agent_exec x = {
		.argv = argv,
		.env = (const char *const *)req->env,
		.cwd = req->cwd,
		.stdin_fd = -1,
		.stdin_data = req->stdin_data ? req->stdin_data : NULL,
		.stdin_len = req->stdin_len,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.capture_max = OUT_CAP,
	};
	struct vm_agent_exec_result ar = { 0 };
	agent_acquire(inst->runtime_id);
	int r = agent_run(m, inst, &x, &ar, AGENT_TIMEOUT_S, err);
	agent_release(inst->runtime_id);
	if (r == -ENOENT) {
		/* no such command: the shell's convention, as the container's exec */
		vm_agent_exec_result_free(&ar);
		memset(res, 0, sizeof(*res));
		res->exit_code = 127;
		res->errout = strdup(err->msg);
		res->err_len = res->errout ? strlen(res->errout) : 0;
		vs_err_clear(err);
		return 0;
	}
	if (r < 0) {
		vm_agent_exec_result_free(&ar);
		return r;
	}
	res->exit_code = ar.exit_status >= 0 ? ar.exit_status : 128 + ar.signal;
	res->out = ar.out;
	res->out_len = ar.out_len;
	res->errout = ar.err;
	res->err_len = ar.err_len;
	return 0;
}

static int vm_destroy(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err)
{
	int r = vm_stop(m, inst, true, 0, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *dir = vm_path(m, inst->runtime_id, NULL);
	return dir ? mgr_rm_rf(dir, err) : vs_errf(err, ENOMEM, "out of memory");
}

static bool known(const struct mgr_instance *list, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].type == MGR_INSTANCE_VM && strcmp(list[i].runtime_id, id) == 0)
			return true;
	return false;
}

static int vm_reconcile(struct mgr *m, const struct mgr_instance *list, size_t n,
			struct vs_err *err)
{
	DIR *d = opendir(m->vm_dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || known(list, n, de->d_name))
			continue;
		if (strncmp(de->d_name, "vessel-", 7) != 0 || strlen(de->d_name) >= 40)
			continue;
		struct mgr_instance ghost = { 0 };
		snprintf(ghost.runtime_id, sizeof(ghost.runtime_id), "%.39s", de->d_name);
		snprintf(ghost.name, sizeof(ghost.name), "%.63s", de->d_name);
		vs_log(VS_LOG_INFO, "reconcile: removing VM %s of no instance", de->d_name);
		struct vs_err e2 = VS_ERR_INIT;
		if (vm_destroy(m, &ghost, &e2) < 0)
			vs_log(VS_LOG_WARN, "reconcile: %s", e2.msg);
	}
	closedir(d);
	return 0;
}

/* ---- snapshots ---- */

static int with_root_disk(struct mgr *m, const struct mgr_instance *inst,
			  int (*fn)(struct disk_image *, const char *, struct vs_err *),
			  const char *snap, struct vs_err *err)
{
	vs_cleanup_free char *root = vm_path(m, inst->runtime_id, "root.qcow2");
	if (!root)
		return vs_errf(err, ENOMEM, "out of memory");
	struct disk_open_options o = { .format = "qcow2" };
	struct disk_image *d = disk_image_open(root, &o, err);
	if (!d)
		return vs_err_prefix(err, "root disk of %s", inst->name);
	int r = fn(d, snap, err);
	int r2 = disk_image_flush(d, r < 0 ? NULL : err);
	disk_image_close(d);
	return r < 0 ? r : r2;
}

static int vm_snapshot_create(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			      struct vs_err *err)
{
	if (vmm_pid(m, inst->runtime_id)) {
		/* the VMM owns the open disk: it takes the snapshot (and the RAM) */
		char body[160];
		snprintf(body, sizeof(body), "{\"savevm\":\"%s\"}", snap);
		return api_call(m, inst, "PUT", "/snapshot/create", body, NULL, err);
	}
	struct vs_err e = VS_ERR_INIT; /* a copy of a crashed attempt, unrecorded */
	with_root_disk(m, inst, disk_snapshot_delete, snap, &e);
	return with_root_disk(m, inst, disk_snapshot_create, snap, err);
}

/* STATE/vms/ID/snapshots/SNAP.state: SNAP is stateful (its boot.json). */
static char *state_marker(struct mgr *m, const struct mgr_instance *inst, const char *snap)
{
	vs_cleanup_free char *sub = NULL;
	if (asprintf(&sub, "snapshots/%s.state", snap) < 0)
		return NULL;
	return vm_path(m, inst->runtime_id, sub);
}

static int vm_snapshot_stateful(struct mgr *m, const struct mgr_instance *inst, const char *snap,
				struct vs_err *err)
{
	vs_cleanup_free char *dir = vm_path(m, inst->runtime_id, "snapshots");
	vs_cleanup_free char *marker = state_marker(m, inst, snap);
	vs_cleanup_free char *boot = vm_path(m, inst->runtime_id, "boot.json");
	vs_cleanup_free char *text = NULL;
	size_t len;
	if (!dir || !marker || !boot)
		return vs_errf(err, ENOMEM, "out of memory");
	if (!vmm_pid(m, inst->runtime_id)) /* only the VMM's savevm holds the state */
		return vs_errf(err, EINVAL, "VM %s is not running: no state to keep", inst->name);
	int r = mgr_mkdir_p(dir, 0700, err);
	if (r == 0)
		r = vs_read_file(boot, &text, &len, 4096, err);
	if (r == 0)
		r = vs_write_file_atomic(marker, text, len, err);
	return r;
}

static int vm_snapshot_restore(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			       struct vs_err *err)
{
	if (vmm_pid(m, inst->runtime_id))
		return vs_errf(err, EBUSY, "VM %s is running: stop it to restore", inst->name);
	int r = with_root_disk(m, inst, disk_snapshot_apply, snap, err);
	vs_cleanup_free char *marker = state_marker(m, inst, snap);
	vs_cleanup_free char *req = vm_path(m, inst->runtime_id, "loadvm");
	if (r < 0 || !marker || !req)
		return r < 0 ? r : vs_errf(err, ENOMEM, "out of memory");
	/* stateful: the next start continues the saved state (--loadvm) */
	if (mgr_path_exists(marker))
		return vs_write_file_atomic(req, snap, strlen(snap), err);
	unlink(req);
	return 0;
}

static int vm_snapshot_delete(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			      struct vs_err *err)
{
	vs_cleanup_free char *root = vm_path(m, inst->runtime_id, "root.qcow2");
	vs_cleanup_free char *marker = state_marker(m, inst, snap);
	if (vmm_pid(m, inst->runtime_id)) {
		/* the VMM holds the root disk open: it deletes the snapshot */
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "tag", json_object_new_string(snap));
		int r =
		    api_call(m, inst, "PUT", "/snapshot/delete",
			     json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN), NULL, err);
		json_object_put(b);
		if (r == 0 && marker)
			unlink(marker);
		return r;
	}
	if (marker)
		unlink(marker);
	if (!root || !mgr_path_exists(root))
		return 0; /* the instance's storage is gone already */
	return with_root_disk(m, inst, disk_snapshot_delete, snap, err);
}

/* ---- console, files ---- */

static int vm_console(struct mgr *m, const struct mgr_instance *inst, int *fd, struct vs_err *err)
{
	*fd = -1;
	vs_cleanup_free char *path = vm_path(m, inst->runtime_id, "console.sock");
	if (!path)
		return vs_errf(err, ENOMEM, "out of memory");
	if (!vmm_pid(m, inst->runtime_id))
		return vs_errf(err, EINVAL, "VM %s is not running: no console", inst->name);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return vs_errf(err, ENAMETOOLONG, "%s: path too long", path);
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return vs_syserrf(err, e, "VM %s: console", inst->name);
	}
	*fd = s;
	return 0;
}

/* A private temporary file in the VM's directory (unlinked by the caller). */
static int vm_tmpfile(struct mgr *m, const struct mgr_instance *inst, char **path,
		      struct vs_err *err)
{
	*path = vm_path(m, inst->runtime_id, "xfer.XXXXXX");
	if (!*path)
		return vs_errf(err, ENOMEM, "out of memory");
	int fd = mkostemp(*path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(*path);
		*path = NULL;
		return vs_syserrf(err, e, "temporary file for %s", inst->name);
	}
	return fd;
}

static int copy_fd(int from, int to, struct vs_err *err)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "read");
		if (n == 0)
			return 0;
		if (vs_write_full(to, buf, (size_t)n) < 0)
			return vs_syserrf(err, errno, "write");
	}
}

static int vm_file_push(struct mgr *m, const struct mgr_instance *inst, const char *path,
			int src_fd, mode_t mode, uid_t uid, gid_t gid, struct vs_err *err)
{
	if (path[0] != '/')
		return vs_errf(err, EINVAL, "file push: %s: expected an absolute path", path);
	vs_cleanup_free char *tmp = NULL;
	int fd = vm_tmpfile(m, inst, &tmp, err);
	if (fd < 0)
		return fd;
	int r = copy_fd(src_fd, fd, err);
	close(fd);
	if (r == 0) {
		vs_cleanup_free char *sock = vm_path(m, inst->runtime_id, "agent.sock");
		agent_acquire(inst->runtime_id);
		struct vm_agent *a = sock ? vm_agent_connect(sock, AGENT_TIMEOUT_S, err) : NULL;
		if (!a)
			r = sock ? vs_err_prefix(err, "VM %s: guest agent", inst->name)
				 : vs_errf(err, ENOMEM, "out of memory");
		else
			r = vm_agent_push(a, tmp, path, (int)(mode & 07777), AGENT_TIMEOUT_S, err);
		vm_agent_close(a);
		agent_release(inst->runtime_id);
	}
	unlink(tmp);
	if (r == 0 && (uid || gid)) {
		char script[4200];
		if (snprintf(script, sizeof(script), "chown %u:%u \"$1\"", (unsigned)uid,
			     (unsigned)gid) >= (int)sizeof(script))
			return vs_errf(err, E2BIG, "path too long");
		const char *argv[] = { "/bin/sh", "-c", script, "sh", path, NULL };
		struct vm_agent_exec x = { .argv = argv,
					   .stdin_fd = -1,
					   .stdout_fd = -1,
					   .stderr_fd = -1,
					   .capture_max = 4096,
					   .timeout_sec = AGENT_TIMEOUT_S };
		struct vm_agent_exec_result res = { 0 };
		agent_acquire(inst->runtime_id);
		r = agent_run(m, inst, &x, &res, AGENT_TIMEOUT_S, err);
		agent_release(inst->runtime_id);
		if (r == 0 && res.exit_status != 0)
			r = vs_errf(err, EIO, "file push %s: chown: %.200s", path,
				    res.err ? res.err : "failed");
		vm_agent_exec_result_free(&res);
	}
	return r;
}

static int vm_file_pull(struct mgr *m, const struct mgr_instance *inst, const char *path,
			int dst_fd, struct vs_err *err)
{
	if (path[0] != '/')
		return vs_errf(err, EINVAL, "file pull: %s: expected an absolute path", path);
	vs_cleanup_free char *tmp = NULL;
	int fd = vm_tmpfile(m, inst, &tmp, err);
	if (fd < 0)
		return fd;
	close(fd);
	vs_cleanup_free char *sock = vm_path(m, inst->runtime_id, "agent.sock");
	int r;
	agent_acquire(inst->runtime_id);
	struct vm_agent *a = sock ? vm_agent_connect(sock, AGENT_TIMEOUT_S, err) : NULL;
	if (!a)
		r = sock ? vs_err_prefix(err, "VM %s: guest agent", inst->name)
			 : vs_errf(err, ENOMEM, "out of memory");
	else
		r = vm_agent_pull(a, path, tmp, AGENT_TIMEOUT_S, err);
	vm_agent_close(a);
	agent_release(inst->runtime_id);
	if (r == 0) {
		vs_cleanup_close int in = open(tmp, O_RDONLY | O_CLOEXEC);
		r = in < 0 ? vs_syserrf(err, errno, "open %s", tmp) : copy_fd(in, dst_fd, err);
	}
	unlink(tmp);
	return r;
}

/* ---- live migration between vesseld hosts (migrate.c) ---- */

char *mgr_vm_path(struct mgr *m, const char *id, const char *sub)
{
	return vm_path(m, id, sub);
}

int mgr_vm_api_reply(struct mgr *m, const struct mgr_instance *inst, const char *method,
		     const char *path, const char *body, struct json_object **reply,
		     struct vs_err *err)
{
	return api_call(m, inst, method, path, body, reply, err);
}

bool mgr_vm_running(struct mgr *m, const struct mgr_instance *inst)
{
	return vmm_pid(m, inst->runtime_id) != 0;
}

bool mgr_vm_wait_gone(struct mgr *m, const struct mgr_instance *inst, int timeout_ms)
{
	return wait_gone(m, inst->runtime_id, timeout_ms);
}

int mgr_vm_start_incoming(struct mgr *m, const struct mgr_instance *inst,
			  const struct mgr_image *img, const char *sock, struct vs_err *err)
{
	const char *id = inst->runtime_id;
	if (!m->vmm || access(m->vmm, X_OK) < 0)
		return vs_errf(err, ENOENT, "vessel-vmm not found (%s): start vesseld with --vmm",
			       m->vmm ? m->vmm : "none");
	struct json_object *meta = img ? json_tokener_parse(img->config_json) : NULL;
	struct boot b = { 0 };
	int r = boot_params(inst, meta, &b, err);
	json_object_put(meta);
	if (r < 0)
		return r;
	vs_cleanup_free char *dir = vm_path(m, id, NULL);
	vs_cleanup_free char *root = vm_path(m, id, "root.qcow2");
	vs_cleanup_free char *api = vm_path(m, id, "api.sock");
	vs_cleanup_free char *agent = vm_path(m, id, "agent.sock");
	vs_cleanup_free char *console = vm_path(m, id, "console.sock");
	vs_cleanup_free char *clog = vm_path(m, id, "console.log");
	vs_cleanup_free char *vlog = vm_path(m, id, "vmm.log");
	vs_cleanup_free char *pidfile = vm_path(m, id, "vmm.pid");
	if (!dir || !root || !api || !agent || !console || !clog || !vlog || !pidfile)
		return vs_errf(err, ENOMEM, "out of memory");
	char incoming[4200], serial[4200], rootspec[4200];
	snprintf(incoming, sizeof(incoming), "unix:%s", sock);
	snprintf(serial, sizeof(serial), "unix:%s", console);
	snprintf(rootspec, sizeof(rootspec), "%s,format=qcow2", root);
	const char *argv[64];
	size_t n = 0;
	const char *fixed[] = { m->vmm,	  "--incoming",	    incoming, "--disk",
				rootspec, "--serial",	    serial,   "--serial-log",
				clog,	  "--agent",	    agent,    "--api",
				api,	  "--snapshot-dir", dir,      "--sandbox" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	/* its storage volumes, in the source's order (by path): files the VMM
	 * creates as their data arrives (it refuses existing ones) */
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t nvols = 0;
	char disks[MAX_VOLS][4200];
	if ((r = vm_volumes(m, inst, &vols, &nvols, disks, err)) < 0)
		return r;
	for (size_t i = 0; i < nvols; i++) {
		argv[n++] = "--disk";
		argv[n++] = disks[i];
	}
	/* its NICs: a TAP of this instance on this host's network of each (the
	 * MACs come with the guest's state), in the source's order (by name) */
	struct mgr_nic nics[MAX_NICS + 1];
	size_t nnics = 0;
	char net[MAX_NICS][64];
	if ((r = mgr_network_nics(m, inst->id, nics, MAX_NICS + 1, &nnics, err)) < 0)
		return r;
	if (nnics > MAX_NICS)
		return vs_errf(err, EINVAL, "VM %s: at most %d NICs", inst->name, MAX_NICS);
	char cg_procs[3][300], cgdirs[3][256];
	size_t ncg = cgroup_dirs(id, cgdirs);
	for (size_t i = 0; i < ncg; i++)
		snprintf(cg_procs[i], sizeof(cg_procs[i]), "%s/cgroup.procs", cgdirs[i]);
	if ((r = cgroup_make(id, err)) < 0 ||
	    (r = cgroup_set_cpu(id, mgr_instance_config_get(inst, "limits.cpu"), err)) < 0 ||
	    (r = boot_save(m, inst, &b, err)) < 0)
		goto fail;
	for (size_t i = 0; i < nnics; i++) {
		char tap[16];
		tap_name(id, (unsigned)i, tap);
		if ((r = mgr_network_tap_attach(m, &nics[i], tap, err)) < 0)
			goto fail;
		snprintf(net[i], sizeof(net[i]), "tap=%s", tap);
		argv[n++] = "--net";
		argv[n++] = net[i];
	}
	argv[n] = NULL;
	pid_t pid = 0;
	if ((r = spawn_detached((char *const *)argv, vlog, cg_procs, ncg, &pid, err)) < 0)
		goto fail;
	char text[32];
	int len = snprintf(text, sizeof(text), "%d\n", (int)pid);
	if ((r = vs_write_file_atomic(pidfile, text, (size_t)len, err)) < 0) {
		kill(pid, SIGKILL);
		goto fail;
	}
	/* listening once the socket is there */
	uint64_t deadline = vs_now_ns() + (uint64_t)API_TIMEOUT_S * 1000000000ull;
	while (access(sock, F_OK) < 0) {
		if (!vmm_pid(m, id) || vs_now_ns() >= deadline) {
			char tail[512];
			log_tail(m, id, tail, sizeof(tail));
			r = vs_errf(err, EIO, "VM %s: vessel-vmm --incoming did not listen: %s",
				    inst->name, *tail ? tail : "(no message)");
			goto fail;
		}
		sleep_ms(20);
	}
	return 0;
fail : {
	struct vs_err e2 = VS_ERR_INIT;
	vm_stop(m, inst, true, 0, &e2);
}
	return r;
}

int mgr_vm_incoming_wait(struct mgr *m, const struct mgr_instance *inst, int timeout_s,
			 struct vs_err *err)
{
	vs_cleanup_free char *api = vm_path(m, inst->runtime_id, "api.sock");
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_s * 1000000000ull;
	for (;;) {
		struct vs_err e = VS_ERR_INIT;
		if (!vmm_pid(m, inst->runtime_id)) {
			char tail[512];
			log_tail(m, inst->runtime_id, tail, sizeof(tail));
			return vs_errf(err, EIO, "VM %s: the incoming VMM exited: %s", inst->name,
				       *tail ? tail : "(no message)");
		}
		if (api && access(api, F_OK) == 0 &&
		    api_call(m, inst, "GET", "/vm", NULL, NULL, &e) == 0)
			return 0;
		if (vs_now_ns() >= deadline)
			return vs_errf(err, ETIMEDOUT, "VM %s: the incoming VMM did not start",
				       inst->name);
		sleep_ms(50);
	}
}

const struct mgr_driver mgr_driver_vm = {
	.console = vm_console,
	.file_push = vm_file_push,
	.file_pull = vm_file_pull,
	.type = MGR_INSTANCE_VM,
	.create = vm_create,
	.start = vm_start,
	.stop = vm_stop,
	.freeze = vm_freeze,
	.state = vm_state,
	.state_many = vm_state_many,
	.update_limits = vm_update_limits,
	.exec = vm_exec,
	.destroy = vm_destroy,
	.reconcile = vm_reconcile,
	.snapshot_create = vm_snapshot_create,
	.snapshot_restore = vm_snapshot_restore,
	.snapshot_delete = vm_snapshot_delete,
	.snapshot_stateful = vm_snapshot_stateful,
	.usage = mgr_usage_vm, /* usage_sample.c: the VMM's API and cgroup */
};
