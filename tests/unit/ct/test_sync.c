/*
 * test_sync.c - unit tests for the container setup channel (lib/ct/sync.c):
 * a child that fails and exits while a message of the parent's is still
 * unread must still be heard (its error, not "Connection reset by peer"),
 * and a child that exits silently reads as EOF.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../lib/ct/linux_internal.h"

static void test_error_after_unread_message(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* the parent says GO; the child never reads it, reports and exits */
	assert_int_equal(ct_sync_send_code(sv[0], CT_SYNC_GO, 0), 0);
	struct vs_err e = VS_ERR_INIT;
	vs_errf(&e, ENOENT, "open network namespace /proc/self/ns/nonexistent");
	assert_int_equal(ct_sync_send(sv[1], CT_SYNC_ERROR, &e), 0);
	close(sv[1]);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_sync_expect(sv[0], CT_SYNC_READY, &err), -ENOENT);
	assert_string_equal(err.msg, "open network namespace /proc/self/ns/nonexistent");
	close(sv[0]);
}

static void test_silent_exit_after_unread_message(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ct_sync_send_code(sv[0], CT_SYNC_GO, 0), 0);
	close(sv[1]);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_sync_expect(sv[0], CT_SYNC_READY, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "exited during setup"));
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_after_unread_message),
		cmocka_unit_test(test_silent_exit_after_unread_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
