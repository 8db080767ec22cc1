/*
 * vessel-vmm - run a RISC-V virtual machine.
 *
 * A thin front end: options are described by one table (add a row to add an
 * option), parsed into struct vmm_options, then handed to the library.
 * Exit status (docs/vessel-vmm.md): 0 powered off / passed, 1 host-side
 * error, 2 guest-reported failure, 3 reboot requested, 124 timeout, 130 quit.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/api.h"
#include "vessel/vm/baremetal.h"
#include "vessel/vm/broker.h"
#include "vessel/vm/gdbstub.h"
#include "vessel/vm/machine.h"
#include "vessel/vm/sandbox.h"
#include "vessel/vm/migrate.h"
#include "vessel/vm/snapshot.h"
#include "vessel/vm/starttrace.h"
#include "vessel/vm/virt.h"

#define EXIT_HOST_ERROR 1
#define EXIT_GUEST_FAIL 2
#define EXIT_REBOOT	3
#define EXIT_TIMEOUT	124
#define EXIT_USER	130
/* after the guest's own shutdown: how long its disks may take to close (virt.h) */
#define GUEST_EXIT_DISK_WAIT_NS (10ULL * 1000000000ULL)

struct vmm_options {
	const char *bios;
	bool bios_none;
	uint64_t mem;
	uint64_t cpus;
	double timeout;
	bool help;
	/* Linux boot on the virt board (any of these selects it). */
	const char *kernel, *initrd, *append;
	struct virt_disk_config disks[VIRT_MAX_DISKS];
	unsigned ndisks;
	struct virt_net_config nets[VIRT_MAX_NETS];
	unsigned nnets;
	bool serial_set;
	enum virt_serial_kind serial;
	const char *serial_path;
	const char *serial_log;
	bool console_hvc;
	const char *agent; /* guest agent socket */
	const char *gdb;   /* GDB stub address */
	bool gdb_wait;
	bool sandbox;
	const char *snapshot_dir; /* the sandbox's root: API snapshot paths resolve in it */
	struct vm_broker_allow connect[VM_BROKER_MAX_ALLOW]; /* --sandbox-connect */
	unsigned nconnect;
	const char *restore;  /* --restore FILE */
	const char *incoming; /* --incoming URI */
	const char *loadvm;   /* --loadvm TAG */
	const char *api;
	bool balloon;
	/* Copies of option values the config points into (freed at exit). */
	char *owned[VIRT_MAX_DISKS + 2];
	unsigned nowned;
};

static void vmm_options_free(struct vmm_options *o)
{
	for (unsigned i = 0; i < o->nowned; i++)
		free(o->owned[i]);
	o->nowned = 0;
}

/* A writable copy of an option value, owned by o. */
static char *vmm_options_strdup(struct vmm_options *o, const char *v)
{
	if (o->nowned >= VS_ARRAY_SIZE(o->owned))
		return NULL;
	char *copy = strdup(v);
	if (copy)
		o->owned[o->nowned++] = copy;
	return copy;
}

struct vmm_option {
	const char *name;
	const char *arg; /* NULL: flag without argument */
	const char *help;
	int (*parse)(struct vmm_options *o, const char *val, struct vs_err *err);
};

static int opt_bios(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->bios_none = strcmp(v, "none") == 0;
	o->bios = o->bios_none ? NULL : v;
	return 0;
}

static int opt_kernel(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->kernel = v;
	return 0;
}

static int opt_initrd(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->initrd = v;
	return 0;
}

static int opt_append(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->append = v;
	return 0;
}

/* PATH[,format=qcow2|raw][,readonly=on|off] */
static int opt_disk(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (o->ndisks >= VIRT_MAX_DISKS)
		return vs_errf(err, EINVAL, "--disk: at most %d disks", VIRT_MAX_DISKS);
	struct virt_disk_config *d = &o->disks[o->ndisks];
	char *copy = vmm_options_strdup(o, v); /* the config points into it */
	if (!copy)
		return vs_errf(err, ENOMEM, "--disk: out of memory");
	char *save = NULL, *tok = strtok_r(copy, ",", &save);
	if (!tok || !*tok || copy[0] == ',')
		return vs_errf(err, EINVAL, "--disk %s: missing path", v);
	d->path = tok;
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (strcmp(tok, "format=qcow2") == 0 || strcmp(tok, "format=raw") == 0)
			d->format = tok + 7;
		else if (strcmp(tok, "readonly=on") == 0)
			d->readonly = true;
		else if (strcmp(tok, "readonly=off") == 0)
			d->readonly = false;
		else
			return vs_errf(err, EINVAL,
				       "--disk %s: unknown option '%s' (format=qcow2|raw, "
				       "readonly=on|off)",
				       v, tok);
	}
	o->ndisks++;
	return 0;
}

static int parse_mac(const char *text, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return (mac[0] & 1) ? -EINVAL : 0; /* a multicast address cannot be a NIC's */
}

/* tap=IFNAME[,mac=52:54:00:xx:xx:xx]; each --net adds a NIC (eth0, eth1, ...)
 * whose default MAC is 52:54:00:12:34:56 plus its index */
static int opt_net(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (o->nnets >= VIRT_MAX_NETS)
		return vs_errf(err, EINVAL, "--net: at most %d NICs", VIRT_MAX_NETS);
	char *copy = vmm_options_strdup(o, v);
	if (!copy)
		return vs_errf(err, EINVAL, "--net: given too many times");
	struct virt_net_config *n = &o->nets[o->nnets];
	static const uint8_t mac0[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	memcpy(n->mac, mac0, 6);
	n->mac[5] = (uint8_t)(n->mac[5] + o->nnets);
	char *save = NULL;
	n->tap = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "tap=", 4) == 0 && tok[4])
			n->tap = tok + 4;
		else if (strncmp(tok, "mac=", 4) == 0) {
			if (parse_mac(tok + 4, n->mac) < 0)
				return vs_errf(err, EINVAL, "--net: bad MAC address '%s'", tok + 4);
		} else
			return vs_errf(err, EINVAL, "--net %s: unknown option '%s' (tap=, mac=)", v,
				       tok);
	}
	if (!n->tap)
		return vs_errf(err, EINVAL, "--net %s: tap=IFNAME is required", v);
	o->nnets++;
	return 0;
}

static int opt_serial(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->serial_set = true;
	if (strcmp(v, "stdio") == 0)
		o->serial = VIRT_SERIAL_STDIO;
	else if (strcmp(v, "none") == 0)
		o->serial = VIRT_SERIAL_NONE;
	else if (strncmp(v, "unix:", 5) == 0 && v[5]) {
		o->serial = VIRT_SERIAL_UNIX;
		o->serial_path = v + 5;
	} else
		return vs_errf(err, EINVAL, "--serial %s: expected stdio, unix:PATH or none", v);
	return 0;
}

static int opt_serial_log(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (!*v)
		return vs_errf(err, EINVAL, "--serial-log: expected a file path");
	o->serial_log = v;
	return 0;
}

static int opt_console(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (strcmp(v, "stdio") != 0)
		return vs_errf(err, EINVAL, "--console %s: only 'stdio' (virtio-console, hvc0)", v);
	o->console_hvc = true;
	return 0;
}

static int opt_agent(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (!*v)
		return vs_errf(err, EINVAL, "--agent: expected the socket's path");
	o->agent = v;
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

/* The CPU reads VESSEL_NO_JIT when the machine is created (lib/vm/cpu/jit.c). */
static int opt_no_jit(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (setenv("VESSEL_NO_JIT", "1", 1) < 0)
		return vs_errf(err, errno, "--no-jit: cannot set VESSEL_NO_JIT");
	return 0;
}

static int opt_gdb(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (strncmp(v, "unix:", 5) != 0 && strncmp(v, "tcp:", 4) != 0)
		return vs_errf(err, EINVAL, "--gdb %s: expected unix:PATH or tcp:PORT", v);
	o->gdb = v;
	return 0;
}

static int opt_gdb_wait(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->gdb_wait = true;
	return 0;
}

static int opt_sandbox(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->sandbox = true;
	return 0;
}

static int opt_snapshot_dir(struct vmm_options *o, const char *v, struct vs_err *err)
{
	struct stat st;
	if (!*v || stat(v, &st) < 0 || !S_ISDIR(st.st_mode))
		return vs_errf(err, EINVAL, "--snapshot-dir %s: not a directory", v);
	o->snapshot_dir = v;
	return 0;
}

static int opt_sandbox_connect(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (o->nconnect >= VM_BROKER_MAX_ALLOW)
		return vs_errf(err, EINVAL, "--sandbox-connect: at most %d destinations",
			       VM_BROKER_MAX_ALLOW);
	int r = vm_broker_allow_parse(v, &o->connect[o->nconnect], err);
	if (r < 0)
		return vs_err_prefix(err, "--sandbox-connect");
	o->nconnect++;
	return 0;
}

static int opt_incoming(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (strncmp(v, "unix:", 5) != 0 && strncmp(v, "tcp:", 4) != 0)
		return vs_errf(err, EINVAL, "--incoming %s: expected unix:PATH or tcp:HOST:PORT",
			       v);
	o->incoming = v;
	return 0;
}

static int opt_loadvm(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (!*v)
		return vs_errf(err, EINVAL, "--loadvm: empty tag");
	o->loadvm = v;
	return 0;
}

static int opt_restore(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->restore = v;
	return 0;
}

static int opt_api(struct vmm_options *o, const char *v, struct vs_err *err)
{
	if (!*v)
		return vs_errf(err, EINVAL, "--api: empty socket path");
	o->api = v;
	return 0;
}

static int opt_balloon(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->balloon = true;
	return 0;
}

static int opt_help(struct vmm_options *o, const char *v, struct vs_err *err)
{
	o->help = true;
	return 0;
}

/* The machine reads VESSEL_HART_THREADS when it is created (machine.c). */
static int opt_hart_threads(struct vmm_options *o, const char *v, struct vs_err *err)
{
	(void)o;
	(void)v;
	if (setenv("VESSEL_HART_THREADS", "1", 1) < 0)
		return vs_errf(err, errno, "--hart-threads: cannot set VESSEL_HART_THREADS");
	return 0;
}

static int opt_no_hart_threads(struct vmm_options *o, const char *v, struct vs_err *err)
{
	(void)o;
	(void)v;
	if (setenv("VESSEL_HART_THREADS", "0", 1) < 0)
		return vs_errf(err, errno, "--no-hart-threads: cannot set VESSEL_HART_THREADS");
	return 0;
}

static const struct vmm_option vmm_options_table[] = {
	{ "bios", "PATH|none",
	  "M-mode firmware: fw_dynamic.bin or an ELF (default with --kernel: Debian's OpenSBI)",
	  opt_bios },
	{ "kernel", "Image", "Linux kernel, loaded at 0x80200000 and entered in S mode",
	  opt_kernel },
	{ "initrd", "FILE", "initramfs for the kernel", opt_initrd },
	{ "append", "CMDLINE", "kernel command line (/chosen/bootargs)", opt_append },
	{ "disk", "PATH[,format=qcow2|raw][,readonly=on]", "virtio-blk disk (repeatable)",
	  opt_disk },
	{ "net", "tap=IFNAME[,mac=MAC]", "virtio-net on an existing TAP interface (repeatable)",
	  opt_net },
	{ "serial", "stdio|unix:PATH|none", "where the UART goes (default stdio; Ctrl-A x quits)",
	  opt_serial },
	{ "serial-log", "FILE", "with --serial unix:PATH: also append the serial output to FILE",
	  opt_serial_log },
	{ "console", "stdio", "virtio-console (hvc0) on stdio; keyboard goes to it", opt_console },
	{ "agent", "PATH",
	  "guest agent port: a virtio-console (hvc1) on a unix socket at PATH (0600)", opt_agent },
	{ "mem", "SIZE", "guest RAM at 0x80000000 (default 128M)", opt_mem },
	{ "cpus", "N", "number of harts (default 1)", opt_cpus },
	{ "hart-threads", NULL,
	  "one host thread per hart, the harts run guest code in parallel (the default with "
	  "--cpus 2 or more, up to the host's CPUs)",
	  opt_hart_threads },
	{ "no-hart-threads", NULL, "all harts on one host thread, taking turns",
	  opt_no_hart_threads },
	{ "timeout", "SECONDS", "stop the guest after this long (exit status 124)", opt_timeout },
	{ "no-jit", NULL, "interpret only: no translation of hot guest code to host code",
	  opt_no_jit },
	{ "gdb", "unix:PATH|tcp:PORT",
	  "GDB remote stub (tcp on 127.0.0.1 only): gdb-multiarch 'target remote'", opt_gdb },
	{ "gdb-wait", NULL, "with --gdb: start halted until gdb continues", opt_gdb_wait },
	{ "sandbox", NULL,
	  "once set up: no privileges, empty root and network, seccomp allow-list "
	  "(docs/vessel-vmm-board.md)",
	  opt_sandbox },
	{ "snapshot-dir", "DIR",
	  "with --sandbox: the root after the drop; the API's snapshot paths and unix: "
	  "migration sockets are relative to it",
	  opt_snapshot_dir },
	{ "sandbox-connect", "tcp:ADDR[/PREFIX]:PORT|*",
	  "with --sandbox --api: a connect broker outside the sandbox opens outgoing tcp: "
	  "migrations, to these numeric destinations only (repeatable)",
	  opt_sandbox_connect },
	{ "incoming", "unix:PATH|tcp:HOST:PORT",
	  "wait for a VM migrated by another vessel-vmm (PUT /migrate), then run it",
	  opt_incoming },
	{ "loadvm", "TAG",
	  "continue the VM saved inside the first writable qcow2 --disk (PUT /snapshot/create "
	  "{\"savevm\": TAG})",
	  opt_loadvm },
	{ "restore", "FILE",
	  "continue the VM saved in a snapshot file (its machine; --disk replaces its disks)",
	  opt_restore },
	{ "api", "PATH",
	  "serve the control API (HTTP, docs/api/vessel-vmm.yaml) on this unix socket; alone "
	  "(no --kernel, --bios, --restore, --incoming, --loadvm): start empty, PUT "
	  "/snapshot/load brings the VM",
	  opt_api },
	{ "balloon", NULL, "virtio-balloon: resize guest memory below --mem at run time",
	  opt_balloon },
	{ "help", NULL, "show this help", opt_help },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vessel-vmm --kernel Image [--initrd FILE] [options]\n"
		   "       vessel-vmm --bios FILE.elf [options]\n"
		   "       vessel-vmm --restore FILE [options]\n"
		   "       vessel-vmm --api PATH [options]   (empty until PUT /snapshot/load)\n"
		   "\noptions:\n");
	for (size_t i = 0; i < sizeof(vmm_options_table) / sizeof(vmm_options_table[0]); i++) {
		const struct vmm_option *o = &vmm_options_table[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		if (strlen(left) > 22)
			fprintf(f, "  %s\n  %-22s %s\n", left, "", o->help);
		else
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
/* the API socket while no machine runs (an empty VMM waits for a load):
 * a signal then exits at once and must not leave the file behind */
static const char *volatile signal_unlink;

static void on_signal(int sig)
{
	struct vm_machine *m = running_machine;
	if (m) {
		vm_machine_request_exit(m, VM_EXIT_USER, (uint32_t)sig);
		return;
	}
	const char *path = signal_unlink;
	if (path)
		unlink(path);
	_exit(EXIT_USER);
}

/* Everything is open and every thread started: confine the process. */
static int enter_sandbox(const char *root, const struct vm_broker *broker, struct vs_err *err)
{
	struct vm_sandbox_config sc = { .uid = VM_SANDBOX_NOBODY,
					.gid = VM_SANDBOX_NOBODY,
					.root = root,
					.reap_pid = broker ? vm_broker_pid(broker) : 0 };
	return vm_sandbox_enter(&sc, err);
}

static void broker_cleanup(struct vm_broker **b)
{
	vm_broker_free(*b);
}

static void snapshot_cleanup(struct virt_snapshot **s)
{
	virt_snapshot_close(*s);
}

/*
 * The --restore steps, also PUT /snapshot/load into an empty VMM: the
 * snapshot's machine (its configuration builds the board) with this
 * command line's host side (serial, --timeout, --disk replacing its
 * disks), loaded, not yet running.  sc holds the strings the board's
 * configuration points to, *snap stays open while the VM runs (closing it
 * unmaps its sections: ~0.5 ms on a virtualized host that would come
 * before the guest runs).  NULL with err and nothing left open on failure.
 */
static struct virt_board *restore_board(const struct vmm_options *o, const struct virt_config *base,
					const char *path, struct virt_snapshot_config *sc,
					struct virt_snapshot **snap, struct vs_err *err)
{
	struct virt_config vc = *base;
	memset(sc, 0, sizeof(*sc));
	*snap = virt_snapshot_open(path, err);
	if (!*snap)
		return NULL;
	vm_start_mark("snapshot-open");
	struct virt_board *board = NULL;
	if (virt_snapshot_config(*snap, sc, err) < 0)
		goto fail;
	if (o->ndisks && o->ndisks != sc->ndisks) {
		vs_errf(err, EINVAL, "%s: the snapshot has %u disks, %u --disk given", path,
			sc->ndisks, o->ndisks);
		goto fail;
	}
	virt_snapshot_apply_config(sc, &vc);
	if (o->ndisks)
		memcpy(vc.disks, o->disks, sizeof(o->disks));
	board = virt_board_new(&vc, err);
	vm_start_mark("board-new");
	if (board && virt_snapshot_load(board, *snap, err) == 0) {
		vm_start_mark("snapshot-load");
		return board;
	}
fail:
	virt_board_free(board);
	virt_snapshot_close(*snap);
	*snap = NULL;
	return NULL;
}

/* PUT /snapshot/load into an empty VMM (vm_api_wait_load). */
struct empty_load {
	const struct vmm_options *o;
	const struct virt_config *vc;
	struct virt_snapshot_config *sc;
	struct virt_snapshot **snap;
};

static struct virt_board *empty_load(void *opaque, const char *path, struct vs_err *err)
{
	struct empty_load *el = opaque;
	return restore_board(el->o, el->vc, path, el->sc, el->snap, err);
}

static int exit_status(const struct vm_exit *ex, double timeout)
{
	switch (ex->kind) {
	case VM_EXIT_POWEROFF: return 0;
	case VM_EXIT_FAIL: fprintf(stderr, "FAIL: test %u\n", ex->code); return EXIT_GUEST_FAIL;
	case VM_EXIT_REBOOT: return EXIT_REBOOT;
	case VM_EXIT_TIMEOUT:
		fprintf(stderr, "vessel-vmm: timeout after %g s\n", timeout);
		return EXIT_TIMEOUT;
	case VM_EXIT_USER: return EXIT_USER;
	case VM_EXIT_ERROR:
	default: fprintf(stderr, "vessel-vmm: machine error\n"); return EXIT_HOST_ERROR;
	}
}

int main(int argc, char **argv)
{
	vm_start_mark("main");
	vs_stdio_ensure(); /* else a disk image could open as fd 1 and get the console */
	/*
	 * One malloc arena: glibc gives each new thread (hart threads, the
	 * block I/O threads, the API server) an arena of its own, reserved in
	 * 64 MiB and with touched pages that stay resident, which the VMM's
	 * allocations (small, rarely on a hot path) do not need.  Part of the
	 * memory overhead budget (bench/lifecycle).
	 */
	mallopt(M_ARENA_MAX, 1);
	struct vs_err err = VS_ERR_INIT;
	struct vmm_options o
	    __attribute__((cleanup(vmm_options_free))) = { .mem = 128ULL << 20, .cpus = 1 };

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
	/* --api alone: started empty, PUT /snapshot/load brings the VM */
	bool empty =
	    o.api && !o.kernel && !o.bios && !o.bios_none && !o.restore && !o.incoming && !o.loadvm;
	bool virt = o.kernel || o.ndisks || o.nnets || o.console_hvc || o.serial_set ||
		    o.bios_none || o.restore || o.incoming || o.api || o.balloon || o.agent;
	if (o.snapshot_dir && !o.sandbox) {
		fprintf(stderr, "vessel-vmm: --snapshot-dir needs --sandbox\n");
		return EXIT_HOST_ERROR;
	}
	if (o.nconnect && (!o.sandbox || !o.api)) {
		fprintf(stderr, "vessel-vmm: --sandbox-connect needs --sandbox and --api (without "
				"--sandbox the VMM connects by itself)\n");
		return EXIT_HOST_ERROR;
	}
	if (!!o.restore + !!o.incoming + !!o.loadvm > 1) {
		fprintf(stderr,
			"vessel-vmm: --restore, --loadvm and --incoming exclude each other\n");
		return EXIT_HOST_ERROR;
	}
	if (o.loadvm && !o.ndisks) {
		fprintf(stderr, "vessel-vmm: --loadvm needs the --disk that holds the VM\n");
		return EXIT_HOST_ERROR;
	}
	char loadvm_path[64];
	vs_cleanup_close int loadvm_fd = -1;
	if (o.loadvm) {
		if (virt_loadvm_extract(o.disks, o.ndisks, o.loadvm, &loadvm_fd, &err) < 0) {
			fprintf(stderr, "vessel-vmm: %s\n", err.msg);
			return EXIT_HOST_ERROR;
		}
		snprintf(loadvm_path, sizeof(loadvm_path), "/proc/self/fd/%d", loadvm_fd);
		o.restore = loadvm_path;
	}
	if ((o.restore || o.incoming) &&
	    (o.kernel || o.bios || o.initrd || o.append || (o.nnets && !o.incoming))) {
		fprintf(stderr, "vessel-vmm: --restore takes the machine from the snapshot: "
				"--kernel, --bios, --initrd, --append and --net do not apply\n");
		return EXIT_HOST_ERROR;
	}
	if (empty && (o.initrd || o.append || o.nnets)) {
		fprintf(stderr,
			"vessel-vmm: --api without a VM takes the machine from the snapshot "
			"PUT /snapshot/load names: --initrd, --append and --net do not "
			"apply\n");
		return EXIT_HOST_ERROR;
	}
	if (empty && (o.sandbox || o.gdb)) {
		fprintf(stderr,
			"vessel-vmm: %s needs a VM at start: not with --api alone "
			"(started empty); use --restore FILE\n",
			o.sandbox ? "--sandbox" : "--gdb");
		return EXIT_HOST_ERROR;
	}
	if (!o.bios && !o.kernel && !o.restore && !o.incoming && !empty) {
		fprintf(stderr, "vessel-vmm: --kernel or --bios is required\n");
		usage(stderr);
		return EXIT_HOST_ERROR;
	}
	if (o.serial_log && o.serial != VIRT_SERIAL_UNIX) {
		fprintf(stderr, "vessel-vmm: --serial-log needs --serial unix:PATH\n");
		return EXIT_HOST_ERROR;
	}
	if (o.gdb_wait && !o.gdb) {
		fprintf(stderr, "vessel-vmm: --gdb-wait needs --gdb\n");
		return EXIT_HOST_ERROR;
	}
	if (o.kernel && !o.bios && !o.bios_none)
		o.bios = VIRT_DEFAULT_BIOS;

	/* Forked now, while single-threaded and before the board exists; it
	 * closes what it inherited but its channel and stderr, so it holds
	 * nothing of the VM's (docs/vessel-vmm-board.md, "Confinement"). */
	__attribute__((cleanup(broker_cleanup))) struct vm_broker *broker = NULL;
	if (o.nconnect) {
		struct vm_broker_config bc = { .allow = o.connect,
					       .nallow = o.nconnect,
					       .uid = VM_SANDBOX_NOBODY,
					       .gid = VM_SANDBOX_NOBODY };
		broker = vm_broker_start(&bc, &err);
		if (!broker) {
			fprintf(stderr, "vessel-vmm: %s\n", err.msg);
			return EXIT_HOST_ERROR;
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct vm_exit ex = { 0 };
	if (virt) {
		struct virt_config vc = {
			.ram_size = o.mem,
			.ncpus = (unsigned)o.cpus,
			.timeout_sec = o.timeout,
			.bios = o.bios,
			.kernel = o.kernel,
			.initrd = o.initrd,
			.append = o.append,
			.ndisks = o.ndisks,
			.nnets = o.nnets,
			.serial = o.serial,
			.serial_path = o.serial_path,
			.serial_log = o.serial_log,
			.console_hvc = o.console_hvc,
			.agent_path = o.agent,
			.rng = true,
			.balloon = o.balloon,
			.keyboard = o.api != NULL,
		};
		memcpy(vc.disks, o.disks, sizeof(o.disks));
		memcpy(vc.nets, o.nets, sizeof(o.nets));
		vs_cleanup_free struct virt_snapshot_config *sc = NULL;
		/* opened once: its configuration builds the board, then it is loaded;
		 * closed at exit (unmapping its sections costs ~0.5 ms here, on a
		 * virtualized host, that would come before the guest runs); the
		 * state --incoming received too (downtime) */
		__attribute__((cleanup(snapshot_cleanup))) struct virt_snapshot *snap = NULL;
		if (o.restore || empty) {
			sc = calloc(1, sizeof(*sc));
			if (!sc) {
				fprintf(stderr, "vessel-vmm: out of memory\n");
				return EXIT_HOST_ERROR;
			}
		}
		struct virt_board *board = NULL;
		if (o.incoming) {
			sc = calloc(1, sizeof(*sc));
			if (!sc ||
			    vm_migration_incoming(o.incoming, &vc, sc, &board, &snap, &err) < 0) {
				fprintf(stderr, "vessel-vmm: %s\n", sc ? err.msg : "out of memory");
				return EXIT_HOST_ERROR;
			}
		} else if (o.restore) {
			board = restore_board(&o, &vc, o.restore, sc, &snap, &err);
		} else if (!empty) {
			board = virt_board_new(&vc, &err);
		}
		struct vm_api *api = NULL;
		if (empty) {
			/* the API first, then the machine from the snapshot it loads */
			struct vm_api_config ac = { .socket_path = o.api };
			signal_unlink = o.api; /* before the file appears */
			api = vm_api_start(&ac, &err);
			if (!api) {
				fprintf(stderr, "vessel-vmm: %s\n", err.msg);
				return EXIT_HOST_ERROR;
			}
			struct empty_load el = { &o, &vc, sc, &snap };
			board = vm_api_wait_load(api, empty_load, &el);
		}
		if (!board) {
			fprintf(stderr, "vessel-vmm: %s\n", err.msg);
			return EXIT_HOST_ERROR;
		}
		if (o.api && !empty) {
			struct vm_api_config ac = { .socket_path = o.api,
						    .board = board,
						    .confined = o.sandbox,
						    .confined_dir = o.snapshot_dir != NULL,
						    .broker = broker };
			signal_unlink = o.api; /* before the file appears */
			api = vm_api_start(&ac, &err);
			if (!api) {
				virt_board_free(board);
				fprintf(stderr, "vessel-vmm: %s\n", err.msg);
				return EXIT_HOST_ERROR;
			}
		}
		struct vm_gdb *gdb = NULL;
		if (o.gdb) {
			gdb = vm_gdb_new(virt_board_machine(board), o.gdb, o.gdb_wait, &err);
			if (!gdb) {
				signal_unlink = NULL;
				vm_api_stop(api);
				virt_board_free(board);
				fprintf(stderr, "vessel-vmm: %s\n", err.msg);
				return EXIT_HOST_ERROR;
			}
		}
		if (o.sandbox && enter_sandbox(o.snapshot_dir, broker, &err) < 0) {
			vm_gdb_free(gdb);
			signal_unlink = NULL;
			vm_api_stop(api);
			virt_board_free(board);
			fprintf(stderr, "vessel-vmm: %s\n", err.msg);
			return EXIT_HOST_ERROR;
		}
		running_machine = virt_board_machine(board);
		vm_start_mark("run");
		int r = virt_board_run(board, &ex, &err);
		running_machine = NULL;
		if (r == 0)
			vm_gdb_report_exit(gdb, &ex);
		vm_gdb_free(gdb);
		signal_unlink = NULL;
		vm_api_stop(api); /* before the board goes away */
		/* the guest shut down itself (its filesystems synced): its disks'
		 * images get time to close cleanly even on a loaded host; a
		 * forced exit keeps the short wait */
		if (r == 0 && (ex.kind == VM_EXIT_REBOOT || ex.kind == VM_EXIT_FAIL ||
			       (ex.kind == VM_EXIT_POWEROFF && ex.code != VM_EXIT_CODE_HOST)))
			virt_board_set_disk_close_wait(board, GUEST_EXIT_DISK_WAIT_NS);
		virt_board_free(board); /* restores the terminal before we print */
		if (r < 0) {
			fprintf(stderr, "vessel-vmm: %s\n", err.msg);
			return EXIT_HOST_ERROR;
		}
		return exit_status(&ex, o.timeout);
	}

	if (o.sandbox) {
		fprintf(stderr, "vessel-vmm: --sandbox needs the virt board (--kernel, --disk, "
				"--net, --serial or --bios none)\n");
		return EXIT_HOST_ERROR;
	}
	struct vm_baremetal_config bc = {
		.elf_path = o.bios,
		.ram_size = o.mem,
		.ncpus = (unsigned)o.cpus,
		.timeout_sec = o.timeout,
		.in_fd = isatty(STDIN_FILENO) ? -1 : STDIN_FILENO,
		.out_fd = STDOUT_FILENO,
		.gdb = o.gdb,
		.gdb_wait = o.gdb_wait,
	};
	if (vm_baremetal_run(&bc, &running_machine, &ex, &err) < 0) {
		fprintf(stderr, "vessel-vmm: %s\n", err.msg);
		return EXIT_HOST_ERROR;
	}
	return exit_status(&ex, o.timeout);
}
