/*
 * fuzz_config.c - fuzz target for the config.json parser (lib/ct/config*.c):
 * any byte string must be parsed or rejected with an error message, never
 * crash, leak or read out of bounds.  Also feeds the same document's
 * "process" object to ct_process_parse() (the `exec --process` path) and
 * its "linux.resources" object to ct_resources_parse() (create and
 * `update --resources`).
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * (in meson test) linked with replay_main.c to replay the checked-in corpus.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/ct/cgroup.h"
#include "vessel/ct/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_err err = VS_ERR_INIT;
	struct ct_config cfg;
	if (ct_config_parse((const char *)data, size, &cfg, &err) == 0) {
		/* touch what the runtime reads, so sanitizers see bad pointers */
		size_t sum = strlen(cfg.root_path) + strlen(cfg.process.cwd);
		for (unsigned i = 0; i < cfg.process.nargs; i++)
			sum += strlen(cfg.process.args[i]);
		for (unsigned i = 0; i < cfg.nmounts; i++)
			sum += strlen(cfg.mounts[i].destination) + cfg.mounts[i].noptions;
		for (unsigned i = 0; i < cfg.seccomp.nrules; i++)
			sum += cfg.seccomp.rules[i].nnames + cfg.seccomp.rules[i].nargs;
		struct json_object *p = NULL;
		if (json_object_object_get_ex(cfg.json, "process", &p)) {
			struct ct_process proc;
			if (ct_process_parse(p, &proc, &err) == 0)
				ct_process_free(&proc);
		}
		struct ct_resources res;
		struct vs_err rerr = VS_ERR_INIT;
		if (ct_resources_parse(cfg.resources, &res, &rerr) == 0) {
			for (int t = 0; t < CT_THROTTLE_COUNT; t++)
				for (unsigned i = 0; i < res.nblkio_throttle[t]; i++)
					sum += res.blkio_throttle[t][i].rate;
			for (unsigned i = 0; i < res.nnet_priorities; i++)
				sum += strlen(res.net_priorities[i].name);
			for (unsigned i = 0; i < res.nrdma; i++)
				sum += strlen(res.rdma[i].device);
			ct_resources_free(&res);
		} else if (rerr.msg[0] == 0) {
			abort();
		}
		(void)sum;
		ct_config_free(&cfg);
	} else if (err.msg[0] == 0) {
		abort(); /* every rejection must say why */
	}
	return 0;
}
