/*
 * vesseld - the vessel manager daemon: opens the state directory (lib/mgr),
 * reconciles it with the host, serves the REST API on a unix socket (and
 * with --listen on TCP with TLS and client certificates) and
 * runs until SIGTERM/SIGINT.  Everything else is in lib/mgr.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/api.h"
#include "vessel/mgr/mgr.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vesseld [--state-dir DIR] [--socket PATH] [--group NAME] [--runtime PATH]\n"
		"               [--busybox PATH|none] [--vmm PATH] [--guest-image DIR|none]\n"
		"               [--listen ADDR:PORT] [--debug]\n\n"
		"  --state-dir DIR   database, images and containers (default /var/lib/vessel)\n"
		"  --socket PATH     the API's unix socket (default /run/vessel/vessel.sock)\n"
		"  --group NAME      group allowed on the socket besides root (default vessel)\n"
		"  --runtime PATH    the vessel-runtime binary (default: next to vesseld)\n"
		"  --busybox PATH    static busybox for the built-in image (default /bin/busybox)\n"
		"  --vmm PATH        the vessel-vmm binary for VMs (default: next to vesseld)\n"
		"  --guest-image DIR the guest/ recipe's output (Image, disk.qcow2), imported\n"
		"                    as the VM image vessel-guest (default $VESSEL_GUEST_DIR\n"
		"                    or the newest under /var/cache/vessel/guest)\n"
		"  --listen ADDR:PORT  also serve TLS there, to clients whose certificate\n"
		"                    is in the trust store (vessel config trust add)\n"
		"  --debug           log debug messages\n");
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

int main(int argc, char **argv)
{
	enum {
		OPT_STATE = 256,
		OPT_SOCKET,
		OPT_GROUP,
		OPT_RUNTIME,
		OPT_BUSYBOX,
		OPT_LISTEN,
		OPT_VMM,
		OPT_GUEST,
	};
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "busybox", required_argument, NULL, OPT_BUSYBOX },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "vmm", required_argument, NULL, OPT_VMM },
		{ "guest-image", required_argument, NULL, OPT_GUEST },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	vs_stdio_ensure();
	struct mgr_opts mo = { .busybox_path = "/bin/busybox" };
	struct mgr_api_opts ao = { 0 };
	const char *runtime = NULL, *vmm = NULL;
	const char *guest = NULL;
	bool debug = false;
	int c;
	while ((c = getopt_long(argc, argv, "dvh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE: mo.state_dir = optarg; break;
		case OPT_SOCKET: ao.socket_path = optarg; break;
		case OPT_GROUP: ao.group = optarg; break;
		case OPT_RUNTIME: runtime = optarg; break;
		case OPT_BUSYBOX: mo.busybox_path = strcmp(optarg, "none") ? optarg : NULL; break;
		case OPT_LISTEN: ao.listen = optarg; break;
		case OPT_VMM: vmm = optarg; break;
		case OPT_GUEST: guest = optarg; break;
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
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	struct mgr_api *api;
	if (mgr_api_start(m, &ao, &api, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_close(m);
		free(rt);
		free(vmm_path);
		free(guest_dir);
		return 1;
	}
	vs_log(VS_LOG_INFO, "serving on %s (state %s, runtime %s)",
	       ao.socket_path ? ao.socket_path : "/run/vessel/vessel.sock", mgr_state_dir(m), rt);
	int sig = 0;
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		;
	vs_log(VS_LOG_INFO, "signal %d: shutting down (instances keep running)", sig);
	mgr_events_shutdown(mgr_get_events(m));
	mgr_api_stop(api);
	mgr_close(m);
	free(rt);
	free(vmm_path);
	free(guest_dir);
	return 0;
}
