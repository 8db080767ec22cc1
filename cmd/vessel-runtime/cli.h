/*
 * cli.h - the vessel-runtime command table and what every command gets:
 * the global options (runc-compatible) and a way to report one error.
 */
#ifndef VESSEL_RUNTIME_CLI_H
#define VESSEL_RUNTIME_CLI_H

#include <stdbool.h>

#include "vessel/core/err.h"

struct cli_globals {
	const char *root;
	const char *log_path;
	bool log_json;
	bool debug;
};

struct cli_command {
	const char *name;
	int (*run)(const struct cli_globals *g, int argc, char **argv);
	const char *usage;
};

/* Report err once (stderr, and --log in the chosen format); returns 1. */
int cli_fail(const struct vs_err *err);
/* Report a usage error for a command; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cmd_create(const struct cli_globals *g, int argc, char **argv);
int cmd_run(const struct cli_globals *g, int argc, char **argv);
int cmd_start(const struct cli_globals *g, int argc, char **argv);
int cmd_state(const struct cli_globals *g, int argc, char **argv);
int cmd_kill(const struct cli_globals *g, int argc, char **argv);
int cmd_delete(const struct cli_globals *g, int argc, char **argv);
int cmd_pause(const struct cli_globals *g, int argc, char **argv);
int cmd_resume(const struct cli_globals *g, int argc, char **argv);
int cmd_update(const struct cli_globals *g, int argc, char **argv);
int cmd_ps(const struct cli_globals *g, int argc, char **argv);
int cmd_events(const struct cli_globals *g, int argc, char **argv);
int cmd_checkpoint(const struct cli_globals *g, int argc, char **argv);
int cmd_restore(const struct cli_globals *g, int argc, char **argv);
int cmd_list(const struct cli_globals *g, int argc, char **argv);
int cmd_exec(const struct cli_globals *g, int argc, char **argv);
int cmd_features(const struct cli_globals *g, int argc, char **argv);
int cmd_spec(const struct cli_globals *g, int argc, char **argv);

#endif
