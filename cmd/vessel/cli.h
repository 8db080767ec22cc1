/*
 * cli.h - the vessel CLI: its command table entry, the global options
 * every command gets (the client, the output format) and the output
 * helpers (output.c).
 */
#ifndef VESSEL_CLI_H
#define VESSEL_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "vessel/core/err.h"
#include "vessel/mgr/client.h"

enum cli_format {
	CLI_FORMAT_TABLE,
	CLI_FORMAT_JSON,
	CLI_FORMAT_YAML,
	CLI_FORMAT_CSV,
};

struct cli {
	const char *socket_path;
	const char *remote; /* "https://HOST:PORT" or a remote's name, or NULL */
	const char *cert, *key, *server_cert;
	enum cli_format format;
	struct mgr_client *client;
};

/* One option of a command, for `vessel help COMMAND` and the man pages. */
struct cli_option {
	const char *flags; /* "-c, --config KEY=VALUE" */
	const char *help;
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *usage;
	const char *summary;
	const struct cli_option *options; /* NULL-terminated; may be NULL */
	const char *description;	  /* paragraphs for the man page; may be NULL */
};

/* One API request through the client; body is consumed, *md (when md is
 * not NULL) gets the answer's metadata.  0, or 1 after cli_fail. */
int cli_request(struct cli *cli, const char *method, const char *path, struct json_object *body,
		struct json_object **md);
/* Report err once ("vessel: error: ..."); returns 1. */
int cli_fail(const struct vs_err *err);
/* A usage error of cmd; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The client, connected on first use. */
struct mgr_client *cli_client(struct cli *cli, struct vs_err *err);

/* Output: rows of strings as a table fitted to the terminal or CSV. */
void out_rows(const struct cli *cli, const char *const *headers, size_t ncol, char **cells,
	      size_t nrows);
/* A JSON array of objects as rows: column k is the string field keys[k]. */
void out_objects(const struct cli *cli, struct json_object *arr, const char *const *headers,
		 const char *const *keys, size_t ncol);
/* GET path for a listing.  With --format json or yaml the answer is printed
 * as it is and *md is NULL; otherwise *md is the answer, for the caller's
 * table.  0, or 1 after cli_fail. */
int cli_get_listing(struct cli *cli, const char *path, struct json_object **md);
/* GET path (an array of objects) and print it: --format json or yaml as it
 * is, otherwise as out_objects does.  0, or 1 after cli_fail. */
int cli_list(struct cli *cli, const char *path, const char *const *headers, const char *const *keys,
	     size_t ncol);
/* A JSON value as JSON or YAML (table format prints YAML too). */
void out_value(const struct cli *cli, struct json_object *o);
/* The operation progress bar (stdout a terminal only; see cli_client). */
void cli_progress(void *opaque, struct json_object *metadata);
void cli_progress_end(void);
/* JSON string field, "" when absent. */
const char *jstr(struct json_object *o, const char *key);

int cmd_launch(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);
int cmd_restart(struct cli *cli, int argc, char **argv);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_delete(struct cli *cli, int argc, char **argv);
int cmd_rename(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_image(struct cli *cli, int argc, char **argv);
int cmd_operation(struct cli *cli, int argc, char **argv);
int cmd_monitor(struct cli *cli, int argc, char **argv);
int cmd_network(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_remote(struct cli *cli, int argc, char **argv);
int cmd_storage(struct cli *cli, int argc, char **argv);
int cmd_console(struct cli *cli, int argc, char **argv);
int cmd_file(struct cli *cli, int argc, char **argv);
int cmd_cluster(struct cli *cli, int argc, char **argv);
int cmd_config_trust(struct cli *cli, int argc, char **argv);
int cmd_project(struct cli *cli, int argc, char **argv);
int cmd_sprawl(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
/* cmd_usage.c: vessel top, vessel advise, and the usage part of vessel info */
int cmd_top(struct cli *cli, int argc, char **argv);
int cmd_advise(struct cli *cli, int argc, char **argv);
void cli_print_usage_summary(struct cli *cli, const char *name);
/* cmd_export.c */
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_move(struct cli *cli, int argc, char **argv);
/* The client for cli->remote (cmd_remote.c). */
struct mgr_client *cli_remote_client(struct cli *cli, struct vs_err *err);

#endif
