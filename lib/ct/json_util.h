/*
 * json_util.h - typed accessors over json-c used by every config parser in
 * lib/ct.  Each getter checks the JSON type and fills err with the dotted
 * path of the offending field ("process.user.uid: expected an integer"), so
 * a schema error is always reported precisely.  Absent optional fields leave
 * the output untouched and return 0.
 */
#ifndef VESSEL_CT_JSON_UTIL_H
#define VESSEL_CT_JSON_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"

/* Object member or NULL (also NULL when obj is not an object). */
struct json_object *ctj_get(struct json_object *obj, const char *key);

int ctj_expect_object(struct json_object *obj, const char *what, struct vs_err *err);
int ctj_string(struct json_object *obj, const char *key, const char *what, bool required,
	       const char **out, struct vs_err *err);
int ctj_bool(struct json_object *obj, const char *key, const char *what, bool *out,
	     struct vs_err *err);
int ctj_int64(struct json_object *obj, const char *key, const char *what, int64_t min, int64_t max,
	      bool required, int64_t *out, bool *present, struct vs_err *err);
int ctj_uint64(struct json_object *obj, const char *key, const char *what, uint64_t *out,
	       bool *present, struct vs_err *err);
/* Array of strings -> NULL-terminated malloc'd vector of borrowed strings. */
int ctj_strv(struct json_object *obj, const char *key, const char *what, const char ***out,
	     unsigned *count, struct vs_err *err);
/* Array member: returns its length in *len (0 when absent); *arr may be NULL. */
int ctj_array(struct json_object *obj, const char *key, const char *what, struct json_object **arr,
	      size_t *len, struct vs_err *err);

#endif
