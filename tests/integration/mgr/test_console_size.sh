#!/bin/bash
# test_console_size.sh - the console's window size: `vessel console` on a
# pseudo-terminal (console_drive.py) of 24x100 gives a busybox container's
# terminal that size at attach, and a resize of the local terminal
# (SIGWINCH) reaches it while attached (PUT /1.0/instances/NAME/console,
# TIOCSWINSZ in the console supervisor); the API refuses bad sizes, a
# stopped or missing instance, and (with the guest images) a VM, whose
# serial console has no size.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
DRIVE=$HERE/console_drive.py
G=${VESSEL_GUEST_DIR:-}

if [ -n "$G" ] && [ -f "$G/Image" ] && [ -n "${VESSEL_VESSEL_VMM:-}" ]; then
	start_daemon --vmm "$VESSEL_VESSEL_VMM" --guest-image "$G" || exit 1
else
	G=
	start_daemon || exit 1
fi
check "launch busybox c1" v launch busybox c1

size_is() { # ROWS COLS: poll the container's terminal size, print it on its console
	echo "$VESSEL exec c1 -- sh -c 'i=0; while [ \"\$(stty -F /dev/console size)\" != \"$1 $2\" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; echo size=\$(stty -F /dev/console size | tr \" \" x) >/dev/console'"
}
cat >"$T/steps" <<STEPS
expect press Ctrl-a q
run $(size_is 24 100)
expect size=24x100
resize 30 120
run $(size_is 30 120)
expect size=30x120
resize 50 80
run $(size_is 50 80)
expect size=50x80
send \x01q
expect cli-exit=0
exit 0
STEPS
check "attach sets the size; two resizes follow" env DRIVE_COLS=100 python3 "$DRIVE" "$T/steps" \
	sh -c "v console c1; echo cli-exit=\$?"
check "the size stays after the detach" sh -c "[ \"\$(v exec c1 -- stty -F /dev/console size)\" = '50 80' ]"

put() { # BODY NAME: PUT .../console, the status code (body in $T/body)
	curl -s --unix-socket "$SOCK" -o "$T/body" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' -d "$1" "http://vessel/1.0/instances/${2:-c1}/console"
}
check "PUT 132x43" test "$(put '{"width":132,"height":43}')" = 200
check "seen inside" sh -c "[ \"\$(v exec c1 -- stty -F /dev/console size)\" = '43 132' ]"
code=$(put '{"width":0,"height":43}')
check "width 0: 400" sh -c "[ $code = 400 ] && grep -q '1 to 65535' $T/body"
check "no height: 400" test "$(put '{"width":80}')" = 400
check "an unknown key: 400" test "$(put '{"width":80,"height":24,"x":1}')" = 400
check "a missing instance: 404" test "$(put '{"width":80,"height":24}' nosuch)" = 404
check "the size is unchanged by the refusals" sh -c "[ \"\$(v exec c1 -- stty -F /dev/console size)\" = '43 132' ]"
check "stop c1" v stop --force c1
code=$(put '{"width":80,"height":24}')
check "a stopped instance: 400" sh -c "[ $code = 400 ] && grep -q 'needs it running' $T/body"
if [ -n "$G" ]; then
	check "launch vessel-guest v1 --vm" v launch vessel-guest v1 --vm
	code=$(put '{"width":80,"height":24}' v1)
	check "a VM: 501, no window size on a serial port" sh -c "[ $code = 501 ] && grep -q 'serial port' $T/body"
	# the CLI attaches to a VM all the same (the refused size is not an error)
	cat >"$T/steps" <<STEPS
expect press Ctrl-a q
send \x01q
expect cli-exit=0
exit 0
STEPS
	check "console of a VM still attaches" python3 "$DRIVE" "$T/steps" sh -c "v console v1; echo cli-exit=\$?"
fi
check "delete" sh -c "v delete --force c1 && { [ -z '$G' ] || v delete --force v1; }"
finish
