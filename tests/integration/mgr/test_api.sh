#!/bin/bash
# test_api.sh - the REST API's edges: malformed requests (bad JSON, wrong
# types, unknown keys, bad names, oversize and unexpected bodies, unknown
# paths and methods, bad actions) each get a 4xx error envelope and change
# nothing (the database dump and the running instance are the same
# before and after); and the unix socket refuses a caller that is neither
# root nor in group vessel: by its mode (0660), and by the SO_PEERCRED
# check when the mode is opened up.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }

start_daemon || exit 1
check "launch c1" v launch busybox c1

# req METHOD PATH [BODY-FILE]: prints the HTTP status, body in $T/body
req() {
	local data=()
	[ $# -ge 3 ] && data=(--data-binary "@$3" -H 'Content-Type: application/json')
	curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "${data[@]}" \
		"http://vessel$2"
}

# bad DESCRIPTION EXPECTED-STATUS METHOD PATH [BODY]
bad() {
	local desc=$1 want=$2 method=$3 path=$4
	local f=$T/req.json
	if [ $# -ge 5 ]; then printf '%s' "$5" >"$f"; set -- "$method" "$path" "$f"; else set -- "$method" "$path"; fi
	local got
	[ "$method" = GET ] || REFUSED=$((REFUSED + 1))
	got=$(req "$@")
	CHECKS=$((CHECKS + 1))
	if [ "$got" = "$want" ] && jq -e '.type == "error" and (.error | length > 0) and .error_code == '"$want" "$T/body" >/dev/null 2>&1; then
		echo "ok: $desc -> $got $(jq -r .error "$T/body")"
	else
		echo "FAIL: $desc: got $got, want $want: $(head -c 300 "$T/body")"
		FAILS=$((FAILS + 1))
	fi
}

# (the audit log is the one thing a refused request adds to: checked below)
dump() { sqlite3 "$STATE/vessel.db" .dump | grep -v -e '^INSERT INTO audit_log ' -e '^INSERT INTO instance_usage '; }
before=$(dump)
audit_before=$(sqlite3 "$STATE/vessel.db" "SELECT COUNT(*) FROM audit_log WHERE status >= 400")
REFUSED=1 # the oversize body below
pid_before=$(v info c1 --format json | jq .pid)

SRC='"source":{"type":"image","alias":"busybox"}'
bad "invalid JSON" 400 POST /1.0/instances '{"name":"x",'
bad "not an object" 400 POST /1.0/instances '[1,2]'
bad "data after the JSON" 400 POST /1.0/instances "{\"name\":\"x\",$SRC} junk"
bad "unknown key" 400 POST /1.0/instances "{\"name\":\"x\",$SRC,\"bogus\":1}"
bad "unknown source key" 400 POST /1.0/instances '{"name":"x","source":{"type":"image","alias":"busybox","url":"y"}}'
bad "name of the wrong type" 400 POST /1.0/instances "{\"name\":5,$SRC}"
bad "invalid name" 400 POST /1.0/instances "{\"name\":\"-x\",$SRC}"
bad "name too long" 400 POST /1.0/instances "{\"name\":\"$(printf 'a%.0s' $(seq 70))\",$SRC}"
bad "missing source" 400 POST /1.0/instances '{"name":"x"}'
bad "unknown image" 404 POST /1.0/instances '{"name":"x","source":{"type":"image","alias":"nope"}}'
bad "config value not a string" 400 POST /1.0/instances "{\"name\":\"x\",$SRC,\"config\":{\"limits.cpu\":1}}"
bad "unknown config key" 400 POST /1.0/instances "{\"name\":\"x\",$SRC,\"config\":{\"x.y\":\"1\"}}"
bad "bad memory value" 400 POST /1.0/instances "{\"name\":\"x\",$SRC,\"config\":{\"limits.memory\":\"lots\"}}"
bad "a VM from a container image" 400 POST /1.0/instances "{\"name\":\"x\",\"type\":\"virtual-machine\",$SRC}"
bad "existing name" 409 POST /1.0/instances "{\"name\":\"c1\",$SRC}"
deep=$(printf '{"a":%.0s' $(seq 100))1$(printf '}%.0s' $(seq 100))
bad "nesting too deep" 400 POST /1.0/instances "$deep"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' >"$T/big.json"
got=$(req POST /1.0/instances "$T/big.json")
check "oversize body: 413" test "$got" = 413
# a client that sends its body without waiting for 100 Continue still reads
# the answer given before the body: the connection lingers, not reset
early_answers() {
	local i got
	for i in $(seq 10); do
		got=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X POST -H 'Expect:' \
			-H 'Content-Type: application/json' --data-binary "@$T/big.json" http://vessel/1.0/instances)
		[ "$got" = 413 ] || { echo "try $i: $got"; return 1; }
	done
}
check "oversize body sent without waiting: 413 all 10 times" early_answers
REFUSED=$((REFUSED + 10))
bad "unknown path" 404 GET /1.0/nothing
bad "unknown method" 405 DELETE /1.0
bad "body where none is taken" 400 GET /1.0/instances '{"a":1}'
bad "unknown action" 400 PUT /1.0/instances/c1/state '{"action":"explode"}'
bad "action missing" 400 PUT /1.0/instances/c1/state '{"force":true}'
bad "timeout out of range" 400 PUT /1.0/instances/c1/state '{"action":"stop","timeout":99999}'
bad "state: unknown key" 400 PUT /1.0/instances/c1/state '{"action":"stop","now":true}'
bad "start a running instance" 400 PUT /1.0/instances/c1/state '{"action":"start"}'
bad "state of a missing instance" 404 PUT /1.0/instances/nope/state '{"action":"start"}'
bad "exec: empty command" 400 POST /1.0/instances/c1/exec '{"command":[]}'
bad "exec: command not strings" 400 POST /1.0/instances/c1/exec '{"command":[1]}'
bad "exec: relative cwd" 400 POST /1.0/instances/c1/exec '{"command":["true"],"cwd":"tmp"}'
bad "exec: interactive" 501 POST /1.0/instances/c1/exec '{"command":["sh"],"interactive":true}'
bad "patch: unknown key" 400 PATCH /1.0/instances/c1 '{"config":{"limits.memory":"64MiB"},"devices":{}}'
bad "patch: bad limit (nothing applied)" 400 PATCH /1.0/instances/c1 '{"config":{"limits.memory":"64MiB","limits.cpu":"999"}}'
bad "rename: invalid name" 400 POST /1.0/instances/c1 '{"name":"a b"}'
bad "rename a running instance" 400 POST /1.0/instances/c1 '{"name":"c9"}'
bad "delete running without force" 409 DELETE /1.0/instances/c1
bad "instance name too long in the path" 404 GET "/1.0/instances/$(printf 'a%.0s' $(seq 300))"
bad "image: relative path" 400 POST /1.0/images '{"source":{"type":"oci","path":"x"}}'
bad "image: unknown source type" 400 POST /1.0/images '{"source":{"type":"http","path":"/x"}}'
bad "image: missing path" 404 POST /1.0/images '{"source":{"type":"oci","path":"/nonexistent"}}'
bad "image: bad alias" 400 POST /1.0/images/aliases '{"name":"a b","target":"busybox"}'
bad "image: unknown" 404 GET /1.0/images/nope
bad "image in use" 409 DELETE /1.0/images/busybox
bad "operation unknown" 404 GET /1.0/operations/nope
bad "operation wait: bad timeout" 400 GET '/1.0/operations/x/wait?timeout=abc'
bad "events: bad type filter" 400 GET '/1.0/events?type=a;b'
printf 'not an archive' >"$T/junk"
got=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X POST \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T/junk" http://vessel/1.0/images)
op=$(jq -r .operation "$T/body")
check "junk upload: an operation" test "$got" = 202
check "junk upload fails cleanly" sh -c "curl -s --unix-socket $SOCK 'http://vessel$op/wait?timeout=60' | jq -e '.metadata.status == \"Failure\" and (.metadata.err | test(\"layout|archive|Unrecognized\"))'"
check "database unchanged by all of that" test "$(dump)" = "$before"
check "each refused non-GET request is in the audit log" test \
	"$(sqlite3 "$STATE/vessel.db" "SELECT COUNT(*) FROM audit_log WHERE status >= 400")" = $((audit_before + REFUSED))
check "c1 still running, same process" test "$(v info c1 --format json | jq .pid)" = "$pid_before"
check "no upload left behind" test -z "$(ls "$STATE/images/tmp")"

# the socket: 0660, root (or group vessel) only
check "socket mode 0660" test "$(stat -c %a "$SOCK")" = 660
N=(setpriv --reuid nobody --regid nogroup --clear-groups)
check "nobody cannot connect (mode)" sh -c "! ${N[*]} curl -sf --unix-socket $SOCK http://vessel/1.0"
chmod 0666 "$SOCK"
"${N[@]}" curl -s -w '\n%{http_code}' --unix-socket "$SOCK" http://vessel/1.0/instances >"$T/resp"
got=$(tail -1 "$T/resp")
head -n -1 "$T/resp" >"$T/body"
check "nobody refused by SO_PEERCRED: 403" test "$got" = 403
check "refusal is an error envelope" jq -e '.type == "error" and .error_code == 403' "$T/body"
got=$("${N[@]}" curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X DELETE \
	"http://vessel/1.0/instances/c1?force=1")
check "nobody cannot delete" test "$got" = 403
check "c1 untouched" test "$(status c1)" = Running
check "root is served" test "$(req GET /1.0)" = 200
chmod 0660 "$SOCK"
finish
