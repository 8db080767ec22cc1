/*
 * fuzz_api.c - fuzz target for vesseld's request handling (lib/mgr/api*.c):
 * an input is "METHOD URL\n" followed by the body; it goes through the
 * same routing, size limits, strict JSON parsing and handlers as a request
 * on the socket (mgr_api_dispatch), against a manager on a private state
 * directory whose runtime is /bin/false (nothing can start), in a private
 * network namespace.  Any input
 * must give a JSON response with a status, never a crash, leak or hang.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * (in meson test) linked with ../ct/replay_main.c to replay the corpus.
 */
#include <json-c/json.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/mgr/api.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/network.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mgr *m;
static char dir[64];

static void done(void)
{
	/* networks outlive a daemon by design (dnsmasq runs on): take down
	 * what the inputs made, so the replay leaves no process behind */
	struct mgr_network *list;
	size_t n;
	if (mgr_network_list(mgr_get_db(m), &list, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct vs_err err = VS_ERR_INIT;
			if (mgr_network_delete(m, list[i].name, &err) < 0)
				fprintf(stderr, "fuzz_api: %s\n", err.msg);
		}
		free(list);
	}
	mgr_close(m);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_api: cannot remove %s\n", dir);
}

static void init(void)
{
	/* a network request that gets through makes a bridge: keep it private */
	if (unshare(CLONE_NEWNET) < 0)
		fprintf(stderr, "fuzz_api: no private network namespace: %m\n");
	snprintf(dir, sizeof(dir), "/tmp/vessel-fuzz-api.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	struct mgr_opts o = { .state_dir = dir, .runtime_path = "/bin/false" };
	struct vs_err err = VS_ERR_INIT;
	if (mgr_open(&o, &m, &err) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err.msg);
		abort();
	}
	atexit(done);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!m)
		init();
	const char *nl = memchr(data, '\n', size);
	size_t head = nl ? (size_t)(nl - (const char *)data) : size;
	char line[4096];
	if (head >= sizeof(line))
		return 0;
	memcpy(line, data, head);
	line[head] = 0;
	char *sp = strchr(line, ' ');
	if (!sp || memchr(line, 0, head))
		return 0;
	*sp = 0;
	const char *body = nl ? nl + 1 : "";
	size_t len = nl ? size - head - 1 : 0;
	unsigned status = 0;
	char *resp = NULL;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_api_dispatch(m, line, sp + 1, body, len, &status, &resp, &err) == 0) {
		if (status < 200 || status > 599)
			abort();
		if (strcmp(resp, "stream") != 0) {
			struct json_object *o = json_tokener_parse(resp);
			if (!o)
				abort(); /* every response is JSON */
			json_object_put(o);
		}
	}
	free(resp);
	return 0;
}
