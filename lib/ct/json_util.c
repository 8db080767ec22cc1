/*
 * json_util.c - typed, error-reporting accessors over json-c for the OCI
 * config parsers (see json_util.h).  Every failure names the field.
 */
#include <errno.h>
#include <stdlib.h>

#include "json_util.h"

struct json_object *ctj_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

int ctj_expect_object(struct json_object *obj, const char *what, struct vs_err *err)
{
	if (!obj || !json_object_is_type(obj, json_type_object))
		return vs_errf(err, EINVAL, "%s: expected an object", what);
	return 0;
}

int ctj_string(struct json_object *obj, const char *key, const char *what, bool required,
	       const char **out, struct vs_err *err)
{
	struct json_object *v = ctj_get(obj, key);
	if (!v || json_object_is_type(v, json_type_null)) {
		if (required)
			return vs_errf(err, EINVAL, "%s.%s: required field is missing", what, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return vs_errf(err, EINVAL, "%s.%s: expected a string", what, key);
	*out = json_object_get_string(v);
	return 0;
}

int ctj_bool(struct json_object *obj, const char *key, const char *what, bool *out,
	     struct vs_err *err)
{
	struct json_object *v = ctj_get(obj, key);
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return vs_errf(err, EINVAL, "%s.%s: expected a boolean", what, key);
	*out = json_object_get_boolean(v);
	return 0;
}

int ctj_int64(struct json_object *obj, const char *key, const char *what, int64_t min, int64_t max,
	      bool required, int64_t *out, bool *present, struct vs_err *err)
{
	struct json_object *v = ctj_get(obj, key);
	if (!v || json_object_is_type(v, json_type_null)) {
		if (required)
			return vs_errf(err, EINVAL, "%s.%s: required field is missing", what, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return vs_errf(err, EINVAL, "%s.%s: expected an integer", what, key);
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return vs_errf(err, ERANGE, "%s.%s: integer out of range", what, key);
	if (x < min || x > max)
		return vs_errf(err, ERANGE, "%s.%s: %lld out of range [%lld, %lld]", what, key,
			       (long long)x, (long long)min, (long long)max);
	*out = x;
	if (present)
		*present = true;
	return 0;
}

int ctj_uint64(struct json_object *obj, const char *key, const char *what, uint64_t *out,
	       bool *present, struct vs_err *err)
{
	struct json_object *v = ctj_get(obj, key);
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return vs_errf(err, EINVAL, "%s.%s: expected an integer", what, key);
	if (json_object_get_int64(v) < 0)
		return vs_errf(err, ERANGE, "%s.%s: must not be negative", what, key);
	*out = json_object_get_uint64(v);
	if (present)
		*present = true;
	return 0;
}

int ctj_array(struct json_object *obj, const char *key, const char *what, struct json_object **arr,
	      size_t *len, struct vs_err *err)
{
	struct json_object *v = ctj_get(obj, key);
	*arr = NULL;
	*len = 0;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return vs_errf(err, EINVAL, "%s.%s: expected an array", what, key);
	*arr = v;
	*len = json_object_array_length(v);
	if (*len > 65536)
		return vs_errf(err, E2BIG, "%s.%s: too many elements (%zu)", what, key, *len);
	return 0;
}

int ctj_strv(struct json_object *obj, const char *key, const char *what, const char ***out,
	     unsigned *count, struct vs_err *err)
{
	struct json_object *arr;
	size_t n;
	int r = ctj_array(obj, key, what, &arr, &n, err);
	if (r < 0 || !arr)
		return r;
	const char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return vs_errf(err, ENOMEM, "%s.%s: out of memory", what, key);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (!e || !json_object_is_type(e, json_type_string)) {
			free(v);
			return vs_errf(err, EINVAL, "%s.%s[%zu]: expected a string", what, key, i);
		}
		v[i] = json_object_get_string(e);
	}
	*out = v;
	if (count)
		*count = (unsigned)n;
	return 0;
}
