/*
 * cgroup_bpf.c - runtime-spec device rules (config-linux.md "Allowed Device
 * List") on cgroup v2, where the devices controller is replaced by a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached with BPF_CGROUP_DEVICE
 * (kernel Documentation/admin-guide/cgroup-v2.rst "Device controller").
 *
 * The program sees struct bpf_cgroup_dev_ctx {access_type = access << 16 |
 * type, major, minor} and returns 1 to allow, 0 to deny.  Rules are the
 * config's followed by the default devices; as with v1's devices.allow/deny
 * written in order, the LAST matching rule decides, so the program tests
 * rules from last to first and returns at the first match; no match denies.
 * An allow rule matches when the requested access is a subset of its
 * access, a deny rule when they intersect.
 *
 * Invariants: the new program is attached (BPF_F_ALLOW_MULTI) before the
 * programs attached earlier by us are detached, so an update never leaves a
 * window where every device is allowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "cgroup_internal.h"
#include "vessel/core/cleanup.h"

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static long bpf_sys(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/*
 * Append one rule's test: falls through to the next block when it does not
 * match.  *always is set when the rule matches everything (later blocks would
 * be unreachable, which the verifier refuses).
 */
static unsigned bpf_emit_rule(struct bpf_insn *p, const struct ct_device_rule *d, bool *always)
{
	unsigned n = 0, jumps[4], nj = 0;
	if (d->type != 'a') {
		p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
			      d->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
		jumps[nj++] = n - 1;
	}
	int acc = 0;
	for (const char *a = d->access; *a; a++)
		acc |= *a == 'r'   ? BPF_DEVCG_ACC_READ
		       : *a == 'w' ? BPF_DEVCG_ACC_WRITE
				   : BPF_DEVCG_ACC_MKNOD;
	if (acc != 7) {
		/* r1 = requested access & (allow ? ~acc : acc) */
		p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0);
		p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, d->allow ? (~acc & 7) : acc);
		p[n++] = INSN(BPF_JMP | (d->allow ? BPF_JNE : BPF_JEQ) | BPF_K, 1, 0, 0, 0);
		jumps[nj++] = n - 1;
	}
	if (d->type != 'a' && d->major >= 0) {
		p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)d->major);
		jumps[nj++] = n - 1;
	}
	if (d->type != 'a' && d->minor >= 0) {
		p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)d->minor);
		jumps[nj++] = n - 1;
	}
	*always = nj == 0;
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, d->allow ? 1 : 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	for (unsigned i = 0; i < nj; i++)
		p[jumps[i]].off = (int16_t)(n - jumps[i] - 1);
	return n;
}

static int bpf_load(const struct ct_device_rule *rules, unsigned nrules, struct vs_err *err)
{
	unsigned total = nrules + cg_ndefault_devices;
	size_t cap = 8 + (size_t)total * 10;
	if (cap > 4096 * 8)
		return vs_errf(err, E2BIG, "device rules: too many for one BPF program (%u)",
			       total);
	vs_cleanup_free struct bpf_insn *prog = calloc(cap, sizeof(*prog));
	if (!prog)
		return vs_errf(err, ENOMEM, "device rules: out of memory");
	unsigned n = 0;
	/* r2 = type, r3 = access, r4 = major, r5 = minor */
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
	prog[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0);
	prog[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0);
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0);
	/* config rules, then defaults; tested from the last one */
	bool always = false;
	for (unsigned i = total; i-- > 0 && !always;)
		n += bpf_emit_rule(
		    prog + n, i >= nrules ? &cg_default_devices[i - nrules] : &rules[i], &always);
	if (!always) {
		prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
		prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	}

	static const char license[] = "GPL";
	char log[1024] = "";
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = n;
	attr.license = (uint64_t)(uintptr_t)license;
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	long fd = bpf_sys(BPF_PROG_LOAD, &attr);
	if (fd < 0 && errno == ENOSPC) { /* log too small: retry without it */
		attr.log_buf = 0;
		attr.log_size = 0;
		attr.log_level = 0;
		fd = bpf_sys(BPF_PROG_LOAD, &attr);
	}
	if (fd < 0)
		return vs_syserrf(err, errno,
				  "device rules: load BPF_PROG_TYPE_CGROUP_DEVICE%s%.200s",
				  log[0] ? " (verifier: " : "", log);
	return (int)fd;
}

/* The ids of the device programs attached to cgroup fd (at most `cap`). */
static unsigned bpf_query(int cgfd, uint32_t *ids, unsigned cap)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = (uint32_t)cgfd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = cap;
	if (bpf_sys(BPF_PROG_QUERY, &attr) < 0)
		return 0;
	return attr.query.prog_cnt < cap ? attr.query.prog_cnt : cap;
}

int cgroup_bpf_devices_apply(const char *dir, const struct ct_device_rule *rules, unsigned nrules,
			     struct vs_err *err)
{
	vs_cleanup_close int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return vs_syserrf(err, errno, "device rules: open %s", dir);
	uint32_t old[64];
	unsigned nold = bpf_query(cgfd, old, VS_ARRAY_SIZE(old));
	int r = bpf_load(rules, nrules, err);
	if (r < 0)
		return r;
	vs_cleanup_close int progfd = r;
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cgfd;
	attr.attach_bpf_fd = (uint32_t)progfd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf_sys(BPF_PROG_ATTACH, &attr) < 0)
		return vs_syserrf(err, errno, "device rules: attach BPF program to %s", dir);
	for (unsigned i = 0; i < nold; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.prog_id = old[i];
		vs_cleanup_close int oldfd = (int)bpf_sys(BPF_PROG_GET_FD_BY_ID, &attr);
		if (oldfd < 0)
			continue;
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (uint32_t)cgfd;
		attr.attach_bpf_fd = (uint32_t)oldfd;
		attr.attach_type = BPF_CGROUP_DEVICE;
		bpf_sys(BPF_PROG_DETACH, &attr);
	}
	return 0;
}
