#!/bin/bash
# test_network.sh - managed networks, inside a private network namespace
# (vesseld runs in it; nothing touches the host's network): a NAT network
# and an isolated one (bridge, dnsmasq, nftables rules), containers with a
# NIC on them, stable addresses, name resolution through dnsmasq (ping by
# name), refusal to delete a network in use, a `kill -9` of vesseld with
# dnsmasq surviving and found again (not duplicated), and at the end no
# bridge, rule table, dnsmasq or file left.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for t in ip nft dnsmasq nsenter unshare; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done

private_netns || exit 1
start_daemon || exit 1
check "network create n1 (NAT)" v network create n1 --subnet 10.201.7.0/24
check "network create n2 (isolated)" v network create n2 --isolated
check_fails "bad subnet" "host bits set" v network create n3 --subnet 10.1.2.3/24
check_fails "duplicate network" "already exists" v network create n1
check_fails "unknown network" "network nope not found" v launch busybox x --network nope
check "list" sh -c "v network list --format csv | cut -d, -f1 | tr '\n' ' ' | grep -qx 'n1 n2 '"
br1=$(v network info n1 --format json | jq -r .bridge)
br2=$(v network info n2 --format json | jq -r .bridge)
check "bridge n1 exists" in_netns ip link show dev "$br1"
check "NAT rule for n1" sh -c "${DAEMON_PREFIX[*]} nft list table ip vessel-$br1 | grep -q masquerade"
check "isolation rules for n2" sh -c "${DAEMON_PREFIX[*]} nft list table ip vessel-$br2 | grep -q drop"
check "one dnsmasq per network" test "$(pgrep -fc -- "--pid-file=$STATE/networks/")" = 2

check "launch a on n1" v launch busybox a --network n1
check "launch b on n1" v launch busybox b --network n1
check "launch c on n2" v launch busybox c --network n2
addr_a=$(v info a --format json | jq -r '.devices.eth0["ipv4.address"]')
check "a's address recorded" test "$addr_a" = 10.201.7.2
check "a's eth0 has it" sh -c "v exec a -- ip -4 addr show eth0 | grep -q 'inet $addr_a/24'"
check "a's MAC is the recorded one" sh -c "v exec a -- cat /sys/class/net/eth0/address | grep -qx \$(v info a --format json | jq -r .devices.eth0.hwaddr)"
check "resolv.conf names the gateway" sh -c "v exec a -- cat /etc/resolv.conf | grep -qx 'nameserver 10.201.7.1'"
check "a pings b by name" v exec a -- ping -c 1 -W 5 b
check "b pings a by name" v exec b -- ping -c 1 -W 5 a
check_fails "network in use cannot be deleted" "is used by instance" v network delete n1
check "stop and start a" sh -c "v stop a && v start a"
check "same address after a restart" sh -c "v exec a -- ip -4 addr show eth0 | grep -q 'inet $addr_a/24'"
check "rename b to b2: the name follows" sh -c "v stop b && v rename b b2 && v start b2 && v exec a -- ping -c 1 -W 5 b2"

kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
check "dnsmasq survives kill -9 of vesseld" test "$(pgrep -fc -- "--pid-file=$STATE/networks/")" = 2
start_daemon || exit 1
check "no second dnsmasq after the restart" test "$(pgrep -fc -- "--pid-file=$STATE/networks/")" = 2
check "names still resolve" v exec a -- ping -c 1 -W 5 b2

check "delete the instances" v delete --force a b2 c
check "delete n1" v network delete n1
check "delete n2" v network delete n2
check "bridges gone" sh -c "! ${DAEMON_PREFIX[*]} ip link show dev $br1 && ! ${DAEMON_PREFIX[*]} ip link show dev $br2"
check "rule tables gone" sh -c "! ${DAEMON_PREFIX[*]} nft list tables | grep -q vessel-"
check "no dnsmasq left" test "$(pgrep -fc -- "--pid-file=$STATE/networks/")" = 0
check "no network files left" test -z "$(find "$STATE/networks" -mindepth 1 2>/dev/null)"
check "no veth left" sh -c "! ${DAEMON_PREFIX[*]} ip -o link | grep -q ' vv'"
stop_daemon
finish
