/*
 * config.c - parse and validate an OCI bundle's config.json
 * (runtime-spec 1.1 config.md and config-linux.md) into struct ct_config.
 *
 * The json-c tree stays alive in cfg->json and every string borrows from it;
 * only arrays of structs are allocated.  Validation is strict where a wrong
 * value would make the runtime do something the user did not ask for
 * (unknown namespace, relative mount destination, duplicate namespace, bad
 * id mapping, unknown device type) and tolerant of unknown extra fields, as
 * the spec requires ("MUST ignore unknown properties").
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "config_internal.h"
#include "json_util.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/ct/config.h"

#define CONFIG_MAX_BYTES (4u << 20)

static const struct {
	const char *name;
	int flag;
} ns_table[CT_NS_COUNT] = {
	[CT_NS_PID] = { "pid", CLONE_NEWPID },
	[CT_NS_NET] = { "network", CLONE_NEWNET },
	[CT_NS_MOUNT] = { "mount", CLONE_NEWNS },
	[CT_NS_IPC] = { "ipc", CLONE_NEWIPC },
	[CT_NS_UTS] = { "uts", CLONE_NEWUTS },
	[CT_NS_USER] = { "user", CLONE_NEWUSER },
	[CT_NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP },
	[CT_NS_TIME] = { "time", 0x80 /* CLONE_NEWTIME */ },
};

const char *ct_ns_name(enum ct_ns_type t)
{
	return (unsigned)t < CT_NS_COUNT ? ns_table[t].name : "?";
}

int ct_ns_clone_flag(enum ct_ns_type t)
{
	return (unsigned)t < CT_NS_COUNT ? ns_table[t].flag : 0;
}

static int parse_namespaces(struct json_object *linux_obj, struct ct_config *cfg,
			    struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(linux_obj, "namespaces", "linux", &arr, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		char what[40];
		snprintf(what, sizeof(what), "linux.namespaces[%zu]", i);
		const char *type = NULL, *path = NULL;
		if ((r = ctj_expect_object(e, what, err)) < 0 ||
		    (r = ctj_string(e, "type", what, true, &type, err)) < 0 ||
		    (r = ctj_string(e, "path", what, false, &path, err)) < 0)
			return r;
		int t = -1;
		for (int k = 0; k < CT_NS_COUNT; k++)
			if (strcmp(type, ns_table[k].name) == 0)
				t = k;
		if (t < 0)
			return vs_errf(err, EINVAL, "%s.type: unknown namespace type \"%s\"", what,
				       type);
		if (cfg->ns[t].enabled)
			return vs_errf(err, EINVAL, "%s: namespace \"%s\" listed twice", what,
				       type);
		if (path && path[0] != '/')
			return vs_errf(err, EINVAL, "%s.path: %s is not an absolute path", what,
				       path);
		cfg->ns[t].enabled = true;
		cfg->ns[t].path = path && *path ? path : NULL;
	}
	return 0;
}

static int parse_mappings(struct json_object *linux_obj, const char *key,
			  struct ct_id_mapping **out, unsigned *count, struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(linux_obj, key, "linux", &arr, &n, err);
	if (r < 0 || n == 0)
		return r;
	if (n > 340)
		return vs_errf(err, E2BIG, "linux.%s: at most 340 mappings", key);
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		char what[40];
		snprintf(what, sizeof(what), "linux.%s[%zu]", key, i);
		int64_t c = 0, h = 0, s = 0;
		if ((r = ctj_expect_object(e, what, err)) < 0 ||
		    (r = ctj_int64(e, "containerID", what, 0, UINT32_MAX - 1, true, &c, NULL,
				   err)) < 0 ||
		    (r = ctj_int64(e, "hostID", what, 0, UINT32_MAX - 1, true, &h, NULL, err)) <
			0 ||
		    (r = ctj_int64(e, "size", what, 1, UINT32_MAX, true, &s, NULL, err)) < 0)
			return r;
		if (c + s > (int64_t)UINT32_MAX || h + s > (int64_t)UINT32_MAX)
			return vs_errf(err, ERANGE, "%s: range overflows 32 bits", what);
		(*out)[i] = (struct ct_id_mapping){ (uint32_t)c, (uint32_t)h, (uint32_t)s };
	}
	*count = (unsigned)n;
	return 0;
}

static int parse_devices(struct json_object *linux_obj, struct ct_config *cfg, struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(linux_obj, "devices", "linux", &arr, &n, err);
	if (r < 0 || n == 0)
		return r;
	cfg->devices = calloc(n, sizeof(*cfg->devices));
	if (!cfg->devices)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct ct_device *d = &cfg->devices[i];
		char what[40];
		snprintf(what, sizeof(what), "linux.devices[%zu]", i);
		const char *type = NULL;
		int64_t mode = 0666, uid = 0, gid = 0;
		if ((r = ctj_expect_object(e, what, err)) < 0 ||
		    (r = ctj_string(e, "path", what, true, &d->path, err)) < 0 ||
		    (r = ctj_string(e, "type", what, true, &type, err)) < 0)
			return r;
		if (strlen(type) != 1 || !strchr("cbup", type[0]))
			return vs_errf(err, EINVAL, "%s.type: unknown device type \"%s\"", what,
				       type);
		d->type = type[0];
		if (d->path[0] != '/' || strstr(d->path, ".."))
			return vs_errf(err, EINVAL, "%s.path: %s must be absolute without ..", what,
				       d->path);
		bool need_nums = d->type != 'p';
		if ((r = ctj_int64(e, "major", what, 0, 0xfffff, need_nums, &d->major, NULL, err)) <
			0 ||
		    (r = ctj_int64(e, "minor", what, 0, 0xfffff, need_nums, &d->minor, NULL, err)) <
			0 ||
		    (r = ctj_int64(e, "fileMode", what, 0, 07777, false, &mode, NULL, err)) < 0 ||
		    (r = ctj_int64(e, "uid", what, 0, UINT32_MAX - 1, false, &uid, NULL, err)) <
			0 ||
		    (r = ctj_int64(e, "gid", what, 0, UINT32_MAX - 1, false, &gid, NULL, err)) < 0)
			return r;
		d->file_mode = (uint32_t)mode;
		d->uid = (uint32_t)uid;
		d->gid = (uint32_t)gid;
		cfg->ndevices++;
	}
	return 0;
}

static int parse_mounts(struct json_object *root, struct ct_config *cfg, struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(root, "mounts", "config", &arr, &n, err);
	if (r < 0 || n == 0)
		return r;
	cfg->mounts = calloc(n, sizeof(*cfg->mounts));
	if (!cfg->mounts)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct ct_mount *m = &cfg->mounts[i];
		char what[32];
		snprintf(what, sizeof(what), "mounts[%zu]", i);
		cfg->nmounts++;
		if ((r = ctj_expect_object(e, what, err)) < 0 ||
		    (r = ctj_string(e, "destination", what, true, &m->destination, err)) < 0 ||
		    (r = ctj_string(e, "type", what, false, &m->type, err)) < 0 ||
		    (r = ctj_string(e, "source", what, false, &m->source, err)) < 0 ||
		    (r = ctj_strv(e, "options", what, &m->options, &m->noptions, err)) < 0)
			return r;
		if (m->destination[0] != '/')
			return vs_errf(err, EINVAL, "%s.destination: %s is not an absolute path",
				       what, m->destination);
		if (strlen(m->destination) >= PATH_MAX)
			return vs_errf(err, ENAMETOOLONG, "%s.destination: too long", what);
	}
	return 0;
}

static const char *const hook_keys[CT_HOOK_KIND_COUNT] = {
	[CT_HOOK_PRESTART] = "prestart",
	[CT_HOOK_CREATE_RUNTIME] = "createRuntime",
	[CT_HOOK_CREATE_CONTAINER] = "createContainer",
	[CT_HOOK_START_CONTAINER] = "startContainer",
	[CT_HOOK_POSTSTART] = "poststart",
	[CT_HOOK_POSTSTOP] = "poststop",
};

const char *ct_hook_kind_name(enum ct_hook_kind k)
{
	return (unsigned)k < CT_HOOK_KIND_COUNT ? hook_keys[k] : "?";
}

static int parse_hooks(struct json_object *root, struct ct_config *cfg, struct vs_err *err)
{
	struct json_object *h = ctj_get(root, "hooks");
	int r;
	if (!h || json_object_is_type(h, json_type_null))
		return 0;
	if ((r = ctj_expect_object(h, "hooks", err)) < 0)
		return r;
	for (int k = 0; k < CT_HOOK_KIND_COUNT; k++) {
		struct json_object *arr;
		size_t n;
		if ((r = ctj_array(h, hook_keys[k], "hooks", &arr, &n, err)) < 0)
			return r;
		if (n == 0)
			continue;
		cfg->hooks[k] = calloc(n, sizeof(struct ct_hook));
		if (!cfg->hooks[k])
			return vs_errf(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);
			struct ct_hook *hk = &cfg->hooks[k][i];
			char what[48];
			snprintf(what, sizeof(what), "hooks.%s[%zu]", hook_keys[k], i);
			cfg->nhooks[k]++;
			int64_t timeout = 0;
			bool has_timeout = false;
			if ((r = ctj_expect_object(e, what, err)) < 0 ||
			    (r = ctj_string(e, "path", what, true, &hk->path, err)) < 0 ||
			    (r = ctj_strv(e, "args", what, &hk->args, NULL, err)) < 0 ||
			    (r = ctj_strv(e, "env", what, &hk->env, NULL, err)) < 0 ||
			    (r = ctj_int64(e, "timeout", what, 1, 86400, false, &timeout,
					   &has_timeout, err)) < 0)
				return r;
			if (hk->path[0] != '/')
				return vs_errf(err, EINVAL, "%s.path: %s is not an absolute path",
					       what, hk->path);
			hk->timeout = (int)timeout;
		}
	}
	return 0;
}

static int parse_sysctl(struct json_object *linux_obj, struct ct_config *cfg, struct vs_err *err)
{
	struct json_object *s = ctj_get(linux_obj, "sysctl");
	int r;
	if (!s || json_object_is_type(s, json_type_null))
		return 0;
	if ((r = ctj_expect_object(s, "linux.sysctl", err)) < 0)
		return r;
	size_t n = (size_t)json_object_object_length(s);
	if (n == 0)
		return 0;
	cfg->sysctls = calloc(n, sizeof(*cfg->sysctls));
	if (!cfg->sysctls)
		return vs_errf(err, ENOMEM, "out of memory");
	json_object_object_foreach(s, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return vs_errf(err, EINVAL, "linux.sysctl.%s: expected a string", key);
		if (strstr(key, "..") || strchr(key, '/') || key[0] == '.' || key[0] == 0)
			return vs_errf(err, EINVAL, "linux.sysctl: invalid key \"%s\"", key);
		cfg->sysctls[cfg->nsysctls].key = key;
		cfg->sysctls[cfg->nsysctls].value = json_object_get_string(val);
		cfg->nsysctls++;
	}
	return 0;
}

static int parse_propagation(const char *p, unsigned long *flags, struct vs_err *err)
{
	static const struct {
		const char *name;
		unsigned long flags;
	} tab[] = {
		{ "private", MS_PRIVATE },	 { "rprivate", MS_PRIVATE | MS_REC },
		{ "slave", MS_SLAVE },		 { "rslave", MS_SLAVE | MS_REC },
		{ "shared", MS_SHARED },	 { "rshared", MS_SHARED | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	for (size_t i = 0; i < VS_ARRAY_SIZE(tab); i++)
		if (strcmp(p, tab[i].name) == 0) {
			*flags = tab[i].flags;
			return 0;
		}
	return vs_errf(err, EINVAL, "linux.rootfsPropagation: unknown propagation \"%s\"", p);
}

static int parse_time_offsets(struct json_object *linux_obj, struct ct_config *cfg,
			      struct vs_err *err)
{
	struct json_object *t = ctj_get(linux_obj, "timeOffsets");
	int r;
	if (!t || json_object_is_type(t, json_type_null))
		return 0;
	if ((r = ctj_expect_object(t, "linux.timeOffsets", err)) < 0)
		return r;
	const char *keys[2] = { "monotonic", "boottime" };
	int64_t *secs[2] = { &cfg->time_offset_mono_s, &cfg->time_offset_boot_s };
	uint32_t *nsecs[2] = { &cfg->time_offset_mono_ns, &cfg->time_offset_boot_ns };
	for (int i = 0; i < 2; i++) {
		struct json_object *o = ctj_get(t, keys[i]);
		if (!o)
			continue;
		char what[40];
		snprintf(what, sizeof(what), "linux.timeOffsets.%s", keys[i]);
		int64_t ns = 0;
		if ((r = ctj_expect_object(o, what, err)) < 0 ||
		    (r = ctj_int64(o, "secs", what, INT64_MIN / 2, INT64_MAX / 2, false, secs[i],
				   NULL, err)) < 0 ||
		    (r = ctj_int64(o, "nanosecs", what, 0, 999999999, false, &ns, NULL, err)) < 0)
			return r;
		*nsecs[i] = (uint32_t)ns;
	}
	cfg->has_time_offsets = true;
	return 0;
}

static int parse_linux(struct json_object *root, struct ct_config *cfg, struct vs_err *err)
{
	struct json_object *l = ctj_get(root, "linux");
	int r;
	if (!l || json_object_is_type(l, json_type_null))
		return 0;
	if ((r = ctj_expect_object(l, "linux", err)) < 0)
		return r;
	if ((r = parse_namespaces(l, cfg, err)) < 0 ||
	    (r = parse_mappings(l, "uidMappings", &cfg->uid_mappings, &cfg->nuid_mappings, err)) <
		0 ||
	    (r = parse_mappings(l, "gidMappings", &cfg->gid_mappings, &cfg->ngid_mappings, err)) <
		0 ||
	    (r = parse_devices(l, cfg, err)) < 0 ||
	    (r = ctj_string(l, "cgroupsPath", "linux", false, &cfg->cgroups_path, err)) < 0 ||
	    (r = ctj_strv(l, "maskedPaths", "linux", &cfg->masked_paths, &cfg->nmasked_paths,
			  err)) < 0 ||
	    (r = ctj_strv(l, "readonlyPaths", "linux", &cfg->readonly_paths, &cfg->nreadonly_paths,
			  err)) < 0 ||
	    (r = parse_sysctl(l, cfg, err)) < 0 || (r = parse_time_offsets(l, cfg, err)) < 0 ||
	    (r = ctj_string(l, "mountLabel", "linux", false, &cfg->mount_label, err)) < 0)
		return r;
	struct json_object *res = ctj_get(l, "resources");
	if (res && !json_object_is_type(res, json_type_null)) {
		if ((r = ctj_expect_object(res, "linux.resources", err)) < 0)
			return r;
		cfg->resources = res;
	}
	const char *prop = NULL;
	if ((r = ctj_string(l, "rootfsPropagation", "linux", false, &prop, err)) < 0)
		return r;
	if (prop && *prop && (r = parse_propagation(prop, &cfg->rootfs_propagation, err)) < 0)
		return r;
	struct json_object *sec = ctj_get(l, "seccomp");
	if (sec && !json_object_is_type(sec, json_type_null)) {
		if ((r = ct_seccomp_parse(sec, &cfg->seccomp, err)) < 0)
			return r;
		cfg->has_seccomp = true;
	}
	if (ctj_get(l, "intelRdt"))
		return vs_errf(err, ENOTSUP, "linux.intelRdt: not supported by vessel-runtime");
	return 0;
}

/*
 * The namespace a sysctl belongs to (as runc and crun validate them): only
 * namespaced sysctls may be set, and only when the container has that
 * namespace of its own; any other key would write the host's value.
 */
static int sysctl_namespace(const char *key, enum ct_ns_type *ns, struct vs_err *err)
{
	static const char *const ipc_keys[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",	    "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shm_rmid_forced", "kernel.shmmni",
	};
	if (strncmp(key, "net.", 4) == 0) {
		*ns = CT_NS_NET;
		return 0;
	}
	if (strncmp(key, "fs.mqueue.", 10) == 0) {
		*ns = CT_NS_IPC;
		return 0;
	}
	for (size_t i = 0; i < VS_ARRAY_SIZE(ipc_keys); i++)
		if (strcmp(key, ipc_keys[i]) == 0) {
			*ns = CT_NS_IPC;
			return 0;
		}
	if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0) {
		*ns = CT_NS_UTS;
		return 0;
	}
	return vs_errf(err, EINVAL,
		       "linux.sysctl.%s: not a namespaced sysctl (setting it would change the "
		       "host's value)",
		       key);
}

static int config_validate(struct ct_config *cfg, struct vs_err *err)
{
	int r;
	bool userns = cfg->ns[CT_NS_USER].enabled;
	if ((cfg->nuid_mappings || cfg->ngid_mappings) && !userns)
		return vs_errf(err, EINVAL, "linux.uidMappings: id mappings need a user namespace");
	if (userns && !cfg->ns[CT_NS_USER].path && (!cfg->nuid_mappings || !cfg->ngid_mappings))
		return vs_errf(err, EINVAL,
			       "linux.uidMappings/gidMappings: a new user namespace needs both");
	if (userns && cfg->ns[CT_NS_USER].path && (cfg->nuid_mappings || cfg->ngid_mappings))
		return vs_errf(
		    err, EINVAL,
		    "linux.uidMappings: cannot set mappings when joining a user namespace");
	if (cfg->hostname && *cfg->hostname && !cfg->ns[CT_NS_UTS].enabled)
		return vs_errf(err, EINVAL, "hostname: needs a uts namespace");
	if (cfg->has_time_offsets && !cfg->ns[CT_NS_TIME].enabled)
		return vs_errf(err, EINVAL, "linux.timeOffsets: needs a time namespace");
	if (cfg->has_time_offsets && cfg->ns[CT_NS_TIME].path)
		return vs_errf(
		    err, EINVAL,
		    "linux.timeOffsets: cannot set offsets when joining a time namespace");
	/* No mount namespace: the container shares the runtime's (config-linux.md
	 * "Namespaces"); what would change the host's mounts is refused, never
	 * silently dropped (crun ignores root.readonly there). */
	if (!cfg->ns[CT_NS_MOUNT].enabled && cfg->root_readonly)
		return vs_errf(err, EINVAL,
			       "root.readonly: needs a mount namespace (without one the container "
			       "shares the runtime's mounts, and its root cannot be made "
			       "read-only without changing them)");
	if (!cfg->ns[CT_NS_MOUNT].enabled && cfg->rootfs_propagation)
		return vs_errf(err, EINVAL,
			       "linux.rootfsPropagation: needs a mount namespace (it would change "
			       "the propagation of the runtime's own mounts)");
	for (unsigned i = 0; i < cfg->nsysctls; i++) {
		enum ct_ns_type need;
		if ((r = sysctl_namespace(cfg->sysctls[i].key, &need, err)) < 0)
			return r;
		if (!cfg->ns[need].enabled)
			return vs_errf(err, EINVAL,
				       "linux.sysctl.%s: needs a%s %s namespace (without one it "
				       "would change the host's value)",
				       cfg->sysctls[i].key, need == CT_NS_IPC ? "n" : "",
				       ns_table[need].name);
	}
	return 0;
}

int ct_config_parse(const char *text, size_t len, struct ct_config *cfg, struct vs_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	int r;
	if (len > CONFIG_MAX_BYTES)
		return vs_errf(err, EFBIG, "config.json: larger than %u bytes", CONFIG_MAX_BYTES);
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return vs_errf(err, ENOMEM, "config.json: out of memory");
	struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success) {
		json_object_put(root);
		if (jerr == json_tokener_continue)
			return vs_errf(err, EINVAL, "config.json: unexpected end of document");
		return vs_errf(err, EINVAL, "config.json: invalid JSON at byte %zu: %s", off,
			       json_tokener_error_desc(jerr));
	}
	for (size_t i = off; i < len; i++)
		if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r' &&
		    text[i] != '\0') {
			json_object_put(root);
			return vs_errf(err, EINVAL, "config.json: trailing data at byte %zu", i);
		}
	cfg->json = root;
	if ((r = ctj_expect_object(root, "config.json", err)) < 0)
		goto fail;
	if ((r = ctj_string(root, "ociVersion", "config", true, &cfg->oci_version, err)) < 0)
		goto fail;
	if (strncmp(cfg->oci_version, "1.", 2) != 0) {
		r = vs_errf(err, EINVAL, "ociVersion: unsupported version %s (want 1.x)",
			    cfg->oci_version);
		goto fail;
	}
	struct json_object *rootobj = ctj_get(root, "root");
	if ((r = ctj_expect_object(rootobj, "root", err)) < 0 ||
	    (r = ctj_string(rootobj, "path", "root", true, &cfg->root_path, err)) < 0 ||
	    (r = ctj_bool(rootobj, "readonly", "root", &cfg->root_readonly, err)) < 0)
		goto fail;
	if (!cfg->root_path[0]) {
		r = vs_errf(err, EINVAL, "root.path: must not be empty");
		goto fail;
	}
	if ((r = ctj_string(root, "hostname", "config", false, &cfg->hostname, err)) < 0 ||
	    (r = ctj_string(root, "domainname", "config", false, &cfg->domainname, err)) < 0)
		goto fail;
	struct json_object *proc = ctj_get(root, "process");
	if (!proc) {
		r = vs_errf(err, EINVAL, "process: required by create");
		goto fail;
	}
	if ((r = ct_process_parse(proc, &cfg->process, err)) < 0)
		goto fail;
	if ((r = parse_mounts(root, cfg, err)) < 0 || (r = parse_hooks(root, cfg, err)) < 0 ||
	    (r = parse_linux(root, cfg, err)) < 0 || (r = config_validate(cfg, err)) < 0)
		goto fail;
	return 0;
fail:
	ct_config_free(cfg);
	return r;
}

int ct_config_read(const char *path, struct ct_config *cfg, char **text_out, size_t *len_out,
		   struct vs_err *err)
{
	vs_cleanup_free char *text = NULL;
	size_t len = 0;
	memset(cfg, 0, sizeof(*cfg));
	int r = vs_read_file(path, &text, &len, CONFIG_MAX_BYTES, err);
	if (r < 0)
		return r;
	r = ct_config_parse(text, len, cfg, err);
	if (r < 0)
		return vs_err_prefix(err, "%s", path);
	if (text_out) {
		*text_out = vs_steal_ptr(&text);
		*len_out = len;
	}
	return 0;
}

int ct_config_load(const char *bundle, struct ct_config *cfg, struct vs_err *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
		return vs_errf(err, ENAMETOOLONG, "bundle path too long: %s", bundle);
	return ct_config_read(path, cfg, NULL, NULL, err);
}

void ct_config_free(struct ct_config *cfg)
{
	ct_process_free(&cfg->process);
	for (unsigned i = 0; i < cfg->nmounts; i++)
		free(cfg->mounts[i].options);
	free(cfg->mounts);
	for (int k = 0; k < CT_HOOK_KIND_COUNT; k++) {
		for (unsigned i = 0; i < cfg->nhooks[k]; i++) {
			free(cfg->hooks[k][i].args);
			free(cfg->hooks[k][i].env);
		}
		free(cfg->hooks[k]);
	}
	free(cfg->uid_mappings);
	free(cfg->gid_mappings);
	free(cfg->devices);
	free(cfg->masked_paths);
	free(cfg->readonly_paths);
	free(cfg->sysctls);
	ct_seccomp_free(&cfg->seccomp);
	json_object_put(cfg->json);
	memset(cfg, 0, sizeof(*cfg));
}
