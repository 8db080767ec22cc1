/*
 * vesseld - the vessel manager daemon: opens the state directory (lib/mgr),
 * reconciles it with the host, serves the REST API on a unix socket (and
 * with --listen on TCP with TLS and client certificates) and
 * runs until SIGTERM/SIGINT.  Everything else is in lib/mgr.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/api.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/policy.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vesseld [--state-dir DIR] [--socket PATH] [--group NAME] [--runtime PATH]\n"
		"               [--busybox PATH|none] [--listen ADDR:PORT] [--debug]\n"
		"               [--ui-listen ADDR:PORT] [--ui-dir DIR]\n\n"
		"  --state-dir DIR   database, images and containers (default /var/lib/vessel)\n"
		"  --socket PATH     the API's unix socket (default /run/vessel/vessel.sock)\n"
		"  --group NAME      group allowed on the socket besides root (default vessel)\n"
		"  --runtime PATH    the vessel-runtime binary (default: next to vesseld)\n"
		"  --busybox PATH    static busybox for the built-in image (default /bin/busybox)\n"
		"  --listen ADDR:PORT  also serve TLS there, to clients whose certificate\n"
		"                    is in the trust store (vessel config trust add)\n"
		"  --policy-interval MS  how often expiry and idle policies are checked\n"
		"                    (default 1000)\n"
		"  --debug           log debug messages\n"
		"  --ui-listen ADDR:PORT  serve the web UI over plain HTTP on a loopback\n"
		"                    address; its API needs the token in STATE/ui-token\n"
		"  --ui-dir DIR      the web UI's files (default: installed beside vesseld)\n");
}

/* vessel-runtime next to us (installed), in the build tree, or on PATH. */
static char *find_runtime(void)
{
	const char *env = getenv("VESSEL_RUNTIME");
	if (env && *env)
		return strdup(env);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *dir = dirname(self);
		/* installed (sbin next to bin), or the build tree */
		const char *cands[] = { "vessel-runtime", "../bin/vessel-runtime",
					"../vessel-runtime/vessel-runtime" };
		for (size_t i = 0; i < 3; i++) {
			char *p = NULL;
			if (asprintf(&p, "%s/%s", dir, cands[i]) < 0)
				return NULL;
			char *real = realpath(p, NULL);
			free(p);
			if (real && access(real, X_OK) == 0)
				return real;
			free(real);
		}
	}
	return strdup("/usr/local/bin/vessel-runtime");
}

/* The web UI's bundle: installed (sbin/../share/vessel/ui) or in the build
 * tree (build/cmd/vesseld/../../ui); NULL when neither holds index.html. */
static char *find_ui_dir(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *dir = dirname(self);
	const char *cands[] = { "../share/vessel/ui", "../../ui" };
	for (size_t i = 0; i < 2; i++) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s/index.html", dir, cands[i]) < 0)
			return NULL;
		char *real = realpath(p, NULL);
		free(p);
		if (real) {
			*strrchr(real, '/') = 0;
			return real;
		}
	}
	return NULL;
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
		OPT_UI_LISTEN,
		OPT_UI_DIR,
		OPT_POLICY_INTERVAL,
	};
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "busybox", required_argument, NULL, OPT_BUSYBOX },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "ui-listen", required_argument, NULL, OPT_UI_LISTEN },
		{ "ui-dir", required_argument, NULL, OPT_UI_DIR },
		{ "policy-interval", required_argument, NULL, OPT_POLICY_INTERVAL },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	vs_stdio_ensure();
	struct mgr_opts mo = { .busybox_path = "/bin/busybox" };
	struct mgr_api_opts ao = { 0 };
	const char *runtime = NULL;
	bool debug = false;
	int c, policy_ms = 1000;
	while ((c = getopt_long(argc, argv, "dvh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE: mo.state_dir = optarg; break;
		case OPT_SOCKET: ao.socket_path = optarg; break;
		case OPT_GROUP: ao.group = optarg; break;
		case OPT_RUNTIME: runtime = optarg; break;
		case OPT_BUSYBOX: mo.busybox_path = strcmp(optarg, "none") ? optarg : NULL; break;
		case OPT_LISTEN: ao.listen = optarg; break;
		case OPT_UI_LISTEN: ao.ui_listen = optarg; break;
		case OPT_UI_DIR: ao.ui_dir = optarg; break;
		case OPT_POLICY_INTERVAL:
			policy_ms = atoi(optarg);
			if (policy_ms < 10 || policy_ms > 3600000) {
				fprintf(stderr,
					"vesseld: error: --policy-interval: 10 to 3600000\n");
				return 2;
			}
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
	char *rt = runtime ? strdup(runtime) : find_runtime();
	if (!rt || access(rt, X_OK) < 0) {
		fprintf(stderr, "vesseld: error: vessel-runtime not found (%s): use --runtime\n",
			rt ? rt : "?");
		free(rt);
		return 1;
	}
	mo.runtime_path = rt;
	char *ui_dir = ao.ui_dir ? NULL : find_ui_dir();
	if (!ao.ui_dir) {
		ao.ui_dir = ui_dir;
	} else {
		char idx[PATH_MAX];
		snprintf(idx, sizeof(idx), "%s/index.html", ao.ui_dir);
		if (access(idx, R_OK) < 0) {
			fprintf(stderr, "vesseld: error: --ui-dir %s: no index.html there (%s)\n",
				ao.ui_dir, strerror(errno));
			free(rt);
			return 1;
		}
	}

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
		free(ui_dir);
		return 1;
	}
	struct mgr_api *api;
	if (mgr_api_start(m, &ao, &api, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_close(m);
		free(rt);
		free(ui_dir);
		return 1;
	}
	struct mgr_policy_runner *policy;
	if (mgr_policy_runner_start(m, policy_ms, &policy, &err) < 0) {
		fprintf(stderr, "vesseld: error: %s\n", err.msg);
		mgr_api_stop(api);
		mgr_close(m);
		free(rt);
		free(ui_dir);
		return 1;
	}
	vs_log(VS_LOG_INFO, "serving on %s (state %s, runtime %s)",
	       ao.socket_path ? ao.socket_path : "/run/vessel/vessel.sock", mgr_state_dir(m), rt);
	int sig = 0;
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		;
	vs_log(VS_LOG_INFO, "signal %d: shutting down (instances keep running)", sig);
	mgr_events_shutdown(mgr_get_events(m));
	mgr_policy_runner_stop(policy);
	mgr_api_stop(api);
	mgr_close(m);
	free(rt);
	free(ui_dir);
	return 0;
}
