#!/bin/bash
# test_expiry_crash.sh - an expiry acts exactly once across a `kill -9` of
# vesseld that lands right when the action starts.  The daemon runs with
# the test-only hook VESSEL_TEST_POLICY_DELAY_MS (docs/vesseld.md), so the
# action is recorded ("started") and then waits before it touches the
# instance: the test kills vesseld in that window, checks the instance was
# not yet touched, restarts vesseld without the hook, and checks the action
# completes once: one journal row, done; the snapshot of
# snapshot-then-delete taken once; a started-again instance is not stopped
# again (a later-expiring marker instance proves later ticks ran).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }
# remember_ids: the runtime IDs of this test's instances (for the leak check)
: >"$T/ids"
remember_ids() { sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances" >>"$T/ids"; }

db() { sqlite3 "$STATE/vessel.db" "$@"; }
journal() { db "SELECT state FROM policy_actions WHERE instance = '$1' ORDER BY id" | tr '\n' ' '; }
kill9() {
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
}

export VESSEL_TEST_POLICY_DELAY_MS=600000
start_daemon --policy-interval 200 || exit 1
check "project snap: snapshot-then-delete with a long grace" \
	v project policy set snap expiry.action=snapshot-then-delete expiry.grace=1d
check "launch c1 (stop at expiry)" v launch busybox c1
check "launch s1 (snapshot-then-delete at expiry)" v launch busybox s1 -c user.project=snap
remember_ids
check "both expire in 1s" sh -c "v config set c1 expires=1s && v config set s1 expires=1s"
pid1=$(v info c1 --format json | jq .pid)
wait_for "both actions recorded as started" sh -c \
	"[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT COUNT(*) FROM policy_actions WHERE state = 'started'\")\" = 2 ]"
kill9
unset VESSEL_TEST_POLICY_DELAY_MS
check "killed before the action touched c1: still running" kill -0 "$pid1"
check "expiry rows say acting" test "$(db "SELECT COUNT(*) FROM instance_expiry WHERE state = 'acting'")" = 2

start_daemon --policy-interval 200 || exit 1
wait_for "c1 stopped by the resumed action" sh -c "[ \"\$(v list --format csv | awk -F, '\$1 == \"c1\" {print \$3}')\" = Stopped ]"
wait_for "c1's action done" sh -c "[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT state FROM policy_actions WHERE instance = 'c1'\")\" = done ]"
check "c1: exactly one action" test "$(journal c1)" = "done "
wait_for "s1 in its grace period" sh -c "[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT state FROM instance_expiry e JOIN instances i ON i.id = e.instance_id WHERE i.name = 's1'\")\" = grace ]"
check "s1: one snapshot \"expired\"" test "$(v --format json snapshot list s1 | jq '[.[] | select(.name == "expired")] | length')" = 1
check "s1: one action" test "$(db "SELECT COUNT(*) FROM policy_actions WHERE instance = 's1'")" = 1
check "s1 stopped" test "$(status s1)" = Stopped

# a kill -9 after the action (c1 done): nothing repeats after the restart
check "start c1 again" v start c1
stop_daemon
start_daemon --policy-interval 200 || exit 1
check "marker expiring after the restart" sh -c "v launch busybox marker && v config set marker expires=1s"
remember_ids
wait_for "marker stopped (later ticks ran)" sh -c "[ \"\$(v list --format csv | awk -F, '\$1 == \"marker\" {print \$3}')\" = Stopped ]"
check "c1 not stopped a second time" test "$(status c1)" = Running
check "c1: still exactly one action" test "$(journal c1)" = "done "
check "s1: still one snapshot, one action" sh -c \
	"[ \"\$(v --format json snapshot list s1 | jq length)\" = 1 ] && [ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT COUNT(*) FROM policy_actions WHERE instance = 's1'\")\" = 1 ]"
check "policy actions in the audit log" sh -c \
	"v --format json audit --instance c1 | jq -e '[.[] | select(.who == \"vesseld:policy\")] | length == 1'"

check "delete everything" v delete --force c1 s1 marker
stop_daemon
# this test's objects only (other vesselds may run on the host meanwhile):
# its mounts and its cgroups (which exist while a process is in them)
leftover=$(host_objects | grep -F -e "$T/" -f "$T/ids")
[ -z "$leftover" ] || echo "$leftover" | sed 's/^/    left: /'
check "no mount or cgroup of this test left" test -z "$leftover"
finish
