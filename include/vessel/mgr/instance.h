/*
 * instance.h - the one object model of an instance, shared by the daemon,
 * the API and the CLI: a name, a type (container or vm), the image it was
 * made from, its config (limits.cpu, limits.memory, user.* labels), the
 * power state vesseld last put it in, and created/last-used times.
 *
 * The database row is the truth about what exists; the driver (driver.h)
 * is the truth about what runs.  Config keys are declared in one const
 * table (instance.c) that says how each is checked and whether it can
 * change while the instance runs.
 */
#ifndef VESSEL_MGR_INSTANCE_H
#define VESSEL_MGR_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/mgr/db.h"

#define MGR_NAME_MAX 63

enum mgr_instance_type {
	MGR_INSTANCE_CONTAINER,
	MGR_INSTANCE_VM,
};

/* The power state: recorded (what vesseld last did) or live (driver). */
enum mgr_power {
	MGR_POWER_STOPPED,
	MGR_POWER_RUNNING,
	MGR_POWER_FROZEN,
};

struct mgr_config_entry {
	char *key;
	char *value;
};

struct mgr_instance {
	int64_t id;
	char name[MGR_NAME_MAX + 1];
	enum mgr_instance_type type;
	int64_t image_id; /* 0: none */
	char image_fingerprint[72];
	char runtime_id[40]; /* host-side name (runtime ID, cgroup), fixed at creation */
	enum mgr_power power;
	char created_at[32];
	char last_used_at[32];
	struct mgr_config_entry *config;
	size_t nconfig;
};

const char *mgr_instance_type_name(enum mgr_instance_type t);
int mgr_instance_type_parse(const char *s, enum mgr_instance_type *t, struct vs_err *err);
/* "Stopped", "Running", "Frozen" (Incus's status strings). */
const char *mgr_power_status(enum mgr_power p);
const char *mgr_power_db_name(enum mgr_power p);

/* Names: 1..63 of [A-Za-z0-9-], starting with a letter, not ending in '-'
 * (a hostname label, as Incus requires). */
int mgr_name_validate(const char *name, struct vs_err *err);

/* Check one config key and value for an instance type. */
int mgr_config_validate(enum mgr_instance_type t, const char *key, const char *value,
			struct vs_err *err);
/* Whether the key takes effect while the instance runs. */
bool mgr_config_key_live(const char *key);

const char *mgr_instance_config_get(const struct mgr_instance *inst, const char *key);
/* Set (value != NULL) or remove a key in the in-memory config. */
int mgr_instance_config_set(struct mgr_instance *inst, const char *key, const char *value,
			    struct vs_err *err);
void mgr_instance_free(struct mgr_instance *inst);
void mgr_instance_list_free(struct mgr_instance *list, size_t n);

/* Database rows (instance_db.c); each takes the database lock itself. */
int mgr_instance_db_insert(struct mgr_db *db, struct mgr_instance *inst, struct vs_err *err);
/* ENOENT "instance NAME not found". */
int mgr_instance_db_get(struct mgr_db *db, const char *name, struct mgr_instance *inst,
			struct vs_err *err);
int mgr_instance_db_list(struct mgr_db *db, struct mgr_instance **list, size_t *n,
			 struct vs_err *err);
int mgr_instance_db_set_power(struct mgr_db *db, int64_t id, enum mgr_power p, bool used,
			      struct vs_err *err);
/* Replace the whole config of an instance in one transaction. */
int mgr_instance_db_set_config(struct mgr_db *db, const struct mgr_instance *inst,
			       struct vs_err *err);
int mgr_instance_db_rename(struct mgr_db *db, int64_t id, const char *name, struct vs_err *err);
int mgr_instance_db_delete(struct mgr_db *db, int64_t id, struct vs_err *err);

/* RFC 3339 UTC timestamp of now into buf (>= 21 bytes). */
void mgr_timestamp(char *buf, size_t len);

#endif
