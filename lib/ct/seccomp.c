/*
 * seccomp.c - compile and load linux.seccomp (runtime-spec 1.1
 * config-linux.md "Seccomp") with libseccomp.
 *
 * Rules whose syscall names libseccomp does not know on this architecture
 * are skipped (profiles list syscalls of other arches and newer kernels);
 * rules whose action equals the default action are redundant and skipped.
 * Several conditions on the same argument cannot be ANDed by libseccomp,
 * so such a rule becomes one rule per condition (OR), as runc does.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

#include "linux_internal.h"

static int add_rule(scmp_filter_ctx ctx, const struct ct_seccomp_rule *rule, int nr,
		    struct vs_err *err, const char *name)
{
	struct scmp_arg_cmp cmp[6];
	bool dup = false;
	for (unsigned i = 0; i < rule->nargs; i++) {
		cmp[i].arg = rule->args[i].index;
		cmp[i].op = (enum scmp_compare)rule->args[i].op;
		cmp[i].datum_a = rule->args[i].value;
		cmp[i].datum_b = rule->args[i].value_two;
		for (unsigned k = 0; k < i; k++)
			if (cmp[k].arg == cmp[i].arg)
				dup = true;
	}
	int r;
	if (!dup) {
		r = seccomp_rule_add_array(ctx, rule->action, nr, rule->nargs, cmp);
		if (r < 0)
			return vs_syserrf(err, -r, "seccomp rule for %s", name);
		return 0;
	}
	for (unsigned i = 0; i < rule->nargs; i++) {
		r = seccomp_rule_add_array(ctx, rule->action, nr, 1, &cmp[i]);
		if (r < 0)
			return vs_syserrf(err, -r, "seccomp rule for %s", name);
	}
	return 0;
}

int ct_seccomp_load(const struct ct_seccomp *sec, bool no_new_privs, struct vs_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(sec->default_action);
	if (!ctx)
		return vs_errf(err, EINVAL, "seccomp: cannot initialise the filter");
	int r = 0;
	for (unsigned i = 0; i < sec->narches; i++) {
		r = seccomp_arch_add(ctx, sec->arches[i]);
		if (r < 0 && r != -EEXIST) {
			r = vs_syserrf(err, -r, "seccomp: add architecture");
			goto out;
		}
		r = 0;
	}
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, no_new_privs ? 1 : 0)) < 0) {
		r = vs_syserrf(err, -r, "seccomp: set no_new_privs attribute");
		goto out;
	}
	for (unsigned i = 0; i < sec->nrules; i++) {
		const struct ct_seccomp_rule *rule = &sec->rules[i];
		if (rule->action == sec->default_action)
			continue;
		for (unsigned k = 0; k < rule->nnames; k++) {
			int nr = seccomp_syscall_resolve_name(rule->names[k]);
			if (nr == __NR_SCMP_ERROR)
				continue;
			if ((r = add_rule(ctx, rule, nr, err, rule->names[k])) < 0)
				goto out;
		}
	}
	if ((r = seccomp_load(ctx)) < 0)
		r = vs_syserrf(err, -r, "seccomp: load filter");
out:
	seccomp_release(ctx);
	return r;
}
