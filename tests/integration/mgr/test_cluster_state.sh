#!/bin/bash
# test_cluster_state.sh - what a vessel cluster keeps for all its members
# (issue 13), on the three namespaced vesseld of lib.sh's cluster_setup:
#  - instances: the cluster's copy of an instance carries its config,
#    devices and snapshots; with its member killed, the others still answer
#    info, list, state and snapshots from that copy (status Offline) and
#    refuse changes with a 503 naming the member, at once (no hang);
#  - policies and the audit log: one set of project policies for the
#    cluster (set on one member, in force on the others), written from
#    all three at once without a "database is locked" failure; one audit log,
#    its records naming their member, one hash chain that every member
#    verifies; a request forwarded to another member is recorded once;
#  - networks: one created on m1 is made on every member (bridge and
#    dnsmasq in each namespace), its name and subnet taken cluster-wide;
#    deleting it is refused while an instance of any member uses it, and
#    once done removes it everywhere;
#  - a join refused, with nothing changed, while the joiner has a network
#    on a subnet the cluster gives another, or a policy key set otherwise;
#    once fixed, its other networks and policies are merged.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl jq sqlite3 ip; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
cluster_setup || exit 1

check "m1: cluster init" vm 1 cluster init m1 10.77.0.1:9001
for n in 2 3; do
	mkdir -p "$T/s$n/cluster" && install -m 0600 "$T/s1/cluster/cluster.crt" "$T/s1/cluster/cluster.key" "$T/s$n/cluster/" || exit 1
done
check "m2 joins" vm 2 cluster join m2 10.77.0.2:9001 10.77.0.1:9001

# ---- a join whose policies or networks conflict with the cluster's ----
check "the cluster: network base, project shared's policy" sh -c \
	"VESSEL_SOCKET=$T/m1.sock v network create base --subnet 10.99.5.0/24 && VESSEL_SOCKET=$T/m2.sock v project policy set shared lifetime.max=7d"
check "m3 alone: network mine, project solo's policy, base2 on base's subnet" sh -c \
	"VESSEL_SOCKET=$T/m3.sock v network create mine --subnet 10.99.6.0/24 && VESSEL_SOCKET=$T/m3.sock v project policy set solo labels.required=owner && VESSEL_SOCKET=$T/m3.sock v network create base2 --subnet 10.99.5.0/24"
not_joined() { [ ! -e "$T/s3/cluster/member.json" ] && [ ! -e "$T/s3/cluster/raft" ] &&
	! vm 3 cluster list >/dev/null 2>&1 && [ "$(vm 1 cluster list --format json | jq length)" = 2 ] &&
	vm 3 network list --format csv | grep -q '^mine,' && vm 3 network list --format csv | grep -q '^base2,' &&
	! vm 1 network list --format csv | grep -q '^mine,'; }
check_fails "m3 joins: refused, its network base2 is on the cluster's subnet of base" \
	"network base2 has subnet 10.99.5.0/24, the cluster's network base" \
	vm 3 cluster join m3 10.77.0.3:9001 10.77.0.1:9001
check "  ... nothing changed (m3 no member, its networks as they were, not pushed)" not_joined
check "m3 deletes base2, sets project shared's lifetime.max=1d" sh -c \
	"VESSEL_SOCKET=$T/m3.sock v network delete base2 && VESSEL_SOCKET=$T/m3.sock v project policy set shared lifetime.max=1d"
check_fails "m3 joins: refused, its policy of project shared differs" \
	"policy of project shared sets lifetime.max=1d, the cluster's lifetime.max=7d" \
	vm 3 cluster join m3 10.77.0.3:9001 10.77.0.1:9001
check "  ... nothing changed" sh -c "[ ! -e '$T/s3/cluster/member.json' ] && [ \"\$(VESSEL_SOCKET=$T/m1.sock v cluster list --format json | jq length)\" = 2 ]"
check "m3 takes the cluster's value" vm 3 project policy set shared lifetime.max=7d
check "m3 joins" vm 3 cluster join m3 10.77.0.3:9001 10.77.0.1:9001
net_on() { vm $1 network list --format csv | grep -q "^$2,"; }
check "m3's network mine is the cluster's now: made on m1" wait_for "mine on m1" net_on 1 mine
check "  ... and on m2" wait_for "mine on m2" net_on 2 mine
check "the cluster's network base is made on m3" wait_for "base on m3" net_on 3 base
check "m3's policy of project solo is the cluster's (read on m1)" test \
	"$(curl -s --unix-socket "$T/m1.sock" http://x/1.0/projects/solo/policy | jq -r '.metadata.config["labels.required"]')" = owner
for n in 1 2 3; do
	check "m$n sees three members online" wait_for "m$n: 3 online" online $n 3
done

# ---- instances: the cluster's copy ----
leader=$(cstate 1 | jq -r .metadata.leader)
L=${leader#10.77.0.}
L=${L%%:*}
O=$(((L % 3) + 1))       # the owner of c1: not the leader (no election needed)
V=$((((L + 1) % 3) + 1)) # asked through
check "launch c1 on m$O through m$V, with a config key" \
	vm $V launch busybox c1 --target m$O -c user.note=first
check "snapshot c1 through m$V" vm $V snapshot create c1 snapA
check "config set c1 through m$L" vm $L config set c1 user.note=kept
# listed N: member N lists c1 from the cluster's copy with the last config
# (reported with the snapshot before it: one report carries both)
listed() { [ "$(curl -s --unix-socket "$T/m$1.sock" 'http://x/1.0/instances?recursion=1' |
	jq -r '.metadata[] | select(.name == "c1") | "\(.location) \(.status) \(.config["user.note"])"')" = "m$O Running kept" ]; }
check "m$V lists c1 with its config from the cluster" wait_for "c1 listed" listed $V
kill -9 "${DPIDS[$O]}"
wait "${DPIDS[$O]}" 2>/dev/null
DPIDS[$O]=
t0=$SECONDS
for n in $V $L; do
	check "m$n: info c1 answers from the copy, Offline, config and devices kept" sh -c \
		"VESSEL_SOCKET=$T/m$n.sock timeout 20 v info c1 --format json | jq -e '.name == \"c1\" and .status == \"Offline\" and .location == \"m$O\" and .config[\"user.note\"] == \"kept\" and (.devices | type == \"object\") and (has(\"snapshots\") | not)'"
	check "m$n: list shows c1 Offline on m$O (once m$O's heartbeat is old)" wait_for "c1 offline" sh -c \
		"VESSEL_SOCKET=$T/m$n.sock timeout 20 v list --format json | jq -e '.[] | select(.name == \"c1\") | .status == \"Offline\" and .location == \"m$O\"'"
	check "m$n: the API's listing has c1's config, Offline" sh -c \
		"curl -s --max-time 20 --unix-socket $T/m$n.sock 'http://x/1.0/instances?recursion=1' | jq -e '.metadata[] | select(.name == \"c1\") | .status == \"Offline\" and .config[\"user.note\"] == \"kept\"'"
done
check "snapshot list c1 through m$V: from the copy" sh -c \
	"[ \"\$(VESSEL_SOCKET=$T/m$V.sock timeout 20 v snapshot list c1 --format csv | cut -d, -f1)\" = snapA ]"
check "GET state of c1: Offline" sh -c \
	"curl -s --max-time 20 --unix-socket $T/m$V.sock http://x/1.0/instances/c1/state | jq -e '.metadata.status == \"Offline\" and .metadata.status_code == 112'"
code=$(curl -s --max-time 20 --unix-socket "$T/m$V.sock" -o "$T/put.out" -w '%{http_code}' -X PUT \
	-H 'Content-Type: application/json' -d '{"action": "stop", "force": true}' http://x/1.0/instances/c1/state)
check "stop c1 while m$O is down: 503 naming m$O ($code: $(jq -r .error "$T/put.out"))" sh -c \
	"[ $code = 503 ] && grep -q 'm$O is offline: instance c1 cannot be changed' '$T/put.out'"
check_fails "config set c1 while m$O is down: a precise error" "m$O is offline" \
	vm $L config set c1 user.note=changed
check_fails "snapshot c1 while m$O is down: a precise error" "m$O is offline" \
	vm $V snapshot create c1 snapB
check "all of that answered promptly ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 60
check "m$O restarts" start $O
check "m$O is Online again" wait_for "m$O online" online $V 3
back() { [ "$(vm $V list --format json | jq -r '.[] | select(.name == "c1") | .status')" = Running ]; }
check "c1 is Running again, seen from m$V" wait_for "c1 back" back
# ---- policies and the audit log, cluster-wide ----
pol() { curl -s --max-time 20 --unix-socket "$T/m$1.sock" "http://x/1.0/projects/$2/policy" | jq -r ".metadata.config[\"$3\"]"; }
check "m1 sets project teamx's policy" vm 1 project policy set teamx lifetime.max=7d labels.required=owner
for n in 2 3; do
	check "m$n reads the same policy" test "$(pol $n teamx lifetime.max)/$(pol $n teamx labels.required)" = 7d/owner
done
check_fails "m$V enforces it on creation (one set for the cluster)" "owner" \
	vm $V launch busybox c9 -c user.project=teamx
check "m2 changes it" vm 2 project policy set teamx lifetime.max=2d
check "m3 reads the change" test "$(pol 3 teamx lifetime.max)/$(pol 3 teamx labels.required)" = 2d/owner
audit() { curl -s --max-time 20 --unix-socket "$T/m$1.sock" http://x/1.0/audit; }
check "m1's audit log has m2's policy change, member m2" sh -c \
	"curl -s --unix-socket $T/m1.sock http://x/1.0/audit | jq -e '[.metadata[] | select(.path == \"/1.0/projects/teamx/policy\") | .member] == [\"m1\", \"m2\"]'"
check "records of all three members in one log, numbered without gaps" sh -c \
	"curl -s --unix-socket $T/m2.sock http://x/1.0/audit | jq -e '(.metadata | map(.member) | unique) == [\"m1\", \"m2\", \"m3\"] and ([.metadata[].seq] == [range(1; (.metadata | length) + 1)])'"
check "the launch of c1 through m$V (forwarded to m$O) is recorded once, by m$V" sh -c \
	"curl -s --unix-socket $T/m1.sock http://x/1.0/audit | jq -e '[.metadata[] | select(.method == \"POST\" and .path == \"/1.0/instances\" and .instance == \"c1\") | .member] == [\"m$V\"]'"
check "  ... and its snapshot too" sh -c \
	"curl -s --unix-socket $T/m1.sock http://x/1.0/audit | jq -e '[.metadata[] | select(.path == \"/1.0/instances/c1/snapshots\" and (.summary | test(\"snapA\"))) | .member] == [\"m$V\"]'"
# a few writes from two members at once: still one chain
racers=()
for i in 1 2 3 4 5; do
	vm 2 cluster describe m2 "race-$i" >/dev/null &
	racers+=($!)
	vm 3 cluster describe m3 "race-$i" >/dev/null &
	racers+=($!)
done
wait "${racers[@]}"
for n in 1 2 3; do
	check "m$n verifies the cluster's audit chain" sh -c "VESSEL_SOCKET=$T/m$n.sock v audit --verify | grep -q 'audit log intact'"
done
check "the concurrent writes are all recorded" sh -c \
	"curl -s --unix-socket $T/m1.sock http://x/1.0/audit | jq -e '[.metadata[] | select(.path | startswith(\"/1.0/cluster/members/m\")) | select(.summary | test(\"race-\"))] | length == 10'"
# policy writes (a transaction each) from all three members at once: the
# database is locked by another's now and then; retried, never refused
: >"$T/polfail"
polrace() {
	local n=$1 i
	for i in $(seq 1 12); do
		vm "$n" project policy set "race$n" lifetime.max=${i}d >/dev/null 2>>"$T/polfail" ||
			echo "m$n: write $i failed" >>"$T/polfail"
	done
}
racers=()
for n in 1 2 3; do
	polrace $n &
	racers+=($!)
done
wait "${racers[@]}"
check "36 policy writes from three members at once all succeed ($(sort "$T/polfail" | uniq -c | head -3 | tr '\n' ' '))" \
	test ! -s "$T/polfail"
check "  ... each member's last one is what the cluster holds" test \
	"$(pol 2 race1 lifetime.max)/$(pol 3 race2 lifetime.max)/$(pol 1 race3 lifetime.max)" = 12d/12d/12d

# ---- networks, cluster-wide ----
check "m1 creates network cn1" vm 1 network create cn1 --subnet 10.99.7.0/24
br=$(curl -s --unix-socket "$T/m1.sock" http://x/1.0/networks/cn1 | jq -r .metadata.bridge)
bridge_on() { netns $1 ip -o addr show dev "$br" | grep -q 'inet 10.99.7.1/24'; }
dnsmasq_on() { pgrep -f -- "--pid-file=$T/s$1/networks/cn1/" >/dev/null; }
for n in 1 2 3; do
	check "cn1's bridge $br with the gateway address on m$n" wait_for "bridge on m$n" bridge_on $n
	check "  ... and its dnsmasq on m$n" wait_for "dnsmasq on m$n" dnsmasq_on $n
	check "  ... listed by m$n" sh -c "VESSEL_SOCKET=$T/m$n.sock v network list --format csv | grep -q '^cn1,'"
done
check_fails "m2 creates cn1 too: the name is the cluster's" "already exists" \
	vm 2 network create cn1 --subnet 10.99.8.0/24
check_fails "m3 creates cn2 on cn1's subnet" "already exists" vm 3 network create cn2 --subnet 10.99.7.0/24
check "launch c2 on m3 on cn1 (made there by the cluster)" vm 1 launch busybox c2 --target m3 --network cn1
c2_copied() { curl -s --unix-socket "$T/m1.sock" 'http://x/1.0/instances?recursion=1' |
	jq -e '.metadata[] | select(.name == "c2") | .devices.eth0.network == "cn1"'; }
check "c2's NIC on cn1 is in the cluster's copy" wait_for "c2 copied" c2_copied
check_fails "m1 deletes cn1 while c2 on m3 uses it" "used by instance c2 on member m3" vm 1 network delete cn1
check "delete c2" vm 1 delete --force c2
gone() { ! bridge_on "$1" && ! dnsmasq_on "$1" && ! VESSEL_SOCKET=$T/m$1.sock v network list --format csv | grep -q '^cn1,'; }
check "m2 deletes cn1" wait_for "cn1 deleted" vm 2 network delete cn1
for n in 1 2 3; do
	check "cn1 is gone from m$n (bridge, dnsmasq, list)" wait_for "cn1 gone on m$n" gone $n
done

check "delete c1 through m$V" vm $V delete --force c1

finish_cluster
