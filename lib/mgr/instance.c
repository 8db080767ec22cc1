/*
 * instance.c - the instance object model: names, types, power states and
 * the config keys (one const table: how each value is checked, whether it
 * applies live).  Limits are checked against the host here, so that
 * "limits.memory=1T" fails with a clear message before anything changes.
 *
 * Keys (Incus's names):
 *   limits.memory  a size ("256MiB", "1G", plain bytes), at most the host's RAM
 *   limits.memory.max  VMs only: the memory ceiling of the next boot (the
 *                  balloon's range; default: limits.memory itself)
 *   limits.cpu     a CPU count ("2", at most the host's CPUs: a CFS quota)
 *                  or a CPU set ("0-1,3": pinned with cpuset)
 *   user.*         free-form labels
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/mgr/instance.h"

const char *mgr_instance_type_name(enum mgr_instance_type t)
{
	return t == MGR_INSTANCE_VM ? "virtual-machine" : "container";
}

int mgr_instance_type_parse(const char *s, enum mgr_instance_type *t, struct vs_err *err)
{
	if (strcmp(s, "container") == 0) {
		*t = MGR_INSTANCE_CONTAINER;
		return 0;
	}
	if (strcmp(s, "virtual-machine") == 0 || strcmp(s, "vm") == 0) {
		*t = MGR_INSTANCE_VM;
		return 0;
	}
	return vs_errf(err, EINVAL, "unknown instance type \"%s\" (container or virtual-machine)",
		       s);
}

const char *mgr_power_status(enum mgr_power p)
{
	switch (p) {
	case MGR_POWER_RUNNING: return "Running";
	case MGR_POWER_FROZEN: return "Frozen";
	default: return "Stopped";
	}
}

const char *mgr_power_db_name(enum mgr_power p)
{
	switch (p) {
	case MGR_POWER_RUNNING: return "running";
	case MGR_POWER_FROZEN: return "frozen";
	default: return "stopped";
	}
}

int mgr_name_validate(const char *name, struct vs_err *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > MGR_NAME_MAX)
		return vs_errf(err, EINVAL, "invalid name \"%.80s\": 1 to %d characters", name,
			       MGR_NAME_MAX);
	if (!isalpha((unsigned char)name[0]))
		return vs_errf(err, EINVAL, "invalid name \"%s\": must start with a letter", name);
	if (name[n - 1] == '-')
		return vs_errf(err, EINVAL, "invalid name \"%s\": must not end with '-'", name);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return vs_errf(err, EINVAL,
				       "invalid name \"%s\": only letters, digits and '-'", name);
	return 0;
}

/* A cpuset list "0-3,5": each CPU below the host's count. */
static int check_cpuset(const char *v, long ncpu, struct vs_err *err)
{
	const char *p = v;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p))
			return vs_errf(err, EINVAL, "limits.cpu=%s: expected N or a CPU list", v);
		long a = strtol(p, &end, 10), b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return vs_errf(err, EINVAL, "limits.cpu=%s: bad range", v);
			b = strtol(p, &end, 10);
			p = end;
		}
		if (b < a)
			return vs_errf(err, EINVAL, "limits.cpu=%s: bad range %ld-%ld", v, a, b);
		if (b >= ncpu)
			return vs_errf(err, ERANGE,
				       "limits.cpu=%s: CPU %ld exceeds the host (%ld CPUs)", v, b,
				       ncpu);
		if (*p == ',')
			p++;
		else if (*p)
			return vs_errf(err, EINVAL, "limits.cpu=%s: expected N or a CPU list", v);
	}
	return 0;
}

static int check_cpu(const char *v, struct vs_err *err)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (!*v)
		return vs_errf(err, EINVAL, "limits.cpu: empty value");
	if (strpbrk(v, "-,"))
		return check_cpuset(v, ncpu, err);
	uint64_t n;
	struct vs_err e = VS_ERR_INIT;
	if (vs_parse_u64(v, &n, &e) < 0 || n == 0)
		return vs_errf(err, EINVAL, "limits.cpu=%s: expected a CPU count or a CPU list", v);
	if (n > (uint64_t)ncpu)
		return vs_errf(err, ERANGE, "limits.cpu=%s exceeds the host (%ld CPUs)", v, ncpu);
	return 0;
}

static int check_memory(const char *v, struct vs_err *err)
{
	uint64_t bytes;
	struct vs_err e = VS_ERR_INIT;
	if (vs_parse_size(v, &bytes, &e) < 0)
		return vs_errf(err, EINVAL, "limits.memory=%s: %s", v, e.msg);
	if (bytes < 4 << 20)
		return vs_errf(err, ERANGE, "limits.memory=%s: below the 4 MiB minimum", v);
	struct sysinfo si;
	if (sysinfo(&si) == 0 && bytes > (uint64_t)si.totalram * si.mem_unit) {
		char host[32];
		vs_format_size((uint64_t)si.totalram * si.mem_unit, host, sizeof(host));
		return vs_errf(err, ERANGE, "limits.memory=%s exceeds the host (%s)", v, host);
	}
	return 0;
}

static int check_label(const char *v, struct vs_err *err)
{
	if (strlen(v) > 4096)
		return vs_errf(err, EINVAL, "label value longer than 4096 bytes");
	return 0;
}

struct config_key {
	const char *name;
	bool prefix; /* name is a prefix ("user.") */
	bool live;
	bool container, vm; /* valid for */
	int (*check)(const char *value, struct vs_err *err);
};

static const struct config_key config_keys[] = {
	{ "limits.cpu", false, true, true, true, check_cpu },
	{ "limits.memory", false, true, true, true, check_memory },
	/* a VM's memory ceiling (the balloon's range), from its next start */
	{ "limits.memory.max", false, false, false, true, check_memory },
	{ "user.", true, true, true, true, check_label },
};

static const struct config_key *find_key(const char *key)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->prefix
			? strncmp(key, k->name, strlen(k->name)) == 0 && key[strlen(k->name)] != 0
			: strcmp(key, k->name) == 0)
			return k;
	}
	return NULL;
}

int mgr_config_validate(enum mgr_instance_type t, const char *key, const char *value,
			struct vs_err *err)
{
	const struct config_key *k = find_key(key);
	if (!k)
		return vs_errf(err, EINVAL, "unknown config key \"%.100s\"", key);
	if (strlen(key) > 256)
		return vs_errf(err, EINVAL, "config key longer than 256 bytes");
	if (!(t == MGR_INSTANCE_VM ? k->vm : k->container))
		return vs_errf(err, EINVAL, "config key %s does not apply to a %s", key,
			       mgr_instance_type_name(t));
	struct vs_err e = VS_ERR_INIT;
	int r = k->check(value, &e);
	if (r < 0)
		return vs_errf(err, -r, "%s", e.msg);
	return 0;
}

bool mgr_config_key_live(const char *key)
{
	const struct config_key *k = find_key(key);
	return k && k->live;
}

const char *mgr_instance_config_get(const struct mgr_instance *inst, const char *key)
{
	for (size_t i = 0; i < inst->nconfig; i++)
		if (strcmp(inst->config[i].key, key) == 0)
			return inst->config[i].value;
	return NULL;
}

int mgr_instance_config_set(struct mgr_instance *inst, const char *key, const char *value,
			    struct vs_err *err)
{
	for (size_t i = 0; i < inst->nconfig; i++) {
		if (strcmp(inst->config[i].key, key) != 0)
			continue;
		if (!value) {
			free(inst->config[i].key);
			free(inst->config[i].value);
			inst->config[i] = inst->config[--inst->nconfig];
			return 0;
		}
		char *v = strdup(value);
		if (!v)
			return vs_errf(err, ENOMEM, "out of memory");
		free(inst->config[i].value);
		inst->config[i].value = v;
		return 0;
	}
	if (!value)
		return 0;
	struct mgr_config_entry *c =
	    realloc(inst->config, (inst->nconfig + 1) * sizeof(*inst->config));
	if (!c)
		return vs_errf(err, ENOMEM, "out of memory");
	inst->config = c;
	c[inst->nconfig].key = strdup(key);
	c[inst->nconfig].value = strdup(value);
	if (!c[inst->nconfig].key || !c[inst->nconfig].value) {
		free(c[inst->nconfig].key);
		free(c[inst->nconfig].value);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	inst->nconfig++;
	return 0;
}

void mgr_instance_free(struct mgr_instance *inst)
{
	for (size_t i = 0; i < inst->nconfig; i++) {
		free(inst->config[i].key);
		free(inst->config[i].value);
	}
	free(inst->config);
	inst->config = NULL;
	inst->nconfig = 0;
}

void mgr_instance_list_free(struct mgr_instance *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mgr_instance_free(&list[i]);
	free(list);
}

void mgr_timestamp(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
