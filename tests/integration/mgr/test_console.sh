#!/bin/bash
# test_console.sh - vessel console on a pseudo-terminal (console_drive.py):
# attach to a busybox container, type a line that a reader on the
# container's /dev/console answers, see the answer, detach with Ctrl-a q
# (the terminal is back in canonical mode with echo); a second attach;
# --show-log; the console survives a kill -9 of vesseld (its supervisor is
# not vesseld's); a stopped or missing instance gets one clear line.  With
# the Debian 12 image: launch debian, `cat /etc/debian_version` both through
# exec and typed at its bash on the console, its Env honoured; its import
# draws a progress bar on a terminal and nothing in a pipe.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
DRIVE=$HERE/console_drive.py

before=$(host_objects)
start_daemon || exit 1
check "launch busybox c1" v launch busybox c1

# attach: NAME, then `stty -a` after the CLI exits shows the restored modes
attach() {
	python3 "$DRIVE" "$T/steps" sh -c "v console $1; echo \"cli-exit=\$?\"; stty -a | tr ' ;' '\n\n' | grep -x -e icanon -e echo | tr '\n' ' '; echo modes-done"
}

v exec c1 -- setsid sh -c 'read l </dev/console; echo "got-$l" >/dev/console' </dev/null >/dev/null 2>&1
cat >"$T/steps" <<'STEPS'
expect press Ctrl-a q
send hello-console\r
expect got-hello-console
send \x01q
expect cli-exit=0
expect icanon echo modes-done
exit 0
STEPS
check "attach, type a line, see the answer, detach" attach c1

cat >"$T/steps" <<STEPS
expect press Ctrl-a q
run $VESSEL exec c1 -- sh -c 'echo second-attach >/dev/console'
expect second-attach
send \x01q
expect cli-exit=0
exit 0
STEPS
check "a second attach" attach c1
check "console --show-log has what was printed" sh -c "v console c1 --show-log | grep -q second-attach"

# the supervisor outlives vesseld
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
start_daemon || exit 1
cat >"$T/steps" <<STEPS
expect press Ctrl-a q
run $VESSEL exec c1 -- sh -c 'echo after-crash >/dev/console'
expect after-crash
send \x01q
exit 0
STEPS
check "attach after a kill -9 of vesseld" attach c1

check_fails "missing instance" "not found|no such instance" v console nosuch
check "stop c1" v stop --force c1
id=$(runtime_id c1)
check "the console supervisor is gone with the container" test ! -e "$STATE/containers/$id/console.pid"
check_fails "console of a stopped instance" "c1 is Stopped" v console c1
check_fails "unknown option" "unknown option" v console c1 --bogus

if [ -n "${VESSEL_DEBIAN_IMAGE:-}" ] && [ -d "$VESSEL_DEBIAN_IMAGE" ]; then
	# a progress bar on a terminal, nothing of it in a pipe
	cat >"$T/steps" <<'STEPS'
expect %\x1b[K
expect import-exit=0
exit 0
STEPS
	check "image import draws a progress bar on a terminal" python3 "$DRIVE" "$T/steps" sh -c "v image import $VESSEL_DEBIAN_IMAGE/oci --alias deb-progress; echo import-exit=\$?"
	check "no progress bar when stdout is not a terminal" sh -c "v image import $VESSEL_DEBIAN_IMAGE/oci --alias deb-pipe >$T/import.out && ! grep -q '%' $T/import.out && ! grep -q \$'\r' $T/import.out"
	check "launch debian d1 (the built-in Debian image)" v launch debian d1
	check "exec cat /etc/debian_version" sh -c "v exec d1 -- cat /etc/debian_version | grep -qE '^12\\.'"
	check "image Env honoured (PATH)" sh -c "v exec d1 -- sh -c 'echo \$PATH' | grep -q /usr/local/sbin"
	check "image WorkingDir default /" test "$(v exec d1 -- pwd)" = /
	check "image Cmd is process 1" sh -c "v exec d1 -- cat /proc/1/cmdline | tr '\\0' ' ' | grep -qx '/bin/bash '"
	cat >"$T/steps" <<'STEPS'
expect press Ctrl-a q
send cat /etc/debian_version\r
expect 12.
send \x01q
exit 0
STEPS
	check "type a command at debian's bash on the console" attach d1
	check "the store has the debian alias" v image info debian
	check "delete d1" v delete --force d1
else
	echo "SKIP: the Debian image is not built (images/debian/build.sh)"
fi

check "delete c1" v delete --force c1
check "host objects as before" test "$(host_objects)" = "$before"
[ "$(host_objects)" = "$before" ] || diff <(echo "$before") <(host_objects)
finish
