#!/bin/bash
# test_policy.sh - lifecycle policies end to end: labels required at
# creation (a 400 listing what is missing), the maximum lifetime, expiry
# set at launch and changed later (a relative expiry counts from the
# change), the warning event before expiry, the stop and
# snapshot-then-delete actions, a stuck stop (a container frozen with
# SIGSTOP, a 600 s stop timeout) that does not delay another instance's
# expiry, and sprawl with prune (a dry run changes nothing; a real run
# removes exactly what the policy allows).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }
# remember_ids: the runtime IDs of this test's instances (for the leak check)
: >"$T/ids"
remember_ids() { sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances" >>"$T/ids"; }

STUCK_PID=
MON=
policy_cleanup() {
	[ -n "$STUCK_PID" ] && kill -CONT "$STUCK_PID" 2>/dev/null
	[ -n "$MON" ] && kill "$MON" 2>/dev/null
	cleanup
}
trap policy_cleanup EXIT

db() { sqlite3 "$STATE/vessel.db" "$@"; }
# journal NAME: the states of NAME's policy actions, in order
journal() { db "SELECT state FROM policy_actions WHERE instance = '$1' ORDER BY id" | tr '\n' ' '; }
exists() { v info "$1" >/dev/null 2>&1; }

start_daemon --policy-interval 200 || exit 1
v monitor --type lifecycle >"$T/events" 2>&1 &
MON=$!

# ---- required labels, lifetime ----
check "policy set" v project policy set default labels.required=owner,purpose lifetime.max=1d
check "policy show" sh -c "v --format json project policy show default | jq -e '.effective[\"lifetime.max\"] == \"1d\" and .config[\"labels.required\"] == \"owner,purpose\"'"
check_fails "bad policy key refused" "unknown policy key" v project policy set default bogus=1
check_fails "bad policy value refused" "expiry.action" v project policy set default expiry.action=explode
check_fails "launch without labels: 400 listing both" "missing user.owner, user.purpose" \
	v launch busybox nolabel
check_fails "launch with one label: names the other" "missing user.purpose \(set" \
	v launch busybox nolabel -c user.owner=ann
check "refused launch created nothing" test -z "$(v list --format csv)"
check_fails "expiry beyond the maximum lifetime refused" "maximum lifetime" \
	v launch busybox toolong -c user.owner=ann -c user.purpose=t --expires 2d
check "launch within the policy" v init busybox l1 -c user.owner=ann -c user.purpose=t
remember_ids
exp=$(v info l1 --format json | jq -r .expires_at)
check "no expiry given: expires at the maximum lifetime" sh -c \
	"test \$(( \$(date -d '$exp' +%s) - \$(date +%s) )) -gt 86000"
check_fails "never refused under a maximum lifetime" "never expire" v config set l1 expires=never
t0=$(date +%s)
check "expiry changed to 2h" v config set l1 expires=2h
exp=$(v config get l1 expires)
check "relative expiry counts from the change" sh -c \
	"d=\$(( \$(date -d '$exp' +%s) - $t0 )); [ \$d -ge 7200 ] && [ \$d -le 7230 ]"
check "absolute expiry within the lifetime" v config set l1 expires="$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
check_fails "absolute expiry beyond the lifetime refused" "maximum lifetime" \
	v config set l1 expires=2099-01-01T00:00:00Z
check "project without a lifetime: never is fine" sh -c \
	"v project policy unset default lifetime.max && v config set l1 expires=never && test \"\$(v info l1 --format json | jq -r .expires_at)\" = null"
check_fails "a time in the past refused" "has passed" v config set l1 expires=2001-01-01T00:00:00Z
check_fails "garbage expiry refused" "expected a duration" v config set l1 expires=soon
check "delete l1" v delete l1
check "labels no longer required" v project policy unset default labels.required

# ---- expiry: warning, then stop; acts once ----
check "warnings 6 s ahead" v project policy set default expiry.warn=6s
check "launch e1 expiring in 1h" v launch busybox e1 --expires 1h
remember_ids
check "no warning for e1 yet" sh -c "! grep instance-expiry-warning '$T/events' | grep -q 'instances.\?/e1\"'"
check "e1 now expires in 10s" v config set e1 expires=10s
wait_for "warning event for e1" sh -c "grep instance-expiry-warning '$T/events' | grep -q 'instances.\?/e1\"'"
check "warned before the action" test "$(status e1)" = Running
wait_for "e1 stopped at expiry" sh -c "[ \"\$(v list --format csv | awk -F, '\$1 == \"e1\" {print \$3}')\" = Stopped ]"
wait_for "e1's action recorded as done" sh -c "[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT group_concat(state) FROM policy_actions WHERE instance = 'e1'\")\" = done ]"
check "one action recorded for e1" test "$(journal e1)" = "done "
wait_for "expired event" grep -q 'instance-expired' "$T/events"
check "e1 can be started again" v start e1
check "extend e1's expiry" v config set e1 expires=1d
check "e1 still runs (no second action)" test "$(status e1)" = Running
check "still one action for e1" test "$(journal e1)" = "done "

# ---- snapshot-then-delete with a grace period ----
check "project snap: snapshot-then-delete, 4 s grace" \
	v project policy set snap expiry.action=snapshot-then-delete expiry.grace=4s
check "launch s1 in project snap" v launch busybox s1 -c user.project=snap
remember_ids
check "s1 expires in 2s" v config set s1 expires=2s
wait_for "s1 stopped and snapshotted" sh -c \
	"v --format json snapshot list s1 | jq -e '.[] | select(.name == \"expired\")'"
check "s1 stopped in its grace period" test "$(status s1)" = Stopped
wait_for "s1 deleted after the grace period" sh -c "! v info s1"
check "s1: one action, done" test "$(journal s1)" = "done "

# ---- a stuck stop does not delay another instance's expiry ----
check "project slow: 600 s stop timeout" v project policy set slow expiry.stop_timeout=600s
check "launch stuck" v launch busybox stuck -c user.project=slow
check "launch other" v launch busybox other -c user.project=slow
remember_ids
STUCK_PID=$(v info stuck --format json | jq .pid)
check "freeze stuck's init with SIGSTOP (its stop will hang)" kill -STOP "$STUCK_PID"
check "stuck expires now" v config set stuck expires=1s
wait_for "stuck's stop has started" sh -c "[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT state FROM policy_actions WHERE instance = 'stuck'\")\" = started ]"
check "other expires after stuck" v config set other expires=2s
start=$SECONDS
wait_for "other stopped while stuck's stop hangs" sh -c "[ \"\$(v list --format csv | awk -F, '\$1 == \"other\" {print \$3}')\" = Stopped ]"
check "other's expiry was not held up by stuck's stop (well under 600 s)" test $((SECONDS - start)) -lt 120
check "stuck is still running, its action still in progress" sh -c \
	"[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT state FROM policy_actions WHERE instance = 'stuck'\")\" = started ]"
kill -CONT "$STUCK_PID"
STUCK_PID=
wait_for "stuck stops once resumed" sh -c "[ \"\$(sqlite3 '$STATE/vessel.db' \"SELECT state FROM policy_actions WHERE instance = 'stuck'\")\" = done ]"
check "stuck Stopped" test "$(status stuck)" = Stopped

# ---- sprawl and prune ----
# now: e1 running (not sprawl), other and stuck expired (project slow),
# a volume attached to nothing, an image nobody uses
check "an unused volume" v storage volume create vol1 --size 16MiB
check "sprawl lists expired instances" sh -c \
	"v --format json sprawl | jq -e '[.[] | select(.kind == \"expired\") | .name] | sort == [\"other\", \"stuck\"]'"
check "sprawl lists the volume with its disk cost" sh -c \
	"v --format json sprawl | jq -e '.[] | select(.kind == \"volume\" and .name == \"vol1\") | .cost.disk >= 0'"
check "nothing prunable without prune.allow" sh -c \
	"v --format json sprawl | jq -e 'all(.[]; .prunable == false)'"
check "project slow allows pruning expired instances" v project policy set slow prune.allow=expired
v --format json sprawl >"$T/sprawl.before"
db "SELECT name FROM instances ORDER BY name" >"$T/inst.before"
check "dry run lists exactly the allowed set" sh -c \
	"v --format json prune --dry-run | jq -e '[.removed[].name] | sort == [\"other\", \"stuck\"]'"
check "dry run changed nothing" sh -c \
	"db_now=\$(sqlite3 '$STATE/vessel.db' 'SELECT name FROM instances ORDER BY name'); [ \"\$db_now\" = \"\$(cat '$T/inst.before')\" ]"
check "dry run: volume still there" v storage volume info vol1
check "prune" sh -c "v --format json prune | jq -e '([.removed[].name] | sort) == [\"other\", \"stuck\"] and (.failed | length) == 0'"
check "pruned instances gone" sh -c "! v info other && ! v info stuck"
check "what was not allowed stays: e1, the volume" sh -c "v info e1 >/dev/null && v storage volume info vol1 >/dev/null"
check "volume pruned once allowed (default project)" sh -c \
	"v project policy set default prune.allow=volume && v --format json prune | jq -e '[.removed[] | .kind + \":\" + .name] == [\"volume:vol1\"]'"
check "volume gone" sh -c "! v storage volume info vol1"

# long-stopped instances, never-restored snapshots, unused images
check "default project: stopped and snapshot thresholds of 1 s" \
	v project policy set default sprawl.stopped_after=1s sprawl.snapshot_after=1s
check "stop e1, snapshot it" sh -c "v stop e1 && v snapshot create e1 snap0"
wait_for "e1 listed as long stopped: disk cost, no CPU or memory held" sh -c \
	"v --format json sprawl | jq -e '.[] | select(.kind == \"stopped\" and .name == \"e1\" and .cost.cpu == 0 and .cost.memory == 0 and .cost.disk > 0)'"
wait_for "the never-restored snapshot listed" sh -c \
	"v --format json sprawl | jq -e '.[] | select(.kind == \"snapshot\" and .name == \"e1/snap0\" and .prunable == false)'"
check "restore it" v snapshot restore e1 snap0
check "a restored snapshot is no longer sprawl" sh -c \
	"! v --format json sprawl | jq -e '.[] | select(.kind == \"snapshot\")'"
check "delete e1" v delete --force e1
check "the image no instance uses is listed with its size" sh -c \
	"v --format json sprawl | jq -e '.[] | select(.kind == \"image\" and .cost.disk > 0 and .prunable == false)'"
check "prune leaves it while the policy does not allow images" sh -c \
	"v --format json prune | jq -e '.removed == []' && v image info busybox"
check "allowed: pruned" sh -c \
	"v project policy set default prune.allow=volume,image && v --format json prune | jq -e '[.removed[].kind] == [\"image\"]'"
check "image gone" sh -c "! v image info busybox"

stop_daemon
# this test's objects only (other vesselds may run on the host meanwhile):
# its mounts and its cgroups (which exist while a process is in them)
leftover=$(host_objects | grep -F -e "$T/" -f "$T/ids")
[ -z "$leftover" ] || echo "$leftover" | sed 's/^/    left: /'
check "no mount or cgroup of this test left" test -z "$leftover"
finish
