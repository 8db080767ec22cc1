/*
 * test_policy.c - unit tests of the lifecycle pieces (policy.h) that need
 * no container: durations, times and expiry specs; policy keys (checked
 * as a whole, defaults, labels required at creation, the maximum
 * lifetime); expiry changes on an instance row; the audit summary's
 * redaction and bounds; the audit chain catching an edited, a deleted and
 * a truncated record.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/policy.h"

static char dir[64];
static struct mgr *m;

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vessel-policy-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct mgr_opts o = { .state_dir = dir, .runtime_path = "/bin/false" };
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_open(&o, &m, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	mgr_close(m);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_durations_and_times(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	int64_t d;
	static const struct {
		const char *s;
		int64_t want;
	} good[] = { { "90s", 90 },	{ "30m", 1800 }, { "12h", 43200 }, { "7d", 604800 },
		     { "2w", 1209600 }, { "45", 45 },	 { "0", 0 } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(mgr_duration_parse(good[i].s, &d, &err), 0);
		assert_int_equal(d, good[i].want);
	}
	const char *bad[] = { "", "d", "7x", "-1", "7dd", "1.5d", "99999999999w", " 7d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(mgr_duration_parse(bad[i], &d, &err) < 0);

	time_t t;
	char buf[32];
	assert_int_equal(mgr_time_parse("2026-12-31T00:00:00Z", &t, &err), 0);
	mgr_time_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-31T00:00:00Z");
	const char *badt[] = { "2026-12-31", "2026-12-31T00:00:00", "2026-13-01T00:00:00Z",
			       "2026-12-31T00:00:00+02:00", "tomorrow" };
	for (size_t i = 0; i < sizeof(badt) / sizeof(badt[0]); i++)
		assert_true(mgr_time_parse(badt[i], &t, &err) < 0);

	time_t now = 1800000000;
	assert_int_equal(mgr_expiry_parse("7d", now, &t, &err), 0);
	assert_int_equal(t, now + 7 * 86400);
	assert_int_equal(mgr_expiry_parse("never", now, &t, &err), 0);
	assert_int_equal(t, 0);
	assert_int_equal(mgr_expiry_parse("2099-01-01T00:00:00Z", now, &t, &err), 0);
	assert_int_equal(mgr_expiry_parse("2001-01-01T00:00:00Z", now, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "has passed"));
	assert_int_equal(mgr_expiry_parse("0s", now, &t, &err), -EINVAL);
	assert_int_equal(mgr_expiry_parse("", now, &t, &err), -EINVAL);
	assert_int_equal(mgr_expiry_parse("soon", now, &t, &err), -EINVAL);
}

static void test_policies(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_policy p;
	assert_int_equal(mgr_policy_load(m, "default", &p, &err), 0);
	assert_int_equal(p.expiry_action, MGR_EXPIRY_STOP);
	assert_int_equal(p.expiry_warn_s, 86400);
	assert_int_equal(p.lifetime_max_s, 0);
	assert_string_equal(p.prune_allow, "");

	struct mgr_config_entry good[] = { { "expiry.action", "delete" },
					   { "lifetime.max", "30d" },
					   { "labels.required", "owner,purpose" },
					   { "prune.allow", "expired,image" } };
	assert_int_equal(mgr_policy_put(m, "team-a", good, 4, &err), 0);
	assert_int_equal(mgr_policy_load(m, "team-a", &p, &err), 0);
	assert_int_equal(p.expiry_action, MGR_EXPIRY_DELETE);
	assert_int_equal(p.lifetime_max_s, 30 * 86400);
	/* a bad key or value changes nothing, the good ones with it */
	struct mgr_config_entry bad[] = { { "expiry.action", "stop" }, { "prune.allow", "all" } };
	assert_int_equal(mgr_policy_put(m, "team-a", bad, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "prune.allow"));
	struct mgr_config_entry unknown[] = { { "expiry.when", "1d" } };
	assert_int_equal(mgr_policy_put(m, "team-a", unknown, 1, &err), -EINVAL);
	assert_int_equal(mgr_policy_put(m, "bad_name", good, 1, &err), -EINVAL);
	assert_int_equal(mgr_policy_load(m, "team-a", &p, &err), 0);
	assert_int_equal(p.expiry_action, MGR_EXPIRY_DELETE);

	/* creation: labels (all missing ones named), lifetime */
	struct mgr_config_entry cfg[] = { { "user.project", "team-a" }, { "user.owner", "ann" } };
	struct mgr_create_req req = { .name = "x", .config = cfg, .nconfig = 2 };
	time_t exp;
	assert_int_equal(mgr_policy_check_create(m, &req, &exp, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing user.purpose"));
	assert_null(strstr(err.msg, "user.owner"));
	struct mgr_config_entry cfg2[] = { { "user.project", "team-a" },
					   { "user.owner", "ann" },
					   { "user.purpose", "ci" } };
	req.config = cfg2;
	req.nconfig = 3;
	time_t now = time(NULL);
	assert_int_equal(mgr_policy_check_create(m, &req, &exp, &err), 0);
	assert_true(exp >= now + 30 * 86400 && exp <= now + 30 * 86400 + 5);
	req.expires = "31d";
	assert_int_equal(mgr_policy_check_create(m, &req, &exp, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "maximum lifetime"));
	req.expires = "never";
	assert_int_equal(mgr_policy_check_create(m, &req, &exp, &err), -EINVAL);
	req.expires = "1d";
	assert_int_equal(mgr_policy_check_create(m, &req, &exp, &err), 0);
	/* another project: none of that */
	struct mgr_config_entry cfg3[] = { { "user.project", "team-b" } };
	struct mgr_create_req req3 = { .name = "y", .config = cfg3, .nconfig = 1 };
	assert_int_equal(mgr_policy_check_create(m, &req3, &exp, &err), 0);
	assert_int_equal(exp, 0);
}

static void test_expiry_change(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_instance inst = { 0 };
	snprintf(inst.name, sizeof(inst.name), "e1");
	snprintf(inst.runtime_id, sizeof(inst.runtime_id), "vessel-00000000000000e1");
	mgr_timestamp(inst.created_at, sizeof(inst.created_at));
	assert_int_equal(mgr_instance_db_insert(mgr_get_db(m), &inst, &err), 0);
	char buf[32];
	mgr_expiry_get(m, inst.id, buf, sizeof(buf));
	assert_string_equal(buf, "");
	time_t before = time(NULL);
	assert_int_equal(mgr_expiry_change(m, "e1", "1h", &err), 0);
	mgr_expiry_get(m, inst.id, buf, sizeof(buf));
	time_t t;
	assert_int_equal(mgr_time_parse(buf, &t, &err), 0);
	assert_true(t >= before + 3600 && t <= time(NULL) + 3600);
	assert_int_equal(mgr_expiry_change(m, "e1", "yesterday", &err), -EINVAL);
	mgr_expiry_get(m, inst.id, buf, sizeof(buf));
	assert_string_not_equal(buf, "");
	assert_int_equal(mgr_expiry_change(m, "nope", "1h", &err), -ENOENT);
	/* an action in progress: no change until it is done */
	struct mgr_db *db = mgr_get_db(m);
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "UPDATE instance_expiry SET state = 'acting'", &err), 0);
	mgr_db_unlock(db);
	assert_int_equal(mgr_expiry_change(m, "e1", "2h", &err), -EBUSY);
	assert_int_equal(mgr_expiry_change(m, "e1", "never", &err), -EBUSY);
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "UPDATE instance_expiry SET state = 'done'", &err), 0);
	mgr_db_unlock(db);
	assert_int_equal(mgr_expiry_change(m, "e1", "2h", &err), 0); /* re-armed */
	assert_int_equal(mgr_expiry_change(m, "e1", "never", &err), 0);
	mgr_expiry_get(m, inst.id, buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* under a maximum lifetime: within it from creation, never refused */
	struct mgr_config_entry lt[] = { { "lifetime.max", "1d" } };
	assert_int_equal(mgr_policy_put(m, "default", lt, 1, &err), 0);
	assert_int_equal(mgr_expiry_change(m, "e1", "2d", &err), -EINVAL);
	assert_int_equal(mgr_expiry_change(m, "e1", "never", &err), -EINVAL);
	assert_int_equal(mgr_expiry_change(m, "e1", "20h", &err), 0);
}

static void test_audit_summary(void **state)
{
	char buf[MGR_AUDIT_SUMMARY_MAX + 1];
	struct json_object *b = json_tokener_parse(
	    "{\"name\":\"c1\",\"certificate\":\"-----BEGIN CERTIFICATE-----\","
	    "\"nested\":{\"Password\":\"hunter2\",\"ok\":1},\"environment\":{\"TOKEN\":\"x\"}}");
	assert_non_null(b);
	mgr_audit_summary(b, buf, sizeof(buf));
	assert_null(strstr(buf, "BEGIN"));
	assert_null(strstr(buf, "hunter2"));
	assert_null(strstr(buf, "TOKEN"));
	assert_non_null(strstr(buf, "\"name\":\"c1\""));
	assert_non_null(strstr(buf, "\"ok\":1"));
	json_object_put(b);
	/* long strings cut, the whole bounded */
	char big[4096];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	struct json_object *arr = json_object_new_array();
	for (int i = 0; i < 100; i++)
		json_object_array_add(arr, json_object_new_string(big));
	b = json_object_new_object();
	json_object_object_add(b, "command", arr);
	mgr_audit_summary(b, buf, sizeof(buf));
	assert_true(strlen(buf) <= MGR_AUDIT_SUMMARY_MAX);
	assert_null(
	    strstr(buf, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	json_object_put(b);
	mgr_audit_summary(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static int64_t verify_first_bad(void)
{
	struct json_object *o;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_audit_verify(m, &o, &err), 0);
	struct json_object *v = json_object_object_get(o, "first_bad");
	int64_t bad = v ? json_object_get_int64(v) : 0;
	assert_int_equal(json_object_get_boolean(json_object_object_get(o, "ok")), bad == 0);
	json_object_put(o);
	return bad;
}

static void test_audit_chain(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(verify_first_bad(), 0); /* empty */
	for (int i = 0; i < 5; i++) {
		struct mgr_audit_rec r = { "uid:0", "POST", "/1.0/instances", "c1", "{}", 200 + i };
		assert_int_equal(mgr_audit_append(m, &r, &err), 0);
	}
	assert_int_equal(verify_first_bad(), 0);
	struct mgr_db *db = mgr_get_db(m);
	mgr_db_lock(db);
	/* the daemon's own connection cannot change history */
	assert_true(mgr_db_exec(db, "UPDATE audit_log SET status = 1 WHERE seq = 2", &err) < 0);
	assert_true(mgr_db_exec(db, "DELETE FROM audit_log WHERE seq = 2", &err) < 0);
	/* someone with the file can: caught */
	assert_int_equal(mgr_db_exec(db,
				     "DROP TRIGGER audit_log_no_update; DROP TRIGGER "
				     "audit_log_no_delete; UPDATE audit_log SET who = 'uid:1000' "
				     "WHERE seq = 3",
				     &err),
			 0);
	mgr_db_unlock(db);
	assert_int_equal(verify_first_bad(), 3);
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "UPDATE audit_log SET who = 'uid:0' WHERE seq = 3", &err),
			 0);
	mgr_db_unlock(db);
	assert_int_equal(verify_first_bad(), 0);
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "DELETE FROM audit_log WHERE seq = 5", &err), 0);
	mgr_db_unlock(db);
	assert_int_equal(verify_first_bad(), 5); /* the head file remembers 5 */
	/* a forged record 5, correctly chained, still differs from the head */
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "DELETE FROM audit_log WHERE seq = 4", &err), 0);
	mgr_db_unlock(db);
	struct mgr_audit_rec forged = { "uid:0", "POST", "/1.0/x", "", "{}", 200 };
	char head[256];
	snprintf(head, sizeof(head), "%s/audit-head", dir);
	char saved[256] = "";
	FILE *f = fopen(head, "r");
	assert_non_null(f);
	assert_non_null(fgets(saved, sizeof(saved), f));
	fclose(f);
	assert_int_equal(mgr_audit_append(m, &forged, &err), 0); /* seq 4 */
	assert_int_equal(mgr_audit_append(m, &forged, &err), 0); /* seq 5 */
	f = fopen(head, "w"); /* the forger cannot make the head match without rewriting it */
	assert_non_null(f);
	fputs(saved, f);
	fclose(f);
	assert_int_equal(verify_first_bad(), 5);
	mgr_db_lock(db);
	assert_int_equal(mgr_db_exec(db, "DELETE FROM audit_log WHERE seq = 2", &err), 0);
	mgr_db_unlock(db);
	assert_int_equal(verify_first_bad(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations_and_times),
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_change, setup, teardown),
		cmocka_unit_test(test_audit_summary),
		cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
