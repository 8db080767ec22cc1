#!/bin/bash
# test_vm_exec.sh - `vessel exec --user UID[:GID] --cwd DIR --env K=V` in a
# VM (through the guest agent) behaves as in a container: the same uid,
# gid (the UID when only a UID is given), in the
# given directory with the given variables; the user's rights hold (no
# write to /root); a missing command is 127 in a VM; a bad --user is
# refused.
# SKIPs (77) without the guest images.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77

start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "launch vessel-guest v1 --vm" v launch vessel-guest v1 --vm
check "launch busybox c1" v launch busybox c1

ids='echo $(id -u) $(id -g) $(id -G) $(pwd) $FOO'
for i in v1 c1; do
	check "$i: --user 65534" test "$(v exec $i --user 65534 -- sh -c "$ids")" = "65534 65534 65534 /"
	check "$i: --user 1000:1001 --cwd /tmp --env FOO=bar" \
		test "$(v exec $i --user 1000:1001 --cwd /tmp --env FOO=bar -- sh -c "$ids")" = "1000 1001 1001 /tmp bar"
	check "$i: as root without --user" test "$(v exec $i -- id -u)" = 0
	v exec "$i" --user 65534 -- sh -c 'echo x >/root/denied' >/dev/null 2>&1
	check "$i: the user cannot write /root" test $? != 0
	check_fails "$i: --user abc" 'expected UID\[:GID\]' v exec "$i" --user abc -- true
done
v exec v1 --user 65534 -- no-such-command >/dev/null 2>&1
check "v1: a missing command as the user: 127 (as without --user)" test $? = 127
check "v1: arguments pass unchanged" test "$(v exec v1 --user 5 -- sh -c 'echo "$#:$1:$2"' x 'a b' '$c')" = '2:a b:$c'
check "v1: stdin as the user" test "$(echo hi | v exec -i v1 --user 7 -- cat)" = hi
check "delete v1 c1" v delete --force v1 c1
finish
