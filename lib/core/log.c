/*
 * log.c - the process-wide log sink.  Without a handler, nothing is printed.
 */
#include <stdarg.h>
#include <stdio.h>

#include "vessel/core/log.h"

static vs_log_handler log_handler;
static void *log_opaque;
static enum vs_log_level log_max = VS_LOG_INFO;

void vs_log_set_handler(vs_log_handler handler, void *opaque)
{
	log_handler = handler;
	log_opaque = opaque;
}

void vs_log_set_level(enum vs_log_level max_level)
{
	log_max = max_level;
}

int vs_log_enabled(enum vs_log_level level)
{
	return log_handler && level <= log_max;
}

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
	if (!vs_log_enabled(level))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_handler(level, msg, log_opaque);
}

const char *vs_log_level_name(enum vs_log_level level)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if ((unsigned)level < sizeof(names) / sizeof(names[0]))
		return names[level];
	return "log";
}

void vs_log_stderr_handler(enum vs_log_level level, const char *msg, void *opaque)
{
	const char *prog = opaque ? (const char *)opaque : "vessel";
	fprintf(stderr, "%s: %s: %s\n", prog, vs_log_level_name(level), msg);
}
