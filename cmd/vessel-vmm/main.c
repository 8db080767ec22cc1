/*
 * vessel-vmm - run a RISC-V virtual machine.
 *
 * A thin front end: options are described by one table (add a row to add an
 * option), parsed into struct vmm_options, then handed to the library.
 * Exit status (docs/vessel-vmm.md): 0 powered off / passed, 1 host-side
 * error, 2 guest-reported failure, 3 reboot requested, 124 timeout, 130 quit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/baremetal.h"
#include "vessel/vm/machine.h"

#define EXIT_HOST_ERROR 1
#define EXIT_GUEST_FAIL 2
#define EXIT_REBOOT	3
#define EXIT_TIMEOUT	124
#define EXIT_USER	130

struct vmm_options {
	const char *bios;
	uint64_t mem;
	uint64_t cpus;
	double timeout;
	bool help;
};

struct vmm_option {
	const char *name;
	const char *arg; /* NULL: flag without argument */
	const char *help;
	int (*parse)(struct vmm_options *o, const char *val, struct vs_err *err);
};

static int opt_bios(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->bios = v;
	return 0;
}

static int opt_mem(struct vmm_options *o, const char *v, struct vs_err *err)
{
	int r = vs_parse_size(v, &o->mem, err);
	if (r < 0)
		return vs_err_prefix(err, "--mem");
	if (o->mem < (1 << 20) || o->mem > (64ULL << 30) || (o->mem & 4095))
		return vs_errf(err, EINVAL, "--mem %s: must be a multiple of 4K between 1M and 64G",
			       v);
	return 0;
}

static int opt_cpus(struct vmm_options *o, const char *v, struct vs_err *err)
{
	int r = vs_parse_u64(v, &o->cpus, err);
	if (r < 0)
		return vs_err_prefix(err, "--cpus");
	if (o->cpus < 1 || o->cpus > VM_MAX_HARTS)
		return vs_errf(err, EINVAL, "--cpus %s: must be between 1 and %d", v, VM_MAX_HARTS);
	return 0;
}

static int opt_timeout(struct vmm_options *o, const char *v, struct vs_err *err)
{
	char *end;
	errno = 0;
	double t = strtod(v, &end);
	if (errno || end == v || *end || !(t > 0) || t > 1e7)
		return vs_errf(err, EINVAL, "--timeout %s: expected a positive number of seconds",
			       v);
	o->timeout = t;
	return 0;
}

static int opt_help(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->help = true;
	return 0;
}

static const struct vmm_option vmm_options_table[] = {
	{ "bios", "FILE.elf", "firmware or bare-metal program (ELF) to run in M-mode", opt_bios },
	{ "mem", "SIZE", "guest RAM at 0x80000000 (default 128M)", opt_mem },
	{ "cpus", "N", "number of harts (default 1)", opt_cpus },
	{ "timeout", "SECONDS", "stop the guest after this long (exit status 124)", opt_timeout },
	{ "help", NULL, "show this help", opt_help },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vessel-vmm --bios FILE.elf [options]\n\noptions:\n");
	for (size_t i = 0; i < sizeof(vmm_options_table) / sizeof(vmm_options_table[0]); i++) {
		const struct vmm_option *o = &vmm_options_table[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-22s %s\n", left, o->help);
	}
	fprintf(f, "\nexit status: 0 guest powered off or passed, 1 host error, 2 guest failure,\n"
		   "3 guest reboot, 124 timeout, 130 interrupted\n");
}

static int parse_args(int argc, char **argv, struct vmm_options *o, struct vs_err *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return vs_errf(err, EINVAL, "unexpected argument '%s'", a);
		a += 2;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		const struct vmm_option *opt = NULL;
		for (size_t k = 0; k < sizeof(vmm_options_table) / sizeof(vmm_options_table[0]);
		     k++)
			if (strlen(vmm_options_table[k].name) == nlen &&
			    strncmp(vmm_options_table[k].name, a, nlen) == 0)
				opt = &vmm_options_table[k];
		if (!opt)
			return vs_errf(err, EINVAL, "unknown option '%s'", argv[i]);
		const char *val = NULL;
		if (opt->arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return vs_errf(err, EINVAL, "option --%s needs %s", opt->name,
					       opt->arg);
		} else if (eq) {
			return vs_errf(err, EINVAL, "option --%s takes no value", opt->name);
		}
		int r = opt->parse(o, val, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct vm_machine *volatile running_machine;

static void on_signal(int sig)
{
	struct vm_machine *m = running_machine;
	if (m)
		vm_machine_request_exit(m, VM_EXIT_USER, (uint32_t)sig);
	else
		_exit(EXIT_USER);
}

int main(int argc, char **argv)
{
	struct vs_err err = VS_ERR_INIT;
	struct vmm_options o = { .mem = 128ULL << 20, .cpus = 1 };

	vs_log_set_handler(vs_log_stderr_handler, "vessel-vmm");
	if (parse_args(argc, argv, &o, &err) < 0) {
		fprintf(stderr, "vessel-vmm: %s\n", err.msg);
		usage(stderr);
		return EXIT_HOST_ERROR;
	}
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (!o.bios) {
		fprintf(stderr, "vessel-vmm: --bios FILE.elf is required\n");
		usage(stderr);
		return EXIT_HOST_ERROR;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct vm_baremetal_config bc = {
		.elf_path = o.bios,
		.ram_size = o.mem,
		.ncpus = (unsigned)o.cpus,
		.timeout_sec = o.timeout,
		.in_fd = isatty(STDIN_FILENO) ? -1 : STDIN_FILENO,
		.out_fd = STDOUT_FILENO,
	};
	struct vm_exit ex = { 0 };
	if (vm_baremetal_run(&bc, &running_machine, &ex, &err) < 0) {
		fprintf(stderr, "vessel-vmm: %s\n", err.msg);
		return EXIT_HOST_ERROR;
	}
	switch (ex.kind) {
	case VM_EXIT_POWEROFF: return 0;
	case VM_EXIT_FAIL: fprintf(stderr, "FAIL: test %u\n", ex.code); return EXIT_GUEST_FAIL;
	case VM_EXIT_REBOOT: return EXIT_REBOOT;
	case VM_EXIT_TIMEOUT:
		fprintf(stderr, "vessel-vmm: timeout after %g s\n", o.timeout);
		return EXIT_TIMEOUT;
	case VM_EXIT_USER: return EXIT_USER;
	case VM_EXIT_ERROR:
	default: fprintf(stderr, "vessel-vmm: machine error\n"); return EXIT_HOST_ERROR;
	}
}
