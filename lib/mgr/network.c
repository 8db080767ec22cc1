/*
 * network.c - managed networks (network.h): rows, address allocation and
 * the host side (bridge and veth through iproute2's `ip`, one dnsmasq per
 * network, nftables rules through `nft`).  The tools are Debian's
 * (iproute2, dnsmasq-base, nftables); each change is one command whose
 * failure is reported with its own message.
 *
 * Addresses: the gateway is the subnet's first host address, instances
 * get the lowest free one after it, recorded with a MAC (locally
 * administered, 0a:56:73 + 3 random bytes) in instance_nics: the same
 * address at every start, and the same lease for dnsmasq (dhcp-hosts).
 * Names: STATE/networks/NAME/hosts lists "ADDRESS NAME" of every instance
 * on the network; dnsmasq serves it (--addn-hosts) and rereads it on SIGHUP.
 *
 * dnsmasq daemonises itself (so it outlives a vesseld crash, like the
 * containers do) and is found again through its pid file, checked against
 * /proc/PID/cmdline so that a recycled pid is never signalled.
 *
 * In a cluster a network is defined for all members: its row is in the
 * cluster database's `networks` (written first by create, removed first
 * by delete, on whichever member), and each member keeps the same row in
 * its own file (its instances' NICs reference it) and the host objects,
 * reconciled from the cluster's rows every second by the cluster's sync
 * thread (mgr_network_cluster_sync): a network new there is made here
 * (same name, bridge, subnet), one gone there is taken down here.  A host
 * joining pushes its own networks to the cluster first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/network.h"

/* In a cluster: create, delete and the sync from the cluster's definition
 * one at a time (a network half-made by one is not the other's to undo). */
static pthread_mutex_t cluster_networks = PTHREAD_MUTEX_INITIALIZER;

/* ---- addresses ---- */

int mgr_network_subnet_parse(const char *cidr, uint32_t *net, unsigned *prefix, struct vs_err *err)
{
	char buf[32];
	if (snprintf(buf, sizeof(buf), "%s", cidr) >= (int)sizeof(buf))
		return vs_errf(err, EINVAL, "subnet %.40s: expected A.B.C.D/N", cidr);
	char *slash = strchr(buf, '/');
	if (!slash)
		return vs_errf(err, EINVAL, "subnet %s: expected A.B.C.D/N", cidr);
	*slash = 0;
	struct in_addr a;
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, buf, &a) != 1 || *end || !slash[1] || p < 16 || p > 29)
		return vs_errf(err, EINVAL, "subnet %s: expected A.B.C.D/N with N from 16 to 29",
			       cidr);
	uint32_t ip = ntohl(a.s_addr), mask = 0xffffffffu << (32 - p);
	if (ip & ~mask)
		return vs_errf(err, EINVAL, "subnet %s: host bits set", cidr);
	*net = ip;
	*prefix = (unsigned)p;
	return 0;
}

void mgr_ip_format(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* ---- tools ---- */

static const char *tool_path(const char *name)
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	static __thread char path[64];
	for (size_t i = 0; i < VS_ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return name;
}

static int tool_in(const char *what, const char *const *args, const char *in, struct vs_err *err);

/* Run a tool; a non-zero exit is an error with its first stderr line. */
static int tool(const char *what, const char *const *args, struct vs_err *err)
{
	return tool_in(what, args, NULL, err);
}

static int tool_in(const char *what, const char *const *args, const char *in, struct vs_err *err)
{
	const char *argv[40];
	size_t n = 0;
	argv[n++] = tool_path(args[0]);
	for (size_t i = 1; args[i] && n < VS_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct mgr_run run;
	int r = mgr_run((char *const *)argv, in, in ? strlen(in) : 0, 8192, &run, err);
	if (r < 0)
		return r;
	if (run.status != 0) {
		const char *msg = run.err ? run.err : "failed";
		r = vs_errf(err, EIO, "%s: %s: %.*s", what, args[0], (int)strcspn(msg, "\n"), msg);
	}
	mgr_run_free(&run);
	return r;
}

static char *net_path(struct mgr *m, const struct mgr_network *n, const char *file)
{
	char *p = NULL;
	if (asprintf(&p, "%s/networks/%s%s%s", m->state_dir, n->name, file ? "/" : "",
		     file ? file : "") < 0)
		return NULL;
	return p;
}

/* ---- rows ---- */

static void row_to_network(struct mgr_stmt *st, struct mgr_network *n)
{
	memset(n, 0, sizeof(*n));
	n->id = mgr_stmt_column_int64(st, 0);
	snprintf(n->name, sizeof(n->name), "%s", mgr_stmt_column_text(st, 1));
	snprintf(n->bridge, sizeof(n->bridge), "%s", mgr_stmt_column_text(st, 2));
	snprintf(n->subnet, sizeof(n->subnet), "%s", mgr_stmt_column_text(st, 3));
	n->nat = mgr_stmt_column_int(st, 4) != 0;
	n->isolated = mgr_stmt_column_int(st, 5) != 0;
	snprintf(n->created_at, sizeof(n->created_at), "%s", mgr_stmt_column_text(st, 6));
	mgr_network_subnet_parse(n->subnet, &n->net, &n->prefix, NULL);
}

#define NETWORK_COLS "SELECT id, name, bridge, subnet, nat, isolated, created_at FROM networks "

int mgr_network_get(struct mgr_db *db, const char *name, struct mgr_network *n, struct vs_err *err)
{
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, NETWORK_COLS "WHERE name = ?", err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, name);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				row_to_network(st, n);
			else
				r = vs_errf(err, ENOENT, "network %.64s not found", name);
		}
	}
	mgr_db_unlock(db);
	return r;
}

int mgr_network_list(struct mgr_db *db, struct mgr_network **list, size_t *n, struct vs_err *err)
{
	*list = NULL;
	*n = 0;
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, NETWORK_COLS "ORDER BY name", err);
		if (!st) {
			r = -err->code;
		} else {
			while (mgr_stmt_step(st) == SQLITE_ROW) {
				struct mgr_network *nl = realloc(*list, (*n + 1) * sizeof(**list));
				if (!nl) {
					r = vs_errf(err, ENOMEM, "out of memory");
					break;
				}
				*list = nl;
				row_to_network(st, &nl[(*n)++]);
			}
		}
	}
	mgr_db_unlock(db);
	if (r < 0) {
		free(*list);
		*list = NULL;
		*n = 0;
	}
	return r;
}

/* ---- dnsmasq ---- */

/* The pid of n's dnsmasq if it runs (checked against its command line). */
static pid_t dnsmasq_pid(struct mgr *m, const struct mgr_network *n)
{
	vs_cleanup_free char *pidfile = net_path(m, n, "dnsmasq.pid");
	vs_cleanup_free char *text = NULL;
	size_t len;
	if (!pidfile || vs_read_file(pidfile, &text, &len, 64, NULL) < 0)
		return 0;
	pid_t pid = (pid_t)strtol(text, NULL, 10);
	if (pid <= 0)
		return 0;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)pid);
	vs_cleanup_free char *cmd = NULL;
	if (vs_read_file(proc, &cmd, &len, 65536, NULL) < 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	return strstr(cmd, pidfile) ? pid : 0;
}

/* Whether every directory above path lets others through (dnsmasq drops to
 * an unprivileged user and re-reads its hosts file on SIGHUP). */
static bool others_can_reach(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *slash = strrchr(buf, '/'); slash && slash != buf; slash = strrchr(buf, '/')) {
		*slash = 0;
		struct stat st;
		if (stat(buf, &st) < 0 || !(st.st_mode & S_IXOTH))
			return false;
	}
	return true;
}

static int dnsmasq_start(struct mgr *m, const struct mgr_network *n, struct vs_err *err)
{
	if (dnsmasq_pid(m, n))
		return 0;
	vs_cleanup_free char *pidfile = net_path(m, n, "dnsmasq.pid");
	vs_cleanup_free char *hosts = net_path(m, n, "hosts");
	vs_cleanup_free char *dhcp = net_path(m, n, "dhcp-hosts");
	vs_cleanup_free char *leases = net_path(m, n, "leases");
	if (!pidfile || !hosts || !dhcp || !leases)
		return vs_errf(err, ENOMEM, "out of memory");
	char gw[16], first[16], last[16], mask[16];
	uint32_t size = 1u << (32 - n->prefix);
	mgr_ip_format(n->net + 1, gw);
	mgr_ip_format(n->net + 2, first);
	mgr_ip_format(n->net + size - 2, last);
	mgr_ip_format(0xffffffffu << (32 - n->prefix), mask);
	char opt_pid[300], opt_if[40], opt_listen[40], opt_range[80], opt_hosts[300], opt_dhcp[300],
	    opt_leases[300];
	snprintf(opt_pid, sizeof(opt_pid), "--pid-file=%s", pidfile);
	snprintf(opt_if, sizeof(opt_if), "--interface=%s", n->bridge);
	snprintf(opt_listen, sizeof(opt_listen), "--listen-address=%s", gw);
	snprintf(opt_range, sizeof(opt_range), "--dhcp-range=%s,%s,%s,1h", first, last, mask);
	snprintf(opt_hosts, sizeof(opt_hosts), "--addn-hosts=%s", hosts);
	snprintf(opt_dhcp, sizeof(opt_dhcp), "--dhcp-hostsfile=%s", dhcp);
	snprintf(opt_leases, sizeof(opt_leases), "--dhcp-leasefile=%s", leases);
	const char *args[] = { "dnsmasq",
			       "--conf-file=/dev/null",
			       opt_pid,
			       "--strict-order",
			       "--bind-interfaces",
			       opt_if,
			       "--except-interface=lo",
			       opt_listen,
			       opt_range,
			       opt_hosts,
			       opt_dhcp,
			       opt_leases,
			       "--dhcp-no-override",
			       "--no-hosts",
			       n->isolated ? "--no-resolv" : "--domain-needed",
			       NULL,
			       NULL };
	if (!others_can_reach(hosts)) {
		/* a state dir under a private directory: dnsmasq keeps root to read it */
		vs_log(VS_LOG_WARN,
		       "network %s: %s is not reachable by unprivileged users: dnsmasq "
		       "runs as root",
		       n->name, hosts);
		args[VS_ARRAY_SIZE(args) - 2] = "--user=root";
	}
	int r = tool("start dnsmasq", args, err);
	if (r < 0)
		return r;
	/* it daemonises: wait (generously) for its pid file */
	for (int i = 0; i < 500 && !dnsmasq_pid(m, n); i++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	if (!dnsmasq_pid(m, n))
		return vs_errf(err, EIO, "dnsmasq for %s did not start", n->name);
	return 0;
}

static void dnsmasq_stop(struct mgr *m, const struct mgr_network *n)
{
	pid_t pid = dnsmasq_pid(m, n);
	if (!pid)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (kill(pid, 0) < 0)
			return;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
}

/* ---- the host side ---- */

/* Whether a link exists in vesseld's network namespace (not /sys/class/net:
 * /sys may belong to another namespace than the daemon's). */
static bool link_exists(const char *name)
{
	const char *args[] = { "ip", "link", "show", "dev", name, NULL };
	struct vs_err e = VS_ERR_INIT;
	return tool("ip", args, &e) == 0;
}

static int rules_apply(const struct mgr_network *n, struct vs_err *err)
{
	char table[40];
	snprintf(table, sizeof(table), "vessel-%s", n->bridge);
	const char *del[] = { "nft", "delete", "table", "ip", table, NULL };
	struct vs_err ignore = VS_ERR_INIT;
	tool("nft", del, &ignore);
	if (!n->nat && !n->isolated)
		return 0;
	char script[1024];
	if (n->isolated)
		snprintf(script, sizeof(script),
			 "table ip %s {\n"
			 "  chain forward {\n"
			 "    type filter hook forward priority 0;\n"
			 "    iifname \"%s\" oifname != \"%s\" drop\n"
			 "    oifname \"%s\" iifname != \"%s\" drop\n"
			 "  }\n"
			 "}\n",
			 table, n->bridge, n->bridge, n->bridge, n->bridge);
	else
		snprintf(script, sizeof(script),
			 "table ip %s {\n"
			 "  chain postrouting {\n"
			 "    type nat hook postrouting priority 100;\n"
			 "    ip saddr %s ip daddr != %s masquerade\n"
			 "  }\n"
			 "  chain forward {\n"
			 "    type filter hook forward priority 0;\n"
			 "    iifname \"%s\" accept\n"
			 "    oifname \"%s\" ct state established,related accept\n"
			 "  }\n"
			 "}\n",
			 table, n->subnet, n->subnet, n->bridge, n->bridge);
	const char *args[] = { "nft", "-f", "-", NULL };
	return tool_in("nftables rules", args, script, err);
}

int mgr_network_host_up(struct mgr *m, const struct mgr_network *n, struct vs_err *err)
{
	vs_cleanup_free char *dir = net_path(m, n, NULL);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = mgr_mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	const char *files[] = { "hosts", "dhcp-hosts" };
	for (int i = 0; i < 2; i++) {
		vs_cleanup_free char *f = net_path(m, n, files[i]);
		vs_cleanup_close int fd = f ? open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (fd < 0)
			return vs_syserrf(err, errno, "create %s", f ? f : files[i]);
	}
	char gw[24];
	mgr_ip_format(n->net + 1, gw);
	snprintf(gw + strlen(gw), sizeof(gw) - strlen(gw), "/%u", n->prefix);
	if (!link_exists(n->bridge)) {
		const char *add[] = { "ip", "link", "add", n->bridge, "type", "bridge", NULL };
		const char *addr[] = { "ip", "addr", "add", gw, "dev", n->bridge, NULL };
		if ((r = tool("create bridge", add, err)) < 0 ||
		    (r = tool("bridge address", addr, err)) < 0)
			return r;
	}
	const char *up[] = { "ip", "link", "set", n->bridge, "up", NULL };
	if ((r = tool("bridge up", up, err)) < 0)
		return r;
	if ((r = rules_apply(n, err)) < 0)
		return r;
	mgr_network_refresh_hosts(m);
	return dnsmasq_start(m, n, err);
}

int mgr_network_host_down(struct mgr *m, const struct mgr_network *n, struct vs_err *err)
{
	dnsmasq_stop(m, n);
	char table[40];
	snprintf(table, sizeof(table), "vessel-%s", n->bridge);
	const char *del[] = { "nft", "delete", "table", "ip", table, NULL };
	struct vs_err ignore = VS_ERR_INIT;
	tool("nft", del, &ignore);
	if (link_exists(n->bridge)) {
		const char *args[] = { "ip", "link", "del", n->bridge, NULL };
		int r = tool("delete bridge", args, err);
		if (r < 0)
			return r;
	}
	vs_cleanup_free char *dir = net_path(m, n, NULL);
	return dir ? mgr_rm_rf(dir, err) : vs_errf(err, ENOMEM, "out of memory");
}

/* ---- create / delete ---- */

/* A free 10.x.y.0/24: not in the database, not routed on the host. */
static int pick_subnet(struct mgr *m, struct mgr_db *shared, char *out, size_t len,
		       struct vs_err *err)
{
	struct mgr_run run;
	char *argv[] = { (char *)tool_path("ip"), "-4", "route", "show", NULL };
	vs_cleanup_free char *routes = NULL;
	if (mgr_run(argv, NULL, 0, 1 << 20, &run, NULL) == 0) {
		routes = run.out;
		run.out = NULL;
		mgr_run_free(&run);
	}
	for (int tries = 0; tries < 200; tries++) {
		unsigned char b[2];
		if (getrandom(b, 2, 0) != 2)
			return vs_syserrf(err, errno, "getrandom");
		snprintf(out, len, "10.%u.%u.0/24", 100 + b[0] % 150, b[1]);
		char probe[24];
		snprintf(probe, sizeof(probe), "10.%u.%u.", 100 + b[0] % 150, b[1]);
		if (routes && strstr(routes, probe))
			continue;
		bool used = false;
		struct mgr_db *dbs[] = { m->db, shared };
		for (size_t k = 0; k < 2 && !used; k++) {
			if (!dbs[k])
				continue;
			mgr_db_lock(dbs[k]);
			{
				mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
				    dbs[k], "SELECT 1 FROM networks WHERE subnet = ?", NULL);
				if (st) {
					mgr_stmt_bind_text(st, 1, out);
					used = mgr_stmt_step(st) == SQLITE_ROW;
				}
			}
			mgr_db_unlock(dbs[k]);
		}
		if (!used)
			return 0;
	}
	return vs_errf(err, EBUSY, "no free 10.x.y.0/24 subnet found: give one with --subnet");
}

/* Insert n's row into db (*id its id when id); EEXIST on a taken name,
 * bridge or subnet. */
static int row_insert(struct mgr_db *db, const struct mgr_network *n, int64_t *id,
		      struct vs_err *err)
{
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "INSERT INTO networks (name, bridge, subnet, nat, isolated, created_at) "
		    "VALUES (?, ?, ?, ?, ?, ?)",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, n->name);
			mgr_stmt_bind_text(st, 2, n->bridge);
			mgr_stmt_bind_text(st, 3, n->subnet);
			mgr_stmt_bind_int(st, 4, n->nat);
			mgr_stmt_bind_int(st, 5, n->isolated);
			mgr_stmt_bind_text(st, 6, n->created_at);
			int rc = mgr_stmt_step(st);
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				r = vs_errf(err, EEXIST, "network %s (or subnet %s) already exists",
					    n->name, n->subnet);
			else if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "insert network", err);
			else if (id)
				*id = mgr_db_last_insert_id(db);
		}
	}
	mgr_db_unlock(db);
	return r;
}

static void row_delete(struct mgr_db *db, const char *name)
{
	struct vs_err e = VS_ERR_INIT;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "DELETE FROM networks WHERE name = ?", &e);
		if (st) {
			mgr_stmt_bind_text(st, 1, name);
			mgr_stmt_step(st);
		}
	}
	mgr_db_unlock(db);
}

/* The cluster's database when this host is a member (NULL, no error, when
 * it is not; NULL with err when it cannot be reached). */
static struct mgr_db *cluster_db(struct mgr *m, bool *member, struct vs_err *err)
{
	*member = mgr_cluster_enabled(mgr_get_cluster(m));
	return *member ? mgr_shared_db(m, err) : NULL;
}

static int create_locked(struct mgr *m, struct mgr_db *shared, const char *name, const char *subnet,
			 bool nat, bool isolated, struct vs_err *err)
{
	struct mgr_network n = { 0 };
	snprintf(n.name, sizeof(n.name), "%s", name);
	n.nat = nat;
	n.isolated = isolated;
	int r;
	if (subnet)
		snprintf(n.subnet, sizeof(n.subnet), "%s", subnet);
	else if ((r = pick_subnet(m, shared, n.subnet, sizeof(n.subnet), err)) < 0)
		return r;
	if ((r = mgr_network_subnet_parse(n.subnet, &n.net, &n.prefix, err)) < 0)
		return r;
	unsigned char rnd[3];
	if (getrandom(rnd, 3, 0) != 3)
		return vs_syserrf(err, errno, "getrandom");
	snprintf(n.bridge, sizeof(n.bridge), "vb%s%02x%02x%02x", m->host_id, rnd[0], rnd[1],
		 rnd[2]);
	mgr_timestamp(n.created_at, sizeof(n.created_at));
	/* the cluster's definition first: a name or subnet taken on any member */
	if (shared && (r = row_insert(shared, &n, NULL, err)) < 0)
		return r;
	if ((r = row_insert(m->db, &n, &n.id, err)) < 0) {
		if (shared)
			row_delete(shared, n.name);
		return r;
	}
	if ((r = mgr_network_host_up(m, &n, err)) < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		mgr_network_host_down(m, &n, &e2);
		row_delete(m->db, n.name);
		if (shared)
			row_delete(shared, n.name);
		return r;
	}
	mgr_emit_lifecycle(m, "network-created", n.name);
	return 0;
}

int mgr_network_create(struct mgr *m, const char *name, const char *subnet, bool nat, bool isolated,
		       struct vs_err *err)
{
	int r = mgr_name_validate(name, err);
	if (r < 0)
		return vs_err_prefix(err, "network");
	if (isolated)
		nat = false;
	bool member;
	struct mgr_db *shared = cluster_db(m, &member, err);
	if (member && !shared)
		return -err->code;
	if (member)
		pthread_mutex_lock(&cluster_networks);
	r = create_locked(m, shared, name, subnet, nat, isolated, err);
	if (member)
		pthread_mutex_unlock(&cluster_networks);
	return r;
}

/* The local row's use by an instance here: EBUSY naming it. */
static int local_use(struct mgr *m, const struct mgr_network *n, struct vs_err *err)
{
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT i.name FROM instance_nics n JOIN instances i ON i.id = n.instance_id "
		    "WHERE n.network_id = ? LIMIT 1",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, n->id);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				r = vs_errf(err, EBUSY, "network %s is used by instance %s",
					    n->name, mgr_stmt_column_text(st, 0));
		}
	}
	mgr_db_unlock(m->db);
	return r;
}

/* An instance of another member on the network (by the cluster's copies
 * of instances, whose devices name their networks): EBUSY naming it. */
static int cluster_use(struct mgr *m, struct mgr_db *shared, const char *name, struct vs_err *err)
{
	char pattern[MGR_NAME_MAX + 32];
	snprintf(pattern, sizeof(pattern), "%%\"network\":\"%s\"%%", name);
	int r = 0;
	mgr_db_lock(shared);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    shared,
		    "SELECT name, location FROM instances WHERE location != ? AND detail LIKE ? "
		    "LIMIT 1",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, mgr_cluster_self(mgr_get_cluster(m)));
			mgr_stmt_bind_text(st, 2, pattern);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				r = vs_errf(
				    err, EBUSY, "network %s is used by instance %s on member %s",
				    name, mgr_stmt_column_text(st, 0), mgr_stmt_column_text(st, 1));
		}
	}
	mgr_db_unlock(shared);
	return r;
}

static int delete_locked(struct mgr *m, struct mgr_db *shared, const char *name, struct vs_err *err)
{
	struct mgr_network n;
	int r = mgr_network_get(m->db, name, &n, err);
	if (r == -ENOENT && shared && mgr_network_get(shared, name, &n, NULL) == 0) {
		/* defined, not made here yet: the cluster's row only */
		if ((r = cluster_use(m, shared, name, err)) == 0)
			row_delete(shared, name);
		return r;
	}
	if (r < 0)
		return r;
	if ((r = local_use(m, &n, err)) < 0 ||
	    (shared && (r = cluster_use(m, shared, name, err)) < 0))
		return r;
	if (shared)
		row_delete(shared, name); /* the others take theirs down */
	char sql[96];
	snprintf(sql, sizeof(sql), "DELETE FROM networks WHERE id = %lld", (long long)n.id);
	mgr_db_lock(m->db);
	r = mgr_db_exec(m->db, sql, err);
	mgr_db_unlock(m->db);
	if (r < 0)
		return r;
	/* the row is gone first: a crash now leaves host objects the next
	 * reconciliation removes */
	r = mgr_network_host_down(m, &n, err);
	if (r == 0)
		mgr_emit_lifecycle(m, "network-deleted", n.name);
	return r;
}

int mgr_network_delete(struct mgr *m, const char *name, struct vs_err *err)
{
	bool member;
	struct mgr_db *shared = cluster_db(m, &member, err);
	if (member && !shared)
		return -err->code;
	if (member)
		pthread_mutex_lock(&cluster_networks);
	int r = delete_locked(m, shared, name, err);
	if (member)
		pthread_mutex_unlock(&cluster_networks);
	return r;
}

/* ---- clusters ---- */

static const struct mgr_network *find_network(const struct mgr_network *list, size_t n,
					      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

int mgr_network_cluster_sync(struct mgr *m, struct vs_err *err)
{
	struct mgr_db *shared = mgr_shared_db(m, err);
	if (!shared)
		return -err->code;
	struct mgr_network *cl = NULL, *lo = NULL;
	size_t ncl = 0, nlo = 0;
	pthread_mutex_lock(&cluster_networks);
	int r = mgr_network_list(shared, &cl, &ncl, err);
	if (r == 0)
		r = mgr_network_list(m->db, &lo, &nlo, err);
	for (size_t i = 0; r == 0 && i < ncl; i++) {
		if (find_network(lo, nlo, cl[i].name))
			continue;
		struct mgr_network n = cl[i];
		struct vs_err e = VS_ERR_INIT;
		if (row_insert(m->db, &n, &n.id, &e) < 0 || mgr_network_host_up(m, &n, &e) < 0) {
			vs_log(VS_LOG_WARN, "cluster: network %s: %s", n.name, e.msg);
			continue;
		}
		vs_log(VS_LOG_INFO, "cluster: network %s defined by the cluster: bridge %s up",
		       n.name, n.bridge);
		mgr_emit_lifecycle(m, "network-created", n.name);
	}
	for (size_t i = 0; r == 0 && i < nlo; i++) {
		if (find_network(cl, ncl, lo[i].name))
			continue;
		struct vs_err e = VS_ERR_INIT;
		if (local_use(m, &lo[i], &e) < 0)
			continue; /* deleted elsewhere while used here: kept until unused */
		row_delete(m->db, lo[i].name);
		if (mgr_network_host_down(m, &lo[i], &e) < 0)
			vs_log(VS_LOG_WARN, "cluster: network %s: %s", lo[i].name, e.msg);
		vs_log(VS_LOG_INFO, "cluster: network %s deleted in the cluster: bridge %s down",
		       lo[i].name, lo[i].bridge);
		mgr_emit_lifecycle(m, "network-deleted", lo[i].name);
	}
	pthread_mutex_unlock(&cluster_networks);
	free(cl);
	free(lo);
	return r;
}

int mgr_network_cluster_push(struct mgr *m, struct vs_err *err)
{
	struct mgr_db *shared = mgr_shared_db(m, err);
	if (!shared)
		return -err->code;
	struct mgr_network *lo = NULL;
	size_t nlo = 0;
	pthread_mutex_lock(&cluster_networks);
	int r = mgr_network_list(m->db, &lo, &nlo, err);
	for (size_t i = 0; i < nlo; i++) { /* all of them; the first error kept */
		struct mgr_network there;
		struct vs_err e = VS_ERR_INIT;
		int ri = 0;
		if (mgr_network_get(shared, lo[i].name, &there, NULL) == 0) {
			if (strcmp(there.subnet, lo[i].subnet) != 0 || there.nat != lo[i].nat ||
			    there.isolated != lo[i].isolated)
				ri = vs_errf(
				    &e, EEXIST,
				    "network %s: the cluster's has subnet %s, this host's %s",
				    lo[i].name, there.subnet, lo[i].subnet);
		} else {
			ri = row_insert(shared, &lo[i], NULL, &e);
		}
		if (ri < 0 && r == 0) {
			r = ri;
			*err = e;
		}
	}
	pthread_mutex_unlock(&cluster_networks);
	free(lo);
	return r;
}

/* ---- NICs ---- */

int mgr_network_nic_add(struct mgr *m, int64_t instance_id, const char *network, struct vs_err *err)
{
	return mgr_network_nic_add_fixed(m, instance_id, network, NULL, NULL, err);
}

int mgr_network_nic_add_fixed(struct mgr *m, int64_t instance_id, const char *network,
			      const char *want_mac, const char *want_addr, struct vs_err *err)
{
	struct mgr_network n;
	int r = mgr_network_get(m->db, network, &n, err);
	if (r < 0)
		return r;
	uint32_t size = 1u << (32 - n.prefix);
	unsigned char rnd[3];
	if (getrandom(rnd, 3, 0) != 3)
		return vs_syserrf(err, errno, "getrandom");
	char mac[18];
	snprintf(mac, sizeof(mac), "0a:56:73:%02x:%02x:%02x", rnd[0], rnd[1], rnd[2]);
	if (want_mac) {
		unsigned b[6];
		char end;
		if (sscanf(want_mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
			   &b[5], &end) != 6)
			return vs_errf(err, EINVAL, "MAC %s: expected xx:xx:xx:xx:xx:xx", want_mac);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3],
			 b[4], b[5]);
	}
	if (want_addr) {
		struct in_addr a;
		uint32_t h;
		if (inet_pton(AF_INET, want_addr, &a) != 1)
			return vs_errf(err, EINVAL, "address %s: expected IPv4", want_addr);
		h = ntohl(a.s_addr) - n.net;
		if (ntohl(a.s_addr) < n.net || h < 2 || h >= size - 1)
			return vs_errf(err, EADDRNOTAVAIL,
				       "address %s is not in network %s (%s) of this host",
				       want_addr, n.name, n.subnet);
	}
	mgr_db_lock(m->db);
	r = mgr_db_begin(m->db, err);
	if (r < 0) {
		mgr_db_unlock(m->db);
		return r;
	}
	char addr[16] = "", name[16] = "eth0";
	{
		/* the next name: eth0, eth1, ... in the order of adding */
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT COUNT(*) FROM instance_nics WHERE instance_id = ?", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_int64(st, 1, instance_id);
		if (mgr_stmt_step(st) == SQLITE_ROW)
			snprintf(name, sizeof(name), "eth%d", mgr_stmt_column_int(st, 0));
	}
	{
		/* the lowest free address after the gateway */
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT 1 FROM instance_nics WHERE network_id = ? AND address = ?", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		for (uint32_t h = 2; h < size - 1; h++) {
			if (want_addr)
				snprintf(addr, sizeof(addr), "%s", want_addr);
			else
				mgr_ip_format(n.net + h, addr);
			mgr_stmt_reset(st);
			mgr_stmt_bind_int64(st, 1, n.id);
			mgr_stmt_bind_text(st, 2, addr);
			if (mgr_stmt_step(st) != SQLITE_ROW)
				break;
			addr[0] = 0;
			if (want_addr)
				break;
		}
	}
	if (!addr[0]) {
		r = want_addr
			? vs_errf(err, EADDRINUSE, "address %s is taken on network %s of this host",
				  want_addr, n.name)
			: vs_errf(err, ENOSPC, "network %s has no free address", n.name);
		goto out;
	}
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "INSERT INTO instance_nics (instance_id, network_id, name, mac, address) "
		    "VALUES (?, ?, ?, ?, ?)",
		    err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_int64(st, 1, instance_id);
		mgr_stmt_bind_int64(st, 2, n.id);
		mgr_stmt_bind_text(st, 3, name);
		mgr_stmt_bind_text(st, 4, mac);
		mgr_stmt_bind_text(st, 5, addr);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE)
			r = mgr_db_err(m->db, rc, "insert NIC", err);
	}
	if (r == 0)
		r = mgr_db_commit(m->db, err);
out:
	if (r < 0)
		mgr_db_rollback(m->db);
	mgr_db_unlock(m->db);
	return r;
}

static void row_to_nic(struct mgr_stmt *st, int col, struct mgr_nic *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", mgr_stmt_column_text(st, col));
	snprintf(c->network, sizeof(c->network), "%s", mgr_stmt_column_text(st, col + 1));
	snprintf(c->bridge, sizeof(c->bridge), "%s", mgr_stmt_column_text(st, col + 2));
	snprintf(c->mac, sizeof(c->mac), "%s", mgr_stmt_column_text(st, col + 3));
	snprintf(c->address, sizeof(c->address), "%s", mgr_stmt_column_text(st, col + 4));
	uint32_t net;
	if (mgr_network_subnet_parse(mgr_stmt_column_text(st, col + 5), &net, &c->prefix, NULL) ==
	    0)
		mgr_ip_format(net + 1, c->gateway);
}

int mgr_network_all_nics(struct mgr *m, struct mgr_nic **nics, int64_t **ids, size_t *n,
			 struct vs_err *err)
{
	*nics = NULL;
	*ids = NULL;
	*n = 0;
	size_t cap = 0;
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_cached_stmt struct mgr_stmt *st = mgr_db_prepare_cached(
		    m->db,
		    "SELECT c.instance_id, c.name, n.name, n.bridge, c.mac, c.address, n.subnet "
		    "FROM instance_nics c JOIN networks n ON n.id = c.network_id "
		    "ORDER BY c.instance_id, c.name",
		    err);
		if (!st)
			r = -err->code;
		while (r == 0 && mgr_stmt_step(st) == SQLITE_ROW) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				struct mgr_nic *nn = realloc(*nics, cap * sizeof(**nics));
				int64_t *ni = nn ? realloc(*ids, cap * sizeof(**ids)) : NULL;
				if (nn)
					*nics = nn;
				if (!nn || !ni) {
					r = vs_errf(err, ENOMEM, "out of memory");
					break;
				}
				*ids = ni;
			}
			(*ids)[*n] = mgr_stmt_column_int64(st, 0);
			row_to_nic(st, 1, &(*nics)[(*n)++]);
		}
	}
	mgr_db_unlock(m->db);
	if (r < 0) {
		free(*nics);
		free(*ids);
		*nics = NULL;
		*ids = NULL;
		*n = 0;
	}
	return r;
}

int mgr_network_nics(struct mgr *m, int64_t instance_id, struct mgr_nic *nics, size_t max,
		     size_t *n, struct vs_err *err)
{
	*n = 0;
	mgr_db_lock(m->db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(m->db,
				   "SELECT c.name, n.name, n.bridge, c.mac, c.address, n.subnet "
				   "FROM instance_nics c JOIN networks n ON n.id = c.network_id "
				   "WHERE c.instance_id = ? ORDER BY c.name",
				   err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, instance_id);
			while (*n < max && mgr_stmt_step(st) == SQLITE_ROW) {
				struct mgr_nic *c = &nics[(*n)++];
				memset(c, 0, sizeof(*c));
				snprintf(c->name, sizeof(c->name), "%s",
					 mgr_stmt_column_text(st, 0));
				snprintf(c->network, sizeof(c->network), "%s",
					 mgr_stmt_column_text(st, 1));
				snprintf(c->bridge, sizeof(c->bridge), "%s",
					 mgr_stmt_column_text(st, 2));
				snprintf(c->mac, sizeof(c->mac), "%s", mgr_stmt_column_text(st, 3));
				snprintf(c->address, sizeof(c->address), "%s",
					 mgr_stmt_column_text(st, 4));
				uint32_t net;
				if (mgr_network_subnet_parse(mgr_stmt_column_text(st, 5), &net,
							     &c->prefix, NULL) == 0)
					mgr_ip_format(net + 1, c->gateway);
			}
		}
	}
	mgr_db_unlock(m->db);
	return r;
}

void mgr_network_refresh_hosts(struct mgr *m)
{
	struct mgr_network *list;
	size_t n;
	if (mgr_network_list(m->db, &list, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *hosts = NULL, *dhcp = NULL;
		size_t hl = 0, dl = 0;
		FILE *hf = open_memstream(&hosts, &hl), *df = open_memstream(&dhcp, &dl);
		mgr_db_lock(m->db);
		{
			mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
			    m->db,
			    "SELECT c.address, i.name, c.mac FROM instance_nics c "
			    "JOIN instances i ON i.id = c.instance_id WHERE c.network_id = ?",
			    NULL);
			if (st && hf && df) {
				mgr_stmt_bind_int64(st, 1, list[i].id);
				while (mgr_stmt_step(st) == SQLITE_ROW) {
					fprintf(hf, "%s %s\n", mgr_stmt_column_text(st, 0),
						mgr_stmt_column_text(st, 1));
					fprintf(df, "%s,%s,%s\n", mgr_stmt_column_text(st, 2),
						mgr_stmt_column_text(st, 0),
						mgr_stmt_column_text(st, 1));
				}
			}
		}
		mgr_db_unlock(m->db);
		if (hf)
			fclose(hf);
		if (df)
			fclose(df);
		vs_cleanup_free char *hp = net_path(m, &list[i], "hosts");
		vs_cleanup_free char *dp = net_path(m, &list[i], "dhcp-hosts");
		struct vs_err e = VS_ERR_INIT;
		if (hp && dp && mgr_path_exists(hp)) {
			vs_write_file_atomic(hp, hosts ? hosts : "", hl, &e);
			vs_write_file_atomic(dp, dhcp ? dhcp : "", dl, &e);
			chmod(hp, 0644);
			chmod(dp, 0644);
			pid_t pid = dnsmasq_pid(m, &list[i]);
			if (pid)
				kill(pid, SIGHUP);
		}
		free(hosts);
		free(dhcp);
	}
	free(list);
}

int mgr_network_reconcile(struct mgr *m, struct vs_err *err)
{
	struct mgr_network *list;
	size_t n;
	int r = mgr_network_list(m->db, &list, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct vs_err e = VS_ERR_INIT;
		if (mgr_network_host_up(m, &list[i], &e) < 0)
			vs_log(VS_LOG_WARN, "reconcile network %s: %s", list[i].name, e.msg);
	}
	/* bridges of this state dir (vb + host id) that no network has */
	char prefix[8];
	snprintf(prefix, sizeof(prefix), "vb%s", m->host_id);
	vs_cleanup_free char *links = NULL;
	size_t len;
	struct mgr_run run;
	char *argv[] = { (char *)tool_path("ip"), "-o", "link", "show", "type", "bridge", NULL };
	if (mgr_run(argv, NULL, 0, 1 << 20, &run, NULL) == 0) {
		links = run.out;
		run.out = NULL;
		mgr_run_free(&run);
	}
	(void)len;
	for (char *save = NULL, *line = links ? strtok_r(links, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *name = strchr(line, ' ');
		if (!name)
			continue;
		name++;
		name[strcspn(name, ":@")] = 0;
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < n; i++)
			known |= strcmp(list[i].bridge, name) == 0;
		if (known)
			continue;
		vs_log(VS_LOG_INFO, "reconcile: removing bridge %s of no network", name);
		struct mgr_network ghost = { 0 };
		snprintf(ghost.bridge, sizeof(ghost.bridge), "%.15s", name);
		snprintf(ghost.name, sizeof(ghost.name), ".orphan-%.15s", name);
		struct vs_err e = VS_ERR_INIT;
		mgr_network_host_down(m, &ghost, &e);
	}
	free(list);
	return 0;
}

/* ---- containers ---- */

int mgr_network_nic_attach(struct mgr *m, const struct mgr_nic *nic, const char *host_if, pid_t pid,
			   struct vs_err *err)
{
	char peer[16], ns[64], cidr[24], pidtext[16];
	snprintf(peer, sizeof(peer), "%.13sp", host_if);
	snprintf(ns, sizeof(ns), "--net=/proc/%d/ns/net", (int)pid);
	snprintf(cidr, sizeof(cidr), "%s/%u", nic->address, nic->prefix);
	snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
	const char *del[] = { "ip", "link", "del", host_if, NULL };
	struct vs_err ignore = VS_ERR_INIT;
	if (link_exists(host_if))
		tool("ip", del, &ignore);
	const char *steps[][16] = {
		{ "ip", "link", "add", host_if, "type", "veth", "peer", "name", peer, NULL },
		{ "ip", "link", "set", host_if, "master", nic->bridge, "up", NULL },
		{ "ip", "link", "set", peer, "netns", pidtext, NULL },
		{ "nsenter", ns, "ip", "link", "set", peer, "name", nic->name, "address", nic->mac,
		  NULL },
		{ "nsenter", ns, "ip", "addr", "add", cidr, "dev", nic->name, NULL },
		{ "nsenter", ns, "ip", "link", "set", nic->name, "up", NULL },
		{ "nsenter", ns, "ip", "link", "set", "lo", "up", NULL },
		{ "nsenter", ns, "ip", "route", "add", "default", "via", nic->gateway, NULL },
	};
	/* the default route goes through eth0 only (one default route) */
	size_t nsteps = VS_ARRAY_SIZE(steps) - (strcmp(nic->name, "eth0") != 0);
	for (size_t i = 0; i < nsteps; i++) {
		const char *argv[20];
		size_t k = 0;
		for (; steps[i][k]; k++)
			argv[k] = steps[i][k];
		/* nsenter runs `ip` by absolute path: the container's PATH does not apply */
		if (strcmp(argv[0], "nsenter") == 0)
			argv[2] = strdup(tool_path("ip"));
		argv[k] = NULL;
		int r = tool("network", argv, err);
		if (strcmp(argv[0], "nsenter") == 0)
			free((char *)argv[2]);
		if (r < 0) {
			if (link_exists(host_if))
				tool("ip", del, &ignore);
			return vs_err_prefix(err, "NIC %s on %s", nic->name, nic->network);
		}
	}
	return 0;
}

int mgr_network_tap_attach(struct mgr *m, const struct mgr_nic *nic, const char *tap,
			   struct vs_err *err)
{
	const char *del[] = { "ip", "link", "del", tap, NULL };
	struct vs_err ignore = VS_ERR_INIT;
	if (link_exists(tap))
		tool("ip", del, &ignore);
	const char *steps[][12] = {
		{ "ip", "tuntap", "add", "dev", tap, "mode", "tap", NULL },
		{ "ip", "link", "set", tap, "master", nic->bridge, "up", NULL },
	};
	for (size_t i = 0; i < VS_ARRAY_SIZE(steps); i++) {
		if (tool("network", steps[i], err) < 0) {
			if (link_exists(tap))
				tool("ip", del, &ignore);
			return vs_err_prefix(err, "NIC %s on %s", nic->name, nic->network);
		}
	}
	return 0;
}

void mgr_network_tap_detach(const char *tap)
{
	const char *del[] = { "ip", "link", "del", tap, NULL };
	struct vs_err ignore = VS_ERR_INIT;
	if (link_exists(tap))
		tool("ip", del, &ignore);
}
