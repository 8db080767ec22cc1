#!/bin/bash
# test_socket.sh - who may use the unix socket (issue 9: "root and members
# of group vessel, checked with SO_PEERCRED").  vesseld runs with --group
# set to an existing group of the host (users; the default name, vessel,
# is usually not a group on a test host and making one would change the
# host): the socket is owned by that group, mode 0660; an unprivileged uid
# outside the group cannot connect; the same uid with the group as a
# supplementary group, and with it as its primary group, is served and can
# create and delete an instance; with the mode opened up, the SO_PEERCRED
# check still refuses the outsider (403) and its request changes nothing.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl setpriv jq sqlite3; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
GROUP=users
GID=$(getent group "$GROUP" | cut -d: -f3)
[ -n "$GID" ] || { echo "SKIP: no group $GROUP on this host"; exit 77; }
NOBODY=$(id -u nobody 2>/dev/null) || { echo "SKIP: no user nobody"; exit 77; }
NOGROUP=$(getent group nogroup | cut -d: -f3)
[ -n "$NOGROUP" ] || NOGROUP=65534

start_daemon --group "$GROUP" || exit 1

OUT=(setpriv --reuid "$NOBODY" --regid "$NOGROUP" --clear-groups)
MEMBER=(setpriv --reuid "$NOBODY" --regid "$NOGROUP" --groups "$GID")
PRIMARY=(setpriv --reuid "$NOBODY" --regid "$GID" --clear-groups)
# as WHO METHOD PATH [BODY]: HTTP status (000: could not connect), body in $T/body
as() {
	local who=$1 method=$2 path=$3 data=()
	[ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data "$4")
	local -n argv=$who
	# the body to stdout (the unprivileged uid cannot write under $T)
	"${argv[@]}" curl -s -w '\n%{http_code}' --unix-socket "$SOCK" -X "$method" \
		"${data[@]}" "http://vessel$path" >"$T/resp" 2>/dev/null
	head -n -1 "$T/resp" >"$T/body"
	tail -n 1 "$T/resp"
}
dump() { sqlite3 "$STATE/vessel.db" .dump; }

check "socket owned by group $GROUP" test "$(stat -c %g "$SOCK")" = "$GID"
check "socket mode 0660" test "$(stat -c %a "$SOCK")" = 660
before=$(dump)
check "a uid outside the group cannot connect" test "$(as OUT GET /1.0/instances)" = 000
check "a supplementary member is served" test "$(as MEMBER GET '/1.0/instances?recursion=1')" = 200
check "  ... the list is an Incus-style envelope" jq -e '.type == "sync" and (.metadata | type == "array")' "$T/body"
check "a primary-group member is served" test "$(as PRIMARY GET /1.0)" = 200
check "nothing changed by reads and refusals" test "$(dump)" = "$before"

SRC='"source":{"type":"image","alias":"busybox"}'
got=$(as MEMBER POST /1.0/instances "{\"name\":\"m1\",$SRC}")
check "a member creates an instance (got $got)" sh -c "[ '$got' = 200 ] || [ '$got' = 201 ] || [ '$got' = 202 ]"
wait_for "m1 listed" sh -c "v list --format csv | grep -q '^m1,'"
check "m1 exists (seen by root)" sh -c "v list --format csv | grep -q '^m1,'"
op=$(jq -r '.operation // empty' "$T/body")
[ -n "$op" ] && as MEMBER GET "$op/wait?timeout=60" >/dev/null
got=$(as MEMBER DELETE /1.0/instances/m1)
[ -n "$(jq -r '.operation // empty' "$T/body")" ] && as MEMBER GET "$(jq -r .operation "$T/body")/wait?timeout=60" >/dev/null
check "a member deletes it (got $got)" sh -c "[ '$got' = 200 ] || [ '$got' = 202 ]"
wait_for "m1 gone" sh -c "! v list --format csv | grep -q '^m1,'"
check "m1 gone" sh -c "! v list --format csv | grep -q '^m1,'"

# the SO_PEERCRED check behind the file mode
chmod 0666 "$SOCK"
before=$(dump)
check "mode opened: the outsider is refused by SO_PEERCRED (403)" test "$(as OUT GET /1.0/instances)" = 403
check "  ... with an error envelope" jq -e '.type == "error" and .error_code == 403' "$T/body"
check "mode opened: the outsider cannot create" test "$(as OUT POST /1.0/instances "{\"name\":\"evil\",$SRC}")" = 403
check "  ... and changed nothing" test "$(dump)" = "$before"
check "mode opened: a member is still served" test "$(as MEMBER GET /1.0)" = 200
chmod 0660 "$SOCK"
stop_daemon
finish
