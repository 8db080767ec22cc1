/*
 * vesseld - the vessel manager daemon: opens the state directory (lib/mgr),
 * reconciles it with the host, serves the REST API on a unix socket (and
 * with --listen on TCP with TLS and client certificates) and
 * runs until SIGTERM/SIGINT.  Everything else is in lib/mgr.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <time.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/api.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/policy.h"
#include "vessel/mgr/usage.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vesseld [--state-dir DIR] [--socket PATH] [--group NAME] [--runtime PATH]\n"
		"               [--busybox PATH|none] [--debian-image DIR|none]\n"
		"               [--vmm PATH] [--guest-image DIR|none]\n"
		"               [--listen ADDR:PORT] [--debug]\n"
		"               [--usage-interval SECONDS] [--advice-min-history SECONDS]\n"
		"               [--idle-after SECONDS] [--advice-window SECONDS]\n"
		"               [--ui-listen ADDR:PORT] [--ui-dir DIR]\n\n"
		"  --state-dir DIR   database, images and containers (default /var/lib/vessel)\n"
		"  --socket PATH     the API's unix socket (default /run/vessel/vessel.sock)\n"
		"  --group NAME      group allowed on the socket besides root (default vessel)\n"
		"  --runtime PATH    the vessel-runtime binary (default: next to vesseld)\n"
		"  --busybox PATH    static busybox for the built-in image (default /bin/busybox)\n"
		"  --debian-image DIR  the Debian 12 image (images/debian/build.sh's cache\n"
		"                    directory), alias debian; default $VESSEL_DEBIAN_IMAGE or\n"
		"                    the newest under /var/cache/vessel/images\n"
		"  --vmm PATH        the vessel-vmm binary for VMs (default: next to vesseld)\n"
		"  --guest-image DIR the guest/ recipe's output (Image, disk.qcow2), imported\n"
		"                    as the VM image vessel-guest (default $VESSEL_GUEST_DIR\n"
		"                    or the newest under /var/cache/vessel/guest)\n"
		"  --listen ADDR:PORT  also serve TLS there, to clients whose certificate\n"
		"                    is in the trust store (vessel config trust add)\n"
		"  --policy-interval MS  how often expiry and idle policies are checked\n"
		"                    (default 1000)\n"
		"  --debug           log debug messages\n"
		"  --usage-interval SECONDS  sample every instance's usage this often\n"
		"                    (default 10; fractions allowed, at least 0.1)\n"
		"  --advice-min-history SECONDS  history advice needs (default 3600)\n"
		"  --idle-after SECONDS  flag an instance idle after this long (default 86400)\n"
		"  --advice-window SECONDS  history advice looks at (default 604800)\n"
		"  --ui-listen ADDR:PORT  serve the web UI over plain HTTP on a loopback\n"
		"                    address; its API needs the token in STATE/ui-token\n"
		"  --ui-dir DIR      the web UI's files (default: installed beside vesseld)\n");
}

/* A program of ours (vessel-runtime, vessel-vmm): $ENV, next to us
 * (installed), in the build tree, else /usr/local/bin. */
static char *find_program(const char *env_name, const char *name)
{
	const char *env = getenv(env_name);
	if (env && *env)
		return strdup(env);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *dir = dirname(self);
		/* installed (sbin next to bin), or the build tree */
		const char *cands[] = { "", "../bin/", "../" };
		for (size_t i = 0; i < 3; i++) {
			char *p = NULL;
			if (asprintf(&p, "%s/%s%s%s%s", dir, cands[i], i == 2 ? name : "",
				     i == 2 ? "/" : "", name) < 0)
				return NULL;
			char *real = realpath(p, NULL);
			free(p);
			if (real && access(real, X_OK) == 0)
				return real;
			free(real);
		}
	}
	char *p = NULL;
	return asprintf(&p, "/usr/local/bin/%s", name) < 0 ? NULL : p;
}

/* The guest/ recipe's output: $VESSEL_GUEST_DIR, or the newest build in
 * guest/build.sh's default cache (Image and disk.qcow2); NULL for none. */
static char *find_guest(void)
{
	const char *env = getenv("VESSEL_GUEST_DIR");
	if (env && *env)
		return strdup(env);
	glob_t g;
	char *best = NULL;
	time_t best_t = 0;
	if (glob("/var/cache/vessel/guest/*/disk.qcow2", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct stat st;
			char *dir = strdup(g.gl_pathv[i]), *kernel = NULL;
			if (!dir)
				break;
			*strrchr(dir, '/') = 0;
			if (asprintf(&kernel, "%s/Image", dir) >= 0 && access(kernel, R_OK) == 0 &&
			    stat(g.gl_pathv[i], &st) == 0 && (!best || st.st_mtime > best_t)) {
				free(best);
				best = dir;
				dir = NULL;
				best_t = st.st_mtime;
			}
			free(kernel);
			free(dir);
		}
		globfree(&g);
	}
	return best;
}

/* The Debian image: the option, $VESSEL_DEBIAN_IMAGE, or the newest
 * build in images/debian/build.sh's default cache; NULL for none. */
static char *find_debian(const char *opt)
{
	if (opt)
		return strcmp(opt, "none") ? strdup(opt) : NULL;
	const char *env = getenv("VESSEL_DEBIAN_IMAGE");
	if (env && *env)
		return strdup(env);
	glob_t g;
	char *best = NULL;
	time_t best_t = 0;
	if (glob("/var/cache/vessel/images/*/oci/index.json", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct stat st;
			if (stat(g.gl_pathv[i], &st) == 0 && (!best || st.st_mtime > best_t)) {
				free(best);
				best = strdup(g.gl_pathv[i]);
				best_t = st.st_mtime;
			}
		}
		globfree(&g);
	}
	if (best)
		*strrchr(best, '/') = 0; /* the layout directory */
	return best;
}

/* A number of seconds in [min, a year]. */
static bool seconds_arg(const char *s, double min, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= min) || v > 366 * 86400.0)
		return false;
	*out = v;
	return true;
}

/* The web UI's bundle: installed (sbin/../share/vessel/ui) or in the build
 * tree (build/cmd/vesseld/../../ui); NULL when neither holds index.html. */
static const char *find_ui_dir(void)
{
	static char found[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	const char *dir = dirname(self);
	const char *cands[] = { "../share/vessel/ui", "../../ui" };
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX + 64];
		snprintf(p, sizeof(p), "%s/%s/index.html", dir, cands[i]);
		if (realpath(p, found)) {
			*strrchr(found, '/') = 0;
			return found;
		}
	}
	return NULL;
}

/* A listing of 1,000 instances builds and frees a few MB of small JSON
 * objects per request in an API thread's arena.  glibc's defaults give
 * that memory back (trim) after each request and take it again (page
 * faults) in the next: half the CPU of a listing.  Keep up to 16 MiB free
 * per arena instead, and serve responses of up to 4 MiB from the heap. */
static void tune_malloc(void)
{
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

int main(int argc, char **argv)
{
	enum {
		OPT_STATE = 256,
		OPT_SOCKET,
		OPT_GROUP,
		OPT_RUNTIME,
		OPT_BUSYBOX,
		OPT_LISTEN,
		OPT_POLICY_INTERVAL,
		OPT_DEBIAN,
		OPT_VMM,
		OPT_GUEST,
		OPT_USAGE_INTERVAL,
		OPT_MIN_HISTORY,
		OPT_IDLE_AFTER,
		OPT_ADVICE_WINDOW,
		OPT_UI_LISTEN,
		OPT_UI_DIR,
	};
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "busybox", required_argument, NULL, OPT_BUSYBOX },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "policy-interval", required_argument, NULL, OPT_POLICY_INTERVAL },
		{ "debian-image", required_argument, NULL, OPT_DEBIAN },
		{ "vmm", required_argument, NULL, OPT_VMM },
		{ "guest-image", required_argument, NULL, OPT_GUEST },
		{ "usage-interval", required_argument, NULL, OPT_USAGE_INTERVAL },
		{ "advice-min-history", required_argument, NULL, OPT_MIN_HISTORY },
		{ "idle-after", required_argument, NULL, OPT_IDLE_AFTER },
		{ "advice-window", required_argument, NULL, OPT_ADVICE_WINDOW },
		{ "ui-listen", required_argument, NULL, OPT_UI_LISTEN },
		{ "ui-dir", required_argument, NULL, OPT_UI_DIR },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	vs_stdio_ensure();
	struct mgr_opts mo = { .busybox_path = "/bin/busybox" };
	struct mgr_api_opts ao = { 0 };
	struct mgr_usage_opts uo = { 0 };
	double secs;
	const char *runtime = NULL, *debian = NULL, *vmm = NULL;
	const char *guest = NULL;
	bool debug = false;
	int c, policy_ms = 1000;
	tune_malloc();
	while ((c = getopt_long(argc, argv, "dvh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE: mo.state_dir = optarg; break;
		case OPT_SOCKET: ao.socket_path = optarg; break;
		case OPT_GROUP: ao.group = optarg; break;
		case OPT_RUNTIME: runtime = optarg; break;
		case OPT_BUSYBOX: mo.busybox_path = strcmp(optarg, "none") ? optarg : NULL; break;
		case OPT_LISTEN: ao.listen = optarg; break;
		case OPT_POLICY_INTERVAL:
			policy_ms = atoi(optarg);
			if (policy_ms < 10 || policy_ms > 3600000) {
				fprintf(stderr,
					"vesseld: error: --policy-interval: 10 to 3600000\n");
				return 2;
			}
			break;
		case OPT_UI_LISTEN: ao.ui_listen = optarg; break;
		case OPT_UI_DIR: ao.ui_dir = optarg; break;
		case OPT_DEBIAN: debian = optarg; break;
		case OPT_VMM: vmm = optarg; break;
		case OPT_GUEST: guest = optarg; break;
		case OPT_USAGE_INTERVAL:
		case OPT_MIN_HISTORY:
		case OPT_IDLE_AFTER:
		case OPT_ADVICE_WINDOW:
			if (!seconds_arg(optarg, c == OPT_USAGE_INTERVAL ? 0.1 : 1, &secs)) {
				fprintf(stderr, "vesseld: error: %s: expected seconds\n", optarg);
				return 2;
			}
			if (c == OPT_USAGE_INTERVAL)
				uo.interval_ms = (unsigned)(secs * 1000);
			else if (c == OPT_MIN_HISTORY)
				uo.min_history_s = (unsigned)secs;
			else if (c == OPT_IDLE_AFTER)
				uo.idle_after_s = (unsigned)secs;
			else
				uo.window_s = (unsigned)secs;
			break;
		case 'd': debug = true; break;
		case 'v': printf("vesseld 0.1.0\n"); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	vs_log_set_handler(vs_log_stderr_handler, "vesseld");
	vs_log_set_level(debug ? VS_LOG_DEBUG : VS_LOG_INFO);
	if (!ao.ui_dir) {
		ao.ui_dir = find_ui_dir();
	} else {
		char idx[PATH_MAX];
		snprintf(idx, sizeof(idx), "%s/index.html", ao.ui_dir);
		if (access(idx, R_OK) < 0) {
			fprintf(stderr, "vesseld: error: --ui-dir %s: no index.html there (%s)\n",
				ao.ui_dir, strerror(errno));
			return 1;
		}
	}
	char *vmm_path = vmm ? strdup(vmm) : find_program("VESSEL_VMM", "vessel-vmm");
	mo.vmm_path = vmm_path;
	char *guest_dir = guest ? (strcmp(guest, "none") ? strdup(guest) : NULL) : find_guest();
	mo.guest_dir = guest_dir;
	char *rt = runtime ? strdup(runtime) : find_program("VESSEL_RUNTIME", "vessel-runtime");
	if (!rt || access(rt, X_OK) < 0) {
		fprintf(stderr, "vesseld: error: vessel-runtime not found (%s): use --runtime\n",
			rt ? rt : "?");
		free(rt);
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	mo.runtime_path = rt;
	char *deb = find_debian(debian);
	mo.debian_path = deb;

	/* signals: handled by sigwait in this thread only */
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct vs_err err = VS_ERR_INIT;
	struct mgr *m;
	if (mgr_open(&mo, &m, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		free(rt);
		free(deb);
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	struct mgr_api *api;
	if (mgr_api_start(m, &ao, &api, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_close(m);
		free(rt);
		free(deb);
		return 1;
	}
	struct mgr_policy_runner *policy;
	if (mgr_policy_runner_start(m, policy_ms, &policy, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_api_stop(api);
		mgr_close(m);
		free(rt);
		free(deb);
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	struct mgr_cluster *cluster;
	if (mgr_cluster_open(m, ao.listen, &cluster, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_api_stop(api);
		mgr_close(m);
		free(rt);
		free(deb);
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	if (mgr_usage_start(m, &uo, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_api_stop(api);
		mgr_close(m);
		free(rt);
		return 1;
	}
	vs_log(VS_LOG_INFO, "serving on %s (state %s, runtime %s)",
	       ao.socket_path ? ao.socket_path : "/run/vessel/vessel.sock", mgr_state_dir(m), rt);
	int sig = 0;
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		;
	vs_log(VS_LOG_INFO, "signal %d: shutting down (instances keep running)", sig);
	mgr_events_shutdown(mgr_get_events(m));
	mgr_usage_stop(m);
	mgr_policy_runner_stop(policy);
	mgr_api_stop(api);
	mgr_cluster_close(cluster);
	mgr_close(m);
	free(rt);
	free(deb);
	free(vmm_path);
	free(guest_dir);
	return 0;
}
