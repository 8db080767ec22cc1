/*
 * err.c - filling struct vs_err (see include/vessel/core/err.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vessel/core/err.h"

static int err_vset(struct vs_err *err, int errnum, int with_strerror, const char *fmt, va_list ap)
{
	if (errnum < 0)
		errnum = -errnum;
	if (errnum == 0)
		errnum = 5; /* EIO: a failure must never read as success */
	if (!err)
		return -errnum;
	err->code = errnum;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (with_strerror && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
	return -errnum;
}

int vs_errf(struct vs_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, errnum, 0, fmt, ap);
	va_end(ap);
	return r;
}

int vs_syserrf(struct vs_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, errnum, 1, fmt, ap);
	va_end(ap);
	return r;
}

int vs_err_prefix(struct vs_err *err, const char *fmt, ...)
{
	if (!err)
		return -5;
	char prefix[VS_ERR_MSG_MAX];
	char old[VS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t plen = strlen(prefix);
	if (plen > sizeof(err->msg) - 3)
		plen = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, ": ", 2);
	size_t rest = sizeof(err->msg) - plen - 3;
	size_t olen = strnlen(old, rest);
	memcpy(err->msg + plen + 2, old, olen);
	err->msg[plen + 2 + olen] = '\0';
	if (err->code == 0)
		err->code = 5;
	return -err->code;
}

void vs_err_clear(struct vs_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
