#!/bin/bash
# test_concurrency.sh - 100 API clients at once (the issue's figure), each
# launching, exec'ing in, listing and deleting its own container
# (MGR_CLIENTS, MGR_ROUNDS change the load); then 10 clients race to
# create the same name (exactly one wins).  No request may fail, the whole run is bounded (generously: 600 s), and
# afterwards the database is empty and no host object is left.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
CLIENTS=${MGR_CLIENTS:-100}
ROUNDS=${MGR_ROUNDS:-1}

before=$(host_objects)
start_daemon || exit 1

client() {
	local i=$1 r
	for r in $(seq "$ROUNDS"); do
		local n=w$i-$r
		v launch busybox "$n" || { echo "client $i: launch $n failed"; return 1; }
		[ "$(v exec "$n" -- echo "$n")" = "$n" ] || { echo "client $i: exec in $n failed"; return 1; }
		v list --format csv >/dev/null || { echo "client $i: list failed"; return 1; }
		v delete --force "$n" || { echo "client $i: delete $n failed"; return 1; }
	done
}

start=$SECONDS
pids=()
for i in $(seq "$CLIENTS"); do
	client "$i" >"$T/client.$i" 2>&1 &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
elapsed=$((SECONDS - start))
echo "$CLIENTS clients x $ROUNDS rounds: ${elapsed}s"
check "every client succeeded" test "$failed" = 0
[ "$failed" = 0 ] || cat "$T"/client.* | head -20
check "bounded in time (< 600 s)" test "$elapsed" -lt 600

# a race on one name: one creation wins, the others are told it exists
pids=()
for i in $(seq 10); do
	v init busybox same >"$T/race.$i" 2>&1 &
	pids+=($!)
done
wins=0
for p in "${pids[@]}"; do
	wait "$p" && wins=$((wins + 1))
done
check "exactly one creation of the same name wins" test "$wins" = 1
check "the losers were told why" sh -c "cat $T/race.* | grep -c 'already exists' | grep -qx 9"
check "delete it" v delete same
check "database empty" test "$(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM instances; SELECT COUNT(*) FROM instance_config' | tr '\n' ' ')" = "0 0 "
stop_daemon
check "no host object left (mounts, cgroups, processes)" test "$(host_objects)" = "$before"
check "no container state left" test -z "$(find "$STATE/runtime" "$STATE/containers" -mindepth 1)"
# the console supervisors (forks of vesseld with its command line) went
# with their containers
no_supervisor() { ! pgrep -f -- "--state-dir $STATE " >/dev/null; }
check "no console supervisor left" no_supervisor
finish
