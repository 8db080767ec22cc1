/*
 * test_volume_snapshot.c - unit tests of storage-volume snapshots below
 * the API (volume_snapshot.c, file_clone.c), on a manager opened on a temp
 * state directory: mgr_file_clone keeps data and holes and refuses to
 * overwrite; snapshot create (named, automatic snapN), refusals (bad name,
 * duplicate, missing volume or snapshot) that leave nothing behind;
 * restore brings back the bytes and the size; delete; the start-up
 * reconciliation after a simulated crash; a volume's delete takes its
 * snapshots' files and rows.  Needs mkfs.ext4 (e2fsprogs).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/volume.h"

static char dir[64];
static char pool[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vessel-volsnap-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(pool, sizeof(pool), "%s/storage/default", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void put(const char *path, off_t off, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, s, strlen(s), off), (ssize_t)strlen(s));
	assert_int_equal(close(fd), 0);
}

static bool has(const char *path, off_t off, const char *s)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, buf, strlen(s), off);
	close(fd);
	return n == (ssize_t)strlen(s) && memcmp(buf, s, strlen(s)) == 0;
}

/* Whether POOL/rel exists. */
static bool exists(const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", pool, rel);
	return access(p, F_OK) == 0;
}

static void test_file_clone(void **state)
{
	char src[128], dst[128];
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	put(src, 0, "head");
	put(src, 40 << 20, "middle");
	put(src, (64 << 20) - 4, "tail");
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_file_clone(src, dst, &err), 0);
	struct stat s1, s2;
	assert_int_equal(stat(src, &s1), 0);
	assert_int_equal(stat(dst, &s2), 0);
	assert_int_equal(s2.st_size, 64 << 20);
	assert_int_equal(s2.st_mode & 0777, 0600);
	assert_true(has(dst, 0, "head") && has(dst, 40 << 20, "middle") &&
		    has(dst, (64 << 20) - 4, "tail"));
	assert_true(has(dst, 20 << 20, "\0\0\0\0")); /* a hole reads as zeros */
	/* holes stay holes: far less than 64 MiB allocated */
	assert_true((long long)s2.st_blocks * 512 < (8 << 20));
	/* never over an existing file; a missing source fails cleanly */
	assert_int_equal(mgr_file_clone(src, dst, &err), -EEXIST);
	snprintf(src, sizeof(src), "%s/nope", dir);
	snprintf(dst, sizeof(dst), "%s/dst2", dir);
	assert_int_equal(mgr_file_clone(src, dst, &err), -ENOENT);
	assert_int_equal(access(dst, F_OK), -1);
}

static void test_snapshots(void **state)
{
	struct mgr_opts o = { .state_dir = dir, .runtime_path = "/bin/false" };
	struct vs_err err = VS_ERR_INIT;
	struct mgr *m;
	char made[64], vfile[160];
	assert_int_equal(mgr_open(&o, &m, &err), 0);
	snprintf(vfile, sizeof(vfile), "%s/v1.raw", pool);
	assert_int_equal(mgr_volume_create(m, "v1", 16 << 20, NULL, &err), 0);
	/* the snapshots see the file's bytes; ext4 does not matter here */
	put(vfile, 12 << 20, "AAAA");
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", NULL, made, sizeof(made), &err), 0);
	assert_string_equal(made, "snap0");
	put(vfile, 12 << 20, "BBBB");
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", "b", made, sizeof(made), &err), 0);
	assert_string_equal(made, "b");
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", "", made, sizeof(made), &err), 0);
	assert_string_equal(made, "snap1");
	assert_true(exists("v1.snapshots/snap0.raw"));

	/* refusals */
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", "b", made, sizeof(made), &err),
			 -EEXIST);
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", "9x", made, sizeof(made), &err),
			 -EINVAL);
	assert_int_equal(mgr_volume_snapshot_create(m, "v1", "../x", made, sizeof(made), &err),
			 -EINVAL);
	assert_int_equal(mgr_volume_snapshot_create(m, "nope", "a", made, sizeof(made), &err),
			 -ENOENT);
	assert_int_equal(mgr_volume_snapshot_restore(m, "v1", "nope", &err), -ENOENT);
	assert_int_equal(mgr_volume_snapshot_delete(m, "v1", "nope", &err), -ENOENT);
	assert_int_equal(mgr_volume_snapshot_check(m, "v1", "b", MGR_VOLUME_SNAPSHOT_CREATE, &err),
			 -EEXIST);
	assert_int_equal(mgr_volume_snapshot_check(m, "v1", "b", MGR_VOLUME_SNAPSHOT_RESTORE, &err),
			 0);
	assert_int_equal(
	    mgr_volume_snapshot_check(m, "nope", NULL, MGR_VOLUME_SNAPSHOT_CREATE, &err), -ENOENT);
	assert_false(exists("v1.snapshots/.9x.tmp"));

	struct json_object *l;
	assert_int_equal(mgr_volume_snapshot_list(m, "v1", &l, &err), 0);
	assert_int_equal(json_object_array_length(l), 3);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(json_object_array_get_idx(l, 1), "name")),
	    "b");
	json_object_put(l);
	assert_int_equal(mgr_volume_get(m, "v1", &l, &err), 0);
	assert_int_equal(json_object_array_length(json_object_object_get(l, "snapshots")), 3);
	json_object_put(l);

	/* restore: bytes and size come back */
	assert_int_equal(mgr_volume_resize(m, "v1", 24 << 20, &err), 0);
	assert_int_equal(mgr_volume_snapshot_restore(m, "v1", "snap0", &err), 0);
	assert_true(has(vfile, 12 << 20, "AAAA"));
	struct stat st;
	assert_int_equal(stat(vfile, &st), 0);
	assert_int_equal(st.st_size, 16 << 20);
	assert_int_equal(mgr_volume_get(m, "v1", &l, &err), 0);
	assert_int_equal(json_object_get_int64(json_object_object_get(l, "size")), 16 << 20);
	json_object_put(l);
	assert_int_equal(mgr_volume_snapshot_restore(m, "v1", "b", &err), 0);
	assert_true(has(vfile, 12 << 20, "BBBB"));

	/* delete one */
	assert_int_equal(mgr_volume_snapshot_delete(m, "v1", "snap1", &err), 0);
	assert_false(exists("v1.snapshots/snap1.raw"));

	/* a crash's leftovers, removed by the next start */
	mgr_close(m);
	char p[256];
	snprintf(p, sizeof(p), "%s/v1.snapshots/.half.tmp", pool);
	put(p, 0, "x");
	snprintf(p, sizeof(p), "%s/v1.snapshots/unrecorded.raw", pool);
	put(p, 0, "x");
	snprintf(p, sizeof(p), "%s/ghost.snapshots", pool);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ghost.snapshots/s.raw", pool);
	put(p, 0, "x");
	snprintf(p, sizeof(p), "%s/v1.snapshots/b.raw", pool);
	assert_int_equal(unlink(p), 0); /* a row without its file */
	assert_int_equal(mgr_open(&o, &m, &err), 0);
	assert_false(exists("v1.snapshots/.half.tmp"));
	assert_false(exists("v1.snapshots/unrecorded.raw"));
	assert_false(exists("ghost.snapshots"));
	assert_true(exists("v1.snapshots/snap0.raw"));
	assert_int_equal(mgr_volume_snapshot_list(m, "v1", &l, &err), 0);
	assert_int_equal(json_object_array_length(l), 1); /* b's row went with its file */
	json_object_put(l);

	/* the volume's delete takes its snapshots */
	assert_int_equal(mgr_volume_delete(m, "v1", &err), 0);
	assert_false(exists("v1.snapshots"));
	assert_false(exists("v1.raw"));
	struct mgr_stmt *stc = NULL;
	struct mgr_db *db = mgr_get_db(m);
	mgr_db_lock(db);
	assert_int_equal(mgr_stmt_prepare(mgr_db_store(db), "SELECT COUNT(*) FROM volume_snapshots",
					  false, &stc),
			 SQLITE_OK);
	assert_int_equal(mgr_stmt_step(stc), SQLITE_ROW);
	assert_int_equal(mgr_stmt_column_int(stc, 0), 0);
	mgr_stmt_finalize(stc);
	mgr_db_unlock(db);
	mgr_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_clone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
	};
	if (access("/sbin/mkfs.ext4", X_OK) != 0 || geteuid() != 0) {
		printf("SKIP: needs root and mkfs.ext4\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
