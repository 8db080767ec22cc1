/*
 * config.h - an OCI bundle's config.json as plain structs.
 *
 * ct_config_parse() validates the whole document against runtime-spec 1.1
 * (config.md, config-linux.md) and fills struct ct_config.  Strings point
 * into the json-c tree that the config keeps alive (cfg->json), so parsing
 * copies nothing; ct_config_free() releases everything at once.
 *
 * The same process parser serves `exec --process F` (ct_process_parse).
 */
#ifndef VESSEL_CT_CONFIG_H
#define VESSEL_CT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"

struct json_object;

#define CT_OCI_VERSION "1.1.0"

enum ct_ns_type {
	CT_NS_PID,
	CT_NS_NET,
	CT_NS_MOUNT,
	CT_NS_IPC,
	CT_NS_UTS,
	CT_NS_USER,
	CT_NS_CGROUP,
	CT_NS_TIME,
	CT_NS_COUNT,
};

struct ct_namespace {
	bool enabled;	  /* listed in linux.namespaces */
	const char *path; /* join this one (NULL = create a new one) */
};

struct ct_id_mapping {
	uint32_t container_id, host_id, size;
};

struct ct_mount {
	const char *destination; /* absolute, inside the rootfs */
	const char *type;	 /* may be NULL for bind mounts */
	const char *source;	 /* may be NULL */
	const char **options;
	unsigned noptions;
};

struct ct_device {
	const char *path;
	char type; /* 'c', 'b', 'u' or 'p' */
	int64_t major, minor;
	uint32_t file_mode; /* permission bits; 0666 when absent */
	uint32_t uid, gid;
};

struct ct_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

/* Capability sets as bit masks over CAP_* numbers (0..63). */
struct ct_caps {
	bool present; /* process.capabilities given at all */
	uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct ct_process {
	bool terminal;
	unsigned console_height, console_width;
	uint32_t uid, gid;
	int64_t umask; /* -1 = unset */
	uint32_t *additional_gids;
	unsigned nadditional_gids;
	const char **args; /* NULL-terminated */
	unsigned nargs;
	const char **env; /* NULL-terminated */
	unsigned nenv;
	const char *cwd;
	struct ct_caps caps;
	bool no_new_privileges;
	struct ct_rlimit *rlimits;
	unsigned nrlimits;
	bool has_oom_score_adj;
	int oom_score_adj;
	const char *apparmor_profile, *selinux_label;
};

/* linux.seccomp, see config-linux.md "Seccomp". */
struct ct_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	int op; /* enum scmp_compare */
};

struct ct_seccomp_rule {
	const char **names;
	unsigned nnames;
	uint32_t action; /* SCMP_ACT_* */
	struct ct_seccomp_arg *args;
	unsigned nargs;
};

struct ct_seccomp {
	uint32_t default_action;
	uint32_t *arches; /* SCMP_ARCH_* */
	unsigned narches;
	struct ct_seccomp_rule *rules;
	unsigned nrules;
};

struct ct_hook {
	const char *path;
	const char **args; /* NULL-terminated, may be NULL */
	const char **env;  /* NULL-terminated, may be NULL */
	int timeout;	   /* seconds, 0 = none */
};

enum ct_hook_kind {
	CT_HOOK_PRESTART,
	CT_HOOK_CREATE_RUNTIME,
	CT_HOOK_CREATE_CONTAINER,
	CT_HOOK_START_CONTAINER,
	CT_HOOK_POSTSTART,
	CT_HOOK_POSTSTOP,
	CT_HOOK_KIND_COUNT,
};

struct ct_sysctl {
	const char *key, *value;
};

struct ct_config {
	struct json_object *json; /* the parsed document; owns every string */
	const char *oci_version;
	const char *root_path; /* as written (relative to the bundle or absolute) */
	bool root_readonly;
	const char *hostname, *domainname;
	struct ct_process process;
	struct ct_mount *mounts;
	unsigned nmounts;
	struct ct_hook *hooks[CT_HOOK_KIND_COUNT];
	unsigned nhooks[CT_HOOK_KIND_COUNT];

	/* linux */
	struct ct_namespace ns[CT_NS_COUNT];
	struct ct_id_mapping *uid_mappings, *gid_mappings;
	unsigned nuid_mappings, ngid_mappings;
	struct ct_device *devices;
	unsigned ndevices;
	const char *cgroups_path;
	struct json_object *resources; /* linux.resources (NULL if absent) */
	const char **masked_paths, **readonly_paths;
	unsigned nmasked_paths, nreadonly_paths;
	struct ct_sysctl *sysctls;
	unsigned nsysctls;
	unsigned long rootfs_propagation; /* MS_* flags, 0 = default (rslave) */
	bool has_seccomp;
	struct ct_seccomp seccomp;
	bool has_time_offsets;
	int64_t time_offset_mono_s, time_offset_boot_s;
	uint32_t time_offset_mono_ns, time_offset_boot_ns;
	const char *mount_label;
};

/* Parse a config.json document held in memory. */
int ct_config_parse(const char *text, size_t len, struct ct_config *cfg, struct vs_err *err);
/* Read and parse DIR/config.json. */
int ct_config_load(const char *bundle, struct ct_config *cfg, struct vs_err *err);
/* Read and parse the config file at path; with text_out, also hand back the
 * exact bytes parsed (malloc'd, NUL-terminated) and their length. */
int ct_config_read(const char *path, struct ct_config *cfg, char **text_out, size_t *len_out,
		   struct vs_err *err);
void ct_config_free(struct ct_config *cfg);

/* Parse a process object (config.md "Process"); strings point into obj. */
int ct_process_parse(struct json_object *obj, struct ct_process *proc, struct vs_err *err);
void ct_process_free(struct ct_process *proc);

const char *ct_ns_name(enum ct_ns_type t);
/* CLONE_NEW* flag for a namespace type. */
int ct_ns_clone_flag(enum ct_ns_type t);

/* Capability number for "CAP_SYS_ADMIN" (-1 if unknown). */
int ct_cap_from_name(const char *name);
/* Signal number for "SIGKILL", "KILL", "9" (-1 if unknown). */
int ct_signal_from_name(const char *name);

#endif
