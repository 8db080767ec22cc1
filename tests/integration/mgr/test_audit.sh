#!/bin/bash
# test_audit.sh - the audit log: every non-GET request is recorded with who
# (uid from SO_PEERCRED), what (method, path, a bounded body summary with
# secrets redacted) and the result, refused requests included; GETs are
# not; --since and --instance filter; and `vessel audit --verify` catches
# a record edited with sqlite3, a record deleted from the middle, and
# records deleted from the end (non-zero exit, naming the record).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }
# remember_ids: the runtime IDs of this test's instances (for the leak check)
: >"$T/ids"
remember_ids() { sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances" >>"$T/ids"; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }

db() { sqlite3 "$STATE/vessel.db" "$@"; }
audit() { v --format json audit "$@"; }

start_daemon || exit 1
check "launch a1" v launch busybox a1
remember_ids
check "stop a1" v stop a1
check_fails "a refused request (bad config)" "limits.memory" v config set a1 limits.memory=banana
check_fails "a refused delete (no such instance)" "not found" v delete nosuch
check "trust add (a certificate in the body)" sh -c \
	"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '$T/k.pem' -out '$T/c.pem' -days 1 -subj /CN=t >/dev/null 2>&1 && v config trust add '$T/c.pem' --name t"
v list >/dev/null
v info a1 >/dev/null

audit >"$T/all.json"
check "records: launch, stop, refused config, refused delete, trust add (no GETs)" sh -c \
	"jq -e '[.[] | .method + \" \" + .path] == [\"POST /1.0/instances\", \"PUT /1.0/instances/a1/state\", \"PATCH /1.0/instances/a1\", \"DELETE /1.0/instances/nosuch\", \"POST /1.0/certificates\"]' '$T/all.json'"
check "who: the caller's uid" sh -c "jq -e 'all(.[]; .who == \"uid:0\")' '$T/all.json'"
check "results: 202, 202, 400, 404, 200" sh -c "jq -e '[.[].status] == [202, 202, 400, 404, 200]' '$T/all.json'"
check "summary of the launch names the image" sh -c \
	"jq -e '.[0].summary | contains(\"busybox\")' '$T/all.json'"
check "the refused change is recorded with its body" sh -c \
	"jq -e '.[2].summary | contains(\"banana\")' '$T/all.json'"
check "no secret in the log (the certificate is redacted)" sh -c \
	"jq -e '.[4].summary | contains(\"<redacted>\") and (contains(\"BEGIN\") | not)' '$T/all.json'"
check "summaries are bounded" sh -c "jq -e 'all(.[]; (.summary | length) <= 512)' '$T/all.json'"
check "sequence numbers and hashes" sh -c \
	"jq -e '[.[].seq] == [1, 2, 3, 4, 5] and all(.[]; (.hash | length) == 64)' '$T/all.json'"
check "--instance a1" sh -c "[ \"\$(v --format json audit --instance a1 | jq length)\" = 3 ]"
check "--since the future: nothing" sh -c "[ \"\$(v --format json audit --since 2099-01-01T00:00:00Z | jq length)\" = 0 ]"
check_fails "--since garbage refused" "since" v audit --since yesterday
check "table output" sh -c "v audit | grep -q 'PUT .*/1.0/instances/a1/state'"
check "verify: intact" sh -c "v audit --verify | grep -q 'intact: 5 records'"
check_fails "the database refuses UPDATE (append-only)" "append-only" \
	sqlite3 "$STATE/vessel.db" "UPDATE audit_log SET status = 200 WHERE seq = 3"
check_fails "the database refuses DELETE (append-only)" "append-only" \
	sqlite3 "$STATE/vessel.db" "DELETE FROM audit_log WHERE seq = 3"

# tampering, as someone with the database file would do it
db ".backup '$T/pristine.db'"
check "edit record 3 (the refusal becomes a success)" db \
	"DROP TRIGGER audit_log_no_update; UPDATE audit_log SET status = 200 WHERE seq = 3"
check_fails "verify catches the edit, names record 3" "at record 3:" v audit --verify
check "json verdict" sh -c "v --format json audit --verify | jq -e '.ok == false and .first_bad == 3'"
check "undo the edit" db "UPDATE audit_log SET status = 400 WHERE seq = 3"
check "verify: intact again" v audit --verify
check "edit record 2 and overwrite its hash" db \
	"UPDATE audit_log SET summary = '{}', hash = '$(printf %064d 0)' WHERE seq = 2"
check_fails "verify catches it at record 2" "at record 2:" v audit --verify
stop_daemon
cp "$T/pristine.db" "$STATE/vessel.db"
rm -f "$STATE/vessel.db-wal" "$STATE/vessel.db-shm"
start_daemon || exit 1
check "verify: intact (pristine copy)" v audit --verify
check "delete record 2" db "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2"
check_fails "verify catches the deletion, names record 2" "at record 2: record 2 is missing" v audit --verify
stop_daemon
cp "$T/pristine.db" "$STATE/vessel.db"
rm -f "$STATE/vessel.db-wal" "$STATE/vessel.db-shm"
start_daemon || exit 1
n=$(db "SELECT MAX(seq) FROM audit_log")
check "delete the last record" db "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = $n"
check_fails "verify catches the truncated end" "at record $n: records $n to $n are missing" v audit --verify

check "delete a1" v delete --force a1
stop_daemon
# this test's objects only (other vesselds may run on the host meanwhile):
# its mounts and its cgroups (which exist while a process is in them)
leftover=$(host_objects | grep -F -e "$T/" -f "$T/ids")
[ -z "$leftover" ] || echo "$leftover" | sed 's/^/    left: /'
check "no mount or cgroup of this test left" test -z "$leftover"
finish
