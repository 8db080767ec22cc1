/*
 * err.h - the one error convention of vessel.
 *
 * A function that can fail returns int: 0 on success or a negative errno.
 * Its last argument is a `struct vs_err *` (may be NULL) that receives a
 * message with context ("open disk.qcow2: No such file or directory").
 * Pointer-returning functions return NULL and fill err.  Library code never
 * prints and never exits: the program's main reports the message once.
 */
#ifndef VESSEL_CORE_ERR_H
#define VESSEL_CORE_ERR_H

#include <stddef.h>

#define VS_ERR_MSG_MAX 512

struct vs_err {
	int code;		  /* positive errno value, 0 when clear */
	char msg[VS_ERR_MSG_MAX]; /* human message, always NUL-terminated */
};

#define VS_ERR_INIT       \
	{                 \
		0,        \
		{         \
			0 \
		}         \
	}

/* Set err to errnum and a formatted message; returns -errnum (errnum > 0). */
int vs_errf(struct vs_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like vs_errf, then appends ": strerror(errnum)". */
int vs_syserrf(struct vs_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in err; returns -err->code. */
int vs_err_prefix(struct vs_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to the clear state. */
void vs_err_clear(struct vs_err *err);

#endif
