#!/bin/bash
# test_leak.sh - the host-object leak check of issue 9: everything vesseld
# makes on the host (bridges, veths, TAPs, nft/iptables rules, dnsmasq
# processes, cgroups, overlay and volume mounts, loop devices, processes)
# is listed before and after a session that uses all of it, and the two
# lists are equal.  vesseld runs in a private network namespace, so every
# link and rule there is listed (not only the ones named like ours); the
# host's own namespace is listed too, for objects named like vesseld's.
# The session: a NAT and an isolated network, containers on them (exec,
# stop/start, pause/resume, restart, snapshot create/restore, a storage
# volume attached), a `kill -9` of vesseld and the reconciliation by the
# next one, a VM on the NAT network when vesseld has a VM driver (its TAP),
# then everything deleted.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in ip nft nsenter unshare losetup mkfs.ext4 jq; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1

# every object, one per line, sorted; ids that the kernel renumbers
# (ifindex, handles, counters) are left out
objects() {
	echo "## daemon netns: links"
	in_netns ip -o link | awk '{n = $2; sub(/@.*/, "", n); sub(/:$/, "", n); print n}' | sort
	echo "## daemon netns: addresses"
	in_netns ip -o addr | awk '{print $2, $3, $4}' | sort
	echo "## daemon netns: routes"
	in_netns ip route | sort
	echo "## daemon netns: nft"
	in_netns nft list ruleset 2>/dev/null | sed -E 's/ # handle [0-9]+//'
	echo "## daemon netns: iptables"
	in_netns iptables-save 2>/dev/null | grep -vE '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//' | sort
	echo "## host netns: vessel links and tables"
	ip -o link | sed -E 's/^[0-9]+: //; s/[:@].*//' | grep -E '^(vb|vv|vt|tap-?vs|vessel)' | sort
	nft list tables 2>/dev/null | grep -i vessel | sort
	echo "## mounts"
	grep -F "$T" /proc/self/mountinfo | awk '{print $5, $9}' | sort
	echo "## loop devices"
	losetup -a 2>/dev/null | grep -F "$T" | sort
	# cgroups and their processes: of this test's instances only (other
	# work on the host may run vesseld instances meanwhile)
	local id
	echo "## cgroups and processes"
	for id in $(sort -u "$T/ids" 2>/dev/null); do
		find /sys/fs/cgroup -maxdepth 3 -type d \( -name "$id" -o -name "vessel-vm-${id#vessel-}" \) 2>/dev/null
		grep -lE "/(vessel-vm-)?${id#vessel-}\$|/$id\$" /proc/[0-9]*/cgroup 2>/dev/null
	done | sort
	pgrep -a -f -- "$STATE/" 2>/dev/null | sed 's/^[0-9]* //' | sort
}
: >"$T/ids"
before=$(objects)
# ids: remember the instances' runtime ids (their cgroups are listed)
ids() { sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances" >>"$T/ids"; }

start_daemon || exit 1
check "network n1 (NAT)" v network create n1 --subnet 10.203.9.0/24
check "network n2 (isolated)" v network create n2 --isolated
check "launch a on n1" v launch busybox a --network n1
check "launch b on n1" v launch busybox b --network n1
check "launch c on n2" v launch busybox c --network n2
check "a pings b by name" v exec a -- ping -c 1 -W 5 b
check "volume create" v storage volume create vol --size 16MiB
check "init d (volume at /data)" sh -c "v init busybox d --network n2 && v storage volume attach vol d /data && v start d"
check "d writes to its volume" v exec d -- sh -c 'echo x >/data/f'
check "stop and start a" sh -c "v stop a && v start a"
check "pause and resume b" sh -c "v pause b && v resume b"
check "restart c" v restart c
check "snapshot a, restore it" sh -c "v snapshot create a s1 && v snapshot restore a s1"
check "exec after the restore" test "$(v exec a -- echo ok)" = ok
ids
# the listing sees what the session made (so an equal "after" means gone)
mid=$(objects)
br1=$(v info n1 --format json 2>/dev/null | jq -r .bridge 2>/dev/null)
[ -n "$br1" ] && [ "$br1" != null ] || br1=$(v network info n1 --format json | jq -r .bridge)
ida=$(runtime_id a)
check "listed: n1's bridge" grep -qx "$br1" <<<"$mid"
check "listed: a veth" grep -q '^vv' <<<"$mid"
check "listed: n1's nft table" grep -q "table ip vessel-$br1" <<<"$mid"
echo "$mid" >"$T/mid"
check "listed: two dnsmasq" test "$(grep -c 'dnsmasq' "$T/mid")" = 2
check "listed: a's root mount" grep -q "containers/$ida/rootfs overlay" "$T/mid"
check "listed: a's cgroups" grep -q "/$ida\$" "$T/mid"
check "listed: a's processes" grep -q '^/proc/[0-9]*/cgroup$' "$T/mid"
check "listed: d's volume's loop device" grep -q 'vol.raw' "$T/mid"

# kill -9 of vesseld, the next one reconciles; d is killed meanwhile
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
for p in $(grep -lE "/$(runtime_id d)\$" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done
start_daemon || exit 1
check "after the restart: a still answers" test "$(v exec a -- echo ok)" = ok
wait_for "d reconciled to Stopped" sh -c "[ \"\$(v list --format csv | awk -F, '\$1 == \"d\" {print \$3}')\" = Stopped ]"
check "d is Stopped" test "$(status d)" = Stopped

if v image info vessel-guest >/dev/null 2>&1 && v launch vessel-guest vm1 --vm --network n1 >"$T/vm.out" 2>&1; then
	ids
	check "VM on n1 answers" wait_for "vm1 exec" v exec vm1 -- true
	check "delete the VM" v delete --force vm1
else
	echo "note: no VM part (vesseld has no VM driver: $(head -1 "$T/vm.out" 2>/dev/null))"
fi

ids
check "delete the containers" v delete --force a b c d
check "detach and delete the volume" sh -c "v storage volume delete vol"
check "delete the networks" sh -c "v network delete n1 && v network delete n2"
check "nothing listed" test -z "$(v list --format csv)"
stop_daemon
after=$(objects)
CHECKS=$((CHECKS + 1))
if [ "$before" = "$after" ]; then
	echo "ok: host objects before and after are equal ($(echo "$before" | grep -vc '^##') listed)"
else
	echo "FAIL: host objects differ (< before, > after):"
	diff <(echo "$before") <(echo "$after") | sed 's/^/    /' | head -40
	FAILS=$((FAILS + 1))
fi
finish
