/*
 * log.h - the one logging facility.
 *
 * Library code logs through vs_log(); nothing is printed unless the program
 * installed a handler (vs_log_set_handler).  vs_log_stderr_handler is the
 * ready-made handler most programs install.
 */
#ifndef VESSEL_CORE_LOG_H
#define VESSEL_CORE_LOG_H

enum vs_log_level {
	VS_LOG_ERROR = 0,
	VS_LOG_WARN = 1,
	VS_LOG_INFO = 2,
	VS_LOG_DEBUG = 3,
};

typedef void (*vs_log_handler)(enum vs_log_level level, const char *msg, void *opaque);

void vs_log_set_handler(vs_log_handler handler, void *opaque);
void vs_log_set_level(enum vs_log_level max_level);
int vs_log_enabled(enum vs_log_level level);
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "vessel: level: msg\n" to stderr; opaque may name the program. */
void vs_log_stderr_handler(enum vs_log_level level, const char *msg, void *opaque);

const char *vs_log_level_name(enum vs_log_level level);

#endif
