/*
 * cgroup_testing.h - point the cgroup library at a fake tree (tests only).
 *
 * Unit tests build a directory that looks like /sys/fs/cgroup (one folder
 * per v1 controller, or cgroup2 files at the top, or both with `unified/`)
 * and check what the library writes.  With a root set:
 *  - detection looks for marker files instead of filesystem magic:
 *    <root>/cgroup.controllers => v2, <root>/unified/cgroup.controllers =>
 *    hybrid, otherwise v1 (every sub-directory is a v1 hierarchy named by its
 *    controllers, e.g. "cpu,cpuacct");
 *  - interface files are created when missing (the kernel would provide
 *    them), and waits for freeze/exit states do not sleep;
 *  - the process's own cgroups are read from `self_cgroup_file` (the
 *    /proc/self/cgroup format) when not NULL, else every hierarchy is "/".
 * ct_cgroup_testing_set_root(NULL, NULL) restores the real host.
 */
#ifndef VESSEL_CT_CGROUP_TESTING_H
#define VESSEL_CT_CGROUP_TESTING_H

void ct_cgroup_testing_set_root(const char *root, const char *self_cgroup_file);

/* Convert OCI cpu.shares to cgroup v2 cpu.weight (as runc and crun do). */
unsigned long ct_cgroup_shares_to_weight(unsigned long shares);

#endif
