/*
 * resources.c - parse and validate OCI runtime-spec `linux.resources`
 * (config-linux.md "Control groups") into struct ct_resources.
 *
 * The same parser serves `create` (config.json) and `update --resources`.
 * Invariants: on success every numeric field is either CT_RES_UNSET or a
 * value inside the range the spec/kernel accepts, strings are NUL-terminated
 * and contain only the characters their cgroup file accepts, and the arrays
 * are malloc'd (freed by ct_resources_free).  On failure `res` holds no
 * allocation and err names the offending JSON member
 * ("linux.resources.memory.limit: ...").  Every member of the runtime-spec
 * 1.1 object is parsed (memory.kernel and kernelTCP, blockIO per-device
 * weights and throttles, network, rdma, cpu.idle included), so that the back
 * ends can apply it or refuse it with a reason: nothing is silently dropped.
 * Members the spec does not define are ignored, as it requires.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "vessel/ct/cgroup.h"

#define RES_PREFIX "linux.resources"

void ct_resources_init(struct ct_resources *res)
{
	memset(res, 0, sizeof(*res));
	res->memory_limit = CT_RES_UNSET;
	res->memory_reservation = CT_RES_UNSET;
	res->memory_swap = CT_RES_UNSET;
	res->memory_swappiness = CT_RES_UNSET;
	res->cpu_shares = CT_RES_UNSET;
	res->cpu_quota = CT_RES_UNSET;
	res->cpu_period = CT_RES_UNSET;
	res->cpu_realtime_runtime = CT_RES_UNSET;
	res->cpu_realtime_period = CT_RES_UNSET;
	res->pids_limit = CT_RES_UNSET;
	res->blkio_weight = CT_RES_UNSET;
	res->memory_kernel = CT_RES_UNSET;
	res->memory_kernel_tcp = CT_RES_UNSET;
	res->cpu_idle = CT_RES_UNSET;
	res->blkio_leaf_weight = CT_RES_UNSET;
	res->net_class_id = CT_RES_UNSET;
	res->memory_use_hierarchy = -1;
}

void ct_resources_free(struct ct_resources *res)
{
	free(res->hugetlb);
	free(res->devices);
	free(res->unified_keys);
	free(res->unified_values);
	free(res->blkio_weight_devices);
	for (int t = 0; t < CT_THROTTLE_COUNT; t++) {
		free(res->blkio_throttle[t]);
		res->blkio_throttle[t] = NULL;
		res->nblkio_throttle[t] = 0;
	}
	free(res->net_priorities);
	free(res->rdma);
	res->blkio_weight_devices = NULL;
	res->net_priorities = NULL;
	res->rdma = NULL;
	res->nblkio_weight_devices = res->nnet_priorities = res->nrdma = 0;
	res->hugetlb = NULL;
	res->devices = NULL;
	res->unified_keys = NULL;
	res->unified_values = NULL;
	res->nhugetlb = res->ndevices = res->nunified = 0;
}

/* An integer member: absent or null leaves *out untouched. */
static int res_get_int(struct json_object *obj, const char *section, const char *key, int64_t min,
		       int64_t max, int64_t *out, struct vs_err *err)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return vs_errf(err, EINVAL, RES_PREFIX ".%s.%s: expected an integer", section, key);
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		x = INT64_MAX; /* uint64 beyond int64: saturate ("unlimited") */
	if (x < min || x > max)
		return vs_errf(err, ERANGE,
			       RES_PREFIX ".%s.%s: %" PRId64 " is out of range [%" PRId64
					  ", %" PRId64 "]",
			       section, key, x, min, max);
	*out = x;
	return 0;
}

static int res_get_object(struct json_object *obj, const char *key, struct json_object **out,
			  struct vs_err *err)
{
	struct json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return vs_errf(err, EINVAL, RES_PREFIX ".%s: expected an object", key);
	*out = v;
	return 0;
}

/* "0-3,5,7-8": the list syntax of cpuset.cpus and cpuset.mems. */
static int res_valid_cpu_list(const char *s)
{
	int need_digit = 1, in_range = 0;
	if (!*s)
		return 1;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9') {
			need_digit = 0;
		} else if (*s == '-' && !need_digit && !in_range) {
			need_digit = 1;
			in_range = 1;
		} else if (*s == ',' && !need_digit) {
			need_digit = 1;
			in_range = 0;
		} else {
			return 0;
		}
	}
	return !need_digit;
}

static int res_get_cpu_list(struct json_object *obj, const char *key, char *out, size_t size,
			    struct vs_err *err)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return vs_errf(err, EINVAL, RES_PREFIX ".cpu.%s: expected a string", key);
	const char *s = json_object_get_string(v);
	if (strlen(s) >= size)
		return vs_errf(err, ERANGE, RES_PREFIX ".cpu.%s: list is too long", key);
	if (!res_valid_cpu_list(s))
		return vs_errf(err, EINVAL, RES_PREFIX ".cpu.%s: '%s' is not a list like \"0-3,5\"",
			       key, s);
	strcpy(out, s);
	return 0;
}

static int res_parse_memory(struct json_object *m, struct ct_resources *res, struct vs_err *err)
{
	int r;
	if ((r = res_get_int(m, "memory", "limit", -1, INT64_MAX, &res->memory_limit, err)) < 0 ||
	    (r = res_get_int(m, "memory", "reservation", -1, INT64_MAX, &res->memory_reservation,
			     err)) < 0 ||
	    (r = res_get_int(m, "memory", "swap", -1, INT64_MAX, &res->memory_swap, err)) < 0 ||
	    (r = res_get_int(m, "memory", "swappiness", 0, 100, &res->memory_swappiness, err)) <
		0 ||
	    (r = res_get_int(m, "memory", "kernel", -1, INT64_MAX, &res->memory_kernel, err)) < 0 ||
	    (r = res_get_int(m, "memory", "kernelTCP", -1, INT64_MAX, &res->memory_kernel_tcp,
			     err)) < 0)
		return r;
	/* limit 0 means "not set" for runc and podman; the kernel would refuse it anyway */
	if (res->memory_limit == 0)
		res->memory_limit = CT_RES_UNSET;
	if (res->memory_swap == 0)
		res->memory_swap = CT_RES_UNSET;
	if (res->memory_reservation == 0)
		res->memory_reservation = CT_RES_UNSET;
	if (res->memory_limit > 0 && res->memory_swap > 0 && res->memory_swap < res->memory_limit)
		return vs_errf(err, EINVAL,
			       RES_PREFIX ".memory.swap: %" PRId64 " is below memory.limit %" PRId64
					  " (swap counts memory plus swap)",
			       res->memory_swap, res->memory_limit);
	static const char *const bools[] = { "disableOOMKiller", "useHierarchy",
					     "checkBeforeUpdate" };
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		struct json_object *v = NULL;
		if (!json_object_object_get_ex(m, bools[i], &v) || !v)
			continue;
		if (!json_object_is_type(v, json_type_boolean))
			return vs_errf(err, EINVAL, RES_PREFIX ".memory.%s: expected a boolean",
				       bools[i]);
		bool b = json_object_get_boolean(v);
		if (i == 0)
			res->memory_disable_oom_killer = b;
		else if (i == 1)
			res->memory_use_hierarchy = b;
		else
			res->memory_check_before_update = b;
	}
	return 0;
}

static int res_parse_cpu(struct json_object *c, struct ct_resources *res, struct vs_err *err)
{
	int r;
	if ((r = res_get_int(c, "cpu", "shares", 0, 262144, &res->cpu_shares, err)) < 0 ||
	    (r = res_get_int(c, "cpu", "quota", -1, INT64_MAX, &res->cpu_quota, err)) < 0 ||
	    (r = res_get_int(c, "cpu", "period", 0, 1000000, &res->cpu_period, err)) < 0 ||
	    (r = res_get_int(c, "cpu", "realtimeRuntime", -1, INT64_MAX, &res->cpu_realtime_runtime,
			     err)) < 0 ||
	    (r = res_get_int(c, "cpu", "realtimePeriod", 0, INT64_MAX, &res->cpu_realtime_period,
			     err)) < 0 ||
	    (r = res_get_int(c, "cpu", "idle", -1, 1, &res->cpu_idle, err)) < 0)
		return r;
	if (res->cpu_shares == 0)
		res->cpu_shares = CT_RES_UNSET; /* 0 = unset (runc, podman) */
	if (res->cpu_shares != CT_RES_UNSET && res->cpu_shares < 2)
		return vs_errf(err, ERANGE,
			       RES_PREFIX ".cpu.shares: %" PRId64 " is below the minimum 2",
			       res->cpu_shares);
	if (res->cpu_period == 0)
		res->cpu_period = CT_RES_UNSET;
	if (res->cpu_period != CT_RES_UNSET && res->cpu_period < 1000)
		return vs_errf(err, ERANGE,
			       RES_PREFIX ".cpu.period: %" PRId64
					  " is out of range [1000, 1000000] microseconds",
			       res->cpu_period);
	if (res->cpu_quota == 0)
		res->cpu_quota = CT_RES_UNSET;
	if (res->cpu_quota > 0 && res->cpu_quota < 1000)
		return vs_errf(err, ERANGE,
			       RES_PREFIX ".cpu.quota: %" PRId64
					  " is below the minimum 1000 microseconds",
			       res->cpu_quota);
	if ((r = res_get_cpu_list(c, "cpus", res->cpu_cpus, sizeof(res->cpu_cpus), err)) < 0 ||
	    (r = res_get_cpu_list(c, "mems", res->cpu_mems, sizeof(res->cpu_mems), err)) < 0)
		return r;
	return 0;
}

static int res_parse_hugetlb(struct json_object *arr, struct ct_resources *res, struct vs_err *err)
{
	if (!json_object_is_type(arr, json_type_array))
		return vs_errf(err, EINVAL, RES_PREFIX ".hugepageLimits: expected an array");
	size_t n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if (n > 64)
		return vs_errf(err, E2BIG, RES_PREFIX ".hugepageLimits: too many entries (%zu)", n);
	res->hugetlb = calloc(n, sizeof(*res->hugetlb));
	if (!res->hugetlb)
		return vs_errf(err, ENOMEM, RES_PREFIX ".hugepageLimits: out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *ps = NULL, *lim = NULL;
		if (!json_object_is_type(e, json_type_object))
			return vs_errf(err, EINVAL,
				       RES_PREFIX ".hugepageLimits[%zu]: expected an object", i);
		if (!json_object_object_get_ex(e, "pageSize", &ps) ||
		    !json_object_is_type(ps, json_type_string))
			return vs_errf(
			    err, EINVAL,
			    RES_PREFIX ".hugepageLimits[%zu].pageSize: expected a string", i);
		const char *s = json_object_get_string(ps);
		size_t len = strlen(s), digits = strspn(s, "0123456789");
		/* "<n>KB", "<n>MB", "<n>GB": the form of hugetlb.<size>.* file names */
		if (len >= sizeof(res->hugetlb[i].page_size) || digits == 0 || digits + 2 != len ||
		    !strchr("KMG", s[digits]) || s[digits + 1] != 'B')
			return vs_errf(err, EINVAL,
				       RES_PREFIX
				       ".hugepageLimits[%zu].pageSize: '%s' is not a size "
				       "like \"2MB\" or \"1GB\"",
				       i, s);
		if (!json_object_object_get_ex(e, "limit", &lim) ||
		    !json_object_is_type(lim, json_type_int) || json_object_get_int64(lim) < 0)
			return vs_errf(
			    err, EINVAL,
			    RES_PREFIX
			    ".hugepageLimits[%zu].limit: expected a non-negative integer",
			    i);
		strcpy(res->hugetlb[i].page_size, s);
		res->hugetlb[i].limit = json_object_get_uint64(lim);
		res->nhugetlb++;
	}
	return 0;
}

static int res_parse_device(struct json_object *e, size_t i, struct ct_device_rule *d,
			    struct vs_err *err)
{
	struct json_object *v = NULL;
	if (!json_object_is_type(e, json_type_object))
		return vs_errf(err, EINVAL, RES_PREFIX ".devices[%zu]: expected an object", i);
	if (!json_object_object_get_ex(e, "allow", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return vs_errf(err, EINVAL,
			       RES_PREFIX ".devices[%zu].allow: required boolean is missing", i);
	d->allow = json_object_get_boolean(v);
	d->type = 'a';
	if (json_object_object_get_ex(e, "type", &v) && v) {
		const char *t =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (strlen(t) != 1 || !strchr("abc", t[0]))
			return vs_errf(
			    err, EINVAL,
			    RES_PREFIX ".devices[%zu].type: expected \"a\", \"b\" or \"c\"", i);
		d->type = t[0];
	}
	static const char *const nums[2] = { "major", "minor" };
	int64_t *outs[2] = { &d->major, &d->minor };
	for (int k = 0; k < 2; k++) {
		*outs[k] = -1;
		if (json_object_object_get_ex(e, nums[k], &v) && v) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) < -1 || json_object_get_int64(v) > 0xfffff)
				return vs_errf(err, EINVAL,
					       RES_PREFIX ".devices[%zu].%s: expected a device "
							  "number (or -1 for any)",
					       i, nums[k]);
			*outs[k] = json_object_get_int64(v);
		}
	}
	strcpy(d->access, "rwm");
	if (json_object_object_get_ex(e, "access", &v) && v) {
		const char *a =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		int seen[3] = { 0, 0, 0 };
		size_t n = 0;
		for (const char *p = a; p && *p; p++) {
			const char *pos = strchr("rwm", *p);
			if (!pos || seen[pos - "rwm"]++)
				goto bad_access;
			d->access[n++] = *p;
		}
		if (!a || n == 0)
			goto bad_access;
		d->access[n] = '\0';
	}
	return 0;
bad_access:
	return vs_errf(err, EINVAL,
		       RES_PREFIX ".devices[%zu].access: expected a non-empty subset of \"rwm\"",
		       i);
}

static int res_parse_devices(struct json_object *arr, struct ct_resources *res, struct vs_err *err)
{
	if (!json_object_is_type(arr, json_type_array))
		return vs_errf(err, EINVAL, RES_PREFIX ".devices: expected an array");
	size_t n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if (n > 4096)
		return vs_errf(err, E2BIG, RES_PREFIX ".devices: too many rules (%zu)", n);
	res->devices = calloc(n, sizeof(*res->devices));
	if (!res->devices)
		return vs_errf(err, ENOMEM, RES_PREFIX ".devices: out of memory");
	for (size_t i = 0; i < n; i++) {
		int r =
		    res_parse_device(json_object_array_get_idx(arr, i), i, &res->devices[i], err);
		if (r < 0)
			return r;
		res->ndevices++;
	}
	return 0;
}

/* A cgroup v2 interface file name: "memory.high", never a path. */
static int res_valid_unified_key(const char *k)
{
	if (!*k || k[0] == '.' || !strchr(k, '.') || strstr(k, ".."))
		return 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_'))
			return 0;
	return 1;
}

static int res_parse_unified(struct json_object *obj, struct ct_resources *res, struct vs_err *err)
{
	int n = json_object_object_length(obj);
	if (n == 0)
		return 0;
	if (n > 256)
		return vs_errf(err, E2BIG, RES_PREFIX ".unified: too many keys (%d)", n);
	res->unified_keys = calloc((size_t)n, sizeof(*res->unified_keys));
	res->unified_values = calloc((size_t)n, sizeof(*res->unified_values));
	if (!res->unified_keys || !res->unified_values)
		return vs_errf(err, ENOMEM, RES_PREFIX ".unified: out of memory");
	json_object_object_foreach(obj, key, val)
	{
		if (strlen(key) >= sizeof(res->unified_keys[0]) || !res_valid_unified_key(key))
			return vs_errf(err, EINVAL,
				       RES_PREFIX ".unified: '%s' is not a cgroup v2 file name",
				       key);
		if (!json_object_is_type(val, json_type_string))
			return vs_errf(err, EINVAL, RES_PREFIX ".unified.%s: expected a string",
				       key);
		const char *s = json_object_get_string(val);
		if (strlen(s) >= sizeof(res->unified_values[0]))
			return vs_errf(err, ERANGE, RES_PREFIX ".unified.%s: value is too long",
				       key);
		strcpy(res->unified_keys[res->nunified], key);
		strcpy(res->unified_values[res->nunified], s);
		res->nunified++;
	}
	return 0;
}

/* blkio weights: [10, 1000], 0 = unset (runc, podman) */
static int res_check_weight(int64_t *w, const char *what, struct vs_err *err)
{
	if (*w == 0)
		*w = CT_RES_UNSET;
	if (*w != CT_RES_UNSET && *w < 10)
		return vs_errf(err, ERANGE,
			       RES_PREFIX ".blockIO.%s: %" PRId64 " is out of range [10, 1000]",
			       what, *w);
	return 0;
}

/* blockIO.weightDevice[] or a throttle*Device[] array */
static int res_parse_blkio_devices(struct json_object *blkio, const char *key, bool throttle,
				   struct ct_blkio_device **out, unsigned *count,
				   struct vs_err *err)
{
	struct json_object *arr = NULL;
	if (!json_object_object_get_ex(blkio, key, &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return vs_errf(err, EINVAL, RES_PREFIX ".blockIO.%s: expected an array", key);
	size_t n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if (n > 256)
		return vs_errf(err, E2BIG, RES_PREFIX ".blockIO.%s: too many entries (%zu)", key,
			       n);
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return vs_errf(err, ENOMEM, RES_PREFIX ".blockIO.%s: out of memory", key);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct ct_blkio_device *d = &(*out)[i];
		char what[64];
		snprintf(what, sizeof(what), "blockIO.%s[%zu]", key, i);
		if (!json_object_is_type(e, json_type_object))
			return vs_errf(err, EINVAL, RES_PREFIX ".%s: expected an object", what);
		d->major = d->minor = -1;
		d->weight = d->leaf_weight = CT_RES_UNSET;
		int r;
		if ((r = res_get_int(e, what, "major", 0, 0xfffff, &d->major, err)) < 0 ||
		    (r = res_get_int(e, what, "minor", 0, 0xfffff, &d->minor, err)) < 0)
			return r;
		if (d->major < 0 || d->minor < 0)
			return vs_errf(err, EINVAL, RES_PREFIX ".%s: major and minor are required",
				       what);
		if (throttle) {
			int64_t rate = -1;
			if ((r = res_get_int(e, what, "rate", 0, INT64_MAX, &rate, err)) < 0)
				return r;
			if (rate < 0)
				return vs_errf(err, EINVAL, RES_PREFIX ".%s.rate: required", what);
			d->rate = (uint64_t)rate;
		} else {
			if ((r = res_get_int(e, what, "weight", 0, 1000, &d->weight, err)) < 0 ||
			    (r = res_get_int(e, what, "leafWeight", 0, 1000, &d->leaf_weight,
					     err)) < 0 ||
			    (r = res_check_weight(&d->weight, "weightDevice.weight", err)) < 0 ||
			    (r = res_check_weight(&d->leaf_weight, "weightDevice.leafWeight",
						  err)) < 0)
				return r;
		}
		(*count)++;
	}
	return 0;
}

static int res_parse_blkio(struct json_object *b, struct ct_resources *res, struct vs_err *err)
{
	static const char *const throttle_keys[CT_THROTTLE_COUNT] = {
		[CT_THROTTLE_READ_BPS] = "throttleReadBpsDevice",
		[CT_THROTTLE_WRITE_BPS] = "throttleWriteBpsDevice",
		[CT_THROTTLE_READ_IOPS] = "throttleReadIOPSDevice",
		[CT_THROTTLE_WRITE_IOPS] = "throttleWriteIOPSDevice",
	};
	int r;
	if ((r = res_get_int(b, "blockIO", "weight", 0, 1000, &res->blkio_weight, err)) < 0 ||
	    (r = res_get_int(b, "blockIO", "leafWeight", 0, 1000, &res->blkio_leaf_weight, err)) <
		0 ||
	    (r = res_check_weight(&res->blkio_weight, "weight", err)) < 0 ||
	    (r = res_check_weight(&res->blkio_leaf_weight, "leafWeight", err)) < 0 ||
	    (r = res_parse_blkio_devices(b, "weightDevice", false, &res->blkio_weight_devices,
					 &res->nblkio_weight_devices, err)) < 0)
		return r;
	for (int t = 0; t < CT_THROTTLE_COUNT; t++)
		if ((r = res_parse_blkio_devices(b, throttle_keys[t], true, &res->blkio_throttle[t],
						 &res->nblkio_throttle[t], err)) < 0)
			return r;
	return 0;
}

static int res_parse_network(struct json_object *n, struct ct_resources *res, struct vs_err *err)
{
	int r = res_get_int(n, "network", "classID", 0, UINT32_MAX, &res->net_class_id, err);
	if (r < 0)
		return r;
	struct json_object *arr = NULL;
	if (!json_object_object_get_ex(n, "priorities", &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return vs_errf(err, EINVAL, RES_PREFIX ".network.priorities: expected an array");
	size_t cnt = json_object_array_length(arr);
	if (cnt == 0)
		return 0;
	if (cnt > 256)
		return vs_errf(err, E2BIG, RES_PREFIX ".network.priorities: too many entries");
	res->net_priorities = calloc(cnt, sizeof(*res->net_priorities));
	if (!res->net_priorities)
		return vs_errf(err, ENOMEM, RES_PREFIX ".network.priorities: out of memory");
	for (size_t i = 0; i < cnt; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *name = NULL;
		char what[48];
		snprintf(what, sizeof(what), "network.priorities[%zu]", i);
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "name", &name) ||
		    !json_object_is_type(name, json_type_string))
			return vs_errf(err, EINVAL, RES_PREFIX ".%s: expected {name, priority}",
				       what);
		const char *s = json_object_get_string(name);
		if (!*s || strlen(s) >= 16 || strpbrk(s, " /\n"))
			return vs_errf(err, EINVAL,
				       RES_PREFIX ".%s.name: '%s' is not an interface name", what,
				       s);
		int64_t prio = -1;
		if ((r = res_get_int(e, what, "priority", 0, UINT32_MAX, &prio, err)) < 0)
			return r;
		if (prio < 0)
			return vs_errf(err, EINVAL, RES_PREFIX ".%s.priority: required", what);
		strcpy(res->net_priorities[i].name, s);
		res->net_priorities[i].priority = (uint32_t)prio;
		res->nnet_priorities++;
	}
	return 0;
}

static int res_parse_rdma(struct json_object *obj, struct ct_resources *res, struct vs_err *err)
{
	int n = json_object_object_length(obj);
	if (n == 0)
		return 0;
	if (n > 64)
		return vs_errf(err, E2BIG, RES_PREFIX ".rdma: too many devices (%d)", n);
	res->rdma = calloc((size_t)n, sizeof(*res->rdma));
	if (!res->rdma)
		return vs_errf(err, ENOMEM, RES_PREFIX ".rdma: out of memory");
	json_object_object_foreach(obj, key, val)
	{
		struct ct_rdma_limit *l = &res->rdma[res->nrdma];
		char what[96];
		snprintf(what, sizeof(what), "rdma.%.64s", key);
		if (!*key || strlen(key) >= sizeof(l->device) || strpbrk(key, " /\n"))
			return vs_errf(err, EINVAL, RES_PREFIX ".rdma: '%s' is not a device name",
				       key);
		if (!json_object_is_type(val, json_type_object))
			return vs_errf(err, EINVAL, RES_PREFIX ".%s: expected an object", what);
		l->hca_handles = l->hca_objects = CT_RES_UNSET;
		int r;
		if ((r = res_get_int(val, what, "hcaHandles", 0, UINT32_MAX, &l->hca_handles,
				     err)) < 0 ||
		    (r = res_get_int(val, what, "hcaObjects", 0, UINT32_MAX, &l->hca_objects,
				     err)) < 0)
			return r;
		strcpy(l->device, key);
		res->nrdma++;
	}
	return 0;
}

static int res_parse_sections(struct json_object *obj, struct ct_resources *res, struct vs_err *err)
{
	struct json_object *sec = NULL;
	int r;
	if ((r = res_get_object(obj, "memory", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_memory(sec, res, err)) < 0)
		return r;
	if ((r = res_get_object(obj, "cpu", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_cpu(sec, res, err)) < 0)
		return r;
	if ((r = res_get_object(obj, "pids", &sec, err)) < 0)
		return r;
	if (sec) {
		if (!json_object_object_get_ex(sec, "limit", NULL))
			return vs_errf(err, EINVAL,
				       RES_PREFIX ".pids.limit: required member missing");
		if ((r = res_get_int(sec, "pids", "limit", INT64_MIN + 1, INT64_MAX,
				     &res->pids_limit, err)) < 0)
			return r;
	}
	if ((r = res_get_object(obj, "blockIO", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_blkio(sec, res, err)) < 0)
		return r;
	if ((r = res_get_object(obj, "network", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_network(sec, res, err)) < 0)
		return r;
	if ((r = res_get_object(obj, "rdma", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_rdma(sec, res, err)) < 0)
		return r;
	struct json_object *arr = NULL;
	if (json_object_object_get_ex(obj, "hugepageLimits", &arr) && arr &&
	    (r = res_parse_hugetlb(arr, res, err)) < 0)
		return r;
	if (json_object_object_get_ex(obj, "devices", &arr) && arr &&
	    (r = res_parse_devices(arr, res, err)) < 0)
		return r;
	if ((r = res_get_object(obj, "unified", &sec, err)) < 0)
		return r;
	if (sec && (r = res_parse_unified(sec, res, err)) < 0)
		return r;
	return 0;
}

int ct_resources_parse(struct json_object *obj, struct ct_resources *res, struct vs_err *err)
{
	ct_resources_init(res);
	if (!obj)
		return 0;
	if (!json_object_is_type(obj, json_type_object))
		return vs_errf(err, EINVAL, RES_PREFIX ": expected an object");
	int r = res_parse_sections(obj, res, err);
	if (r < 0) {
		ct_resources_free(res);
		ct_resources_init(res);
	}
	return r;
}
