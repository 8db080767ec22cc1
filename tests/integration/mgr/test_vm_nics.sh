#!/bin/bash
# test_vm_nics.sh - several NICs per instance, in a private network
# namespace: a VM launched with `--network n1 --network n2` gets two
# virtio-net devices whose guest interfaces eth0 and eth1 hold the NICs'
# addresses (eth0 from the kernel command line, eth1 set up through the
# agent); a container on the same two networks (in the other order) gets
# eth0 and eth1 too; each pings the other over both networks; the API
# lists both NICs; bad device lists are refused (a gap, more than four,
# an unknown network) and change nothing; a restart and a stateful
# snapshot's restore bring both NICs back; NICs and volumes beyond a
# VM's free virtio slots (3) are refused with a clear message and leave
# nothing behind; after delete no TAP,
# VM directory or VMM is left.  SKIPs (77) without the guest images or
# /dev/net/tun.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }

private_netns || exit 1
vm_objects() {
	in_netns ip -br link | awk '$1 ~ /^vt/ {print "tap", $1}' | sort
	ls "$STATE/vms" 2>/dev/null | sed 's/^/vmdir /'
	pgrep -f -- "[-]-api $STATE/" | sed 's/^/vmm /' | sort
}
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
vm_objects >"$T/before"

check "network create n1" v network create n1 --subnet 10.231.1.0/24
check "network create n2" v network create n2 --subnet 10.231.2.0/24

# ---- refused: nothing is created ----
check_fails "more than 4 NICs (CLI)" 'at most 4 NICs' v launch vessel-guest x --vm \
	--network n1 --network n2 --network n1 --network n2 --network n1
check_fails "an unknown network for eth1" 'network nope not found' \
	v launch vessel-guest x --vm --network n1 --network nope
# post BODY: POST /1.0/instances, the status code on stdout, the body in $T/body
post() { curl -s --unix-socket "$SOCK" -o "$T/body" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' -d "$1" http://vessel/1.0/instances; }
src='"type":"virtual-machine","source":{"type":"image","alias":"vessel-guest"}'
code=$(post "{\"name\":\"x\",$src,\"devices\":{\"eth1\":{\"type\":\"nic\",\"network\":\"n1\"}}}")
check "eth1 without eth0: 400" sh -c "[ $code = 400 ] && grep -q 'eth0 is missing' $T/body"
code=$(post "{\"name\":\"x\",$src,\"devices\":{\"eth4\":{\"type\":\"nic\",\"network\":\"n1\"}}}")
check "eth4: 400" sh -c "[ $code = 400 ] && grep -q 'eth0 to eth3' $T/body"
code=$(post "{\"name\":\"x\",$src,\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"n1\"},\"eth1\":{\"type\":\"disk\",\"network\":\"n1\"}}}")
check "eth1 of type disk: 400" sh -c "[ $code = 400 ] && grep -q 'devices.eth1: expected type nic' $T/body"
check_fails "a VM with 4 NICs" 'a VM has at most 3 NICs' v launch vessel-guest x --vm \
	--network n1 --network n2 --network n1 --network n2
check "no instance x was made" sh -c "! v list --format csv | grep -q '^x,'"

# ---- a VM with two NICs ----
check "launch vessel-guest v1 --vm --network n1 --network n2" \
	v launch vessel-guest v1 --vm --network n1 --network n2
RID=$(runtime_id v1)
check "two TAPs on the two bridges" sh -c "[ \$(${DAEMON_PREFIX[*]} ip -br link | grep -c '^vt${RID:7:10}') = 2 ]"
check "the VMM has two --net" sh -c "[ \$(tr '\\0' '\\n' </proc/\$(cat $STATE/vms/$RID/vmm.pid)/cmdline | grep -cx -- --net) = 2 ]"
check "guest eth0 has n1's address" sh -c "v exec v1 -- ip -4 -o addr show dev eth0 | grep -q 'inet 10.231.1.2/24'"
check "guest eth1 has n2's address" sh -c "v exec v1 -- ip -4 -o addr show dev eth1 | grep -q 'inet 10.231.2.2/24'"
check "the default route is through eth0" sh -c "v exec v1 -- ip route | grep -q 'default via 10.231.1.1 dev eth0'"
check "the VM reaches n1's gateway" v exec v1 -- ping -c 1 -W 10 10.231.1.1
check "the VM reaches n2's gateway" v exec v1 -- ping -c 1 -W 10 10.231.2.1
check "the API lists eth0 and eth1" sh -c "curl -sf --unix-socket $SOCK http://vessel/1.0/instances/v1 | jq -e '
	.metadata.devices.eth0.network == \"n1\" and .metadata.devices.eth0[\"ipv4.address\"] == \"10.231.1.2\" and
	.metadata.devices.eth1.network == \"n2\" and .metadata.devices.eth1[\"ipv4.address\"] == \"10.231.2.2\"'"

# ---- a container on both networks, the other way round ----
check "launch busybox c1 --network n2 --network n1" v launch busybox c1 --network n2 --network n1
check "container eth0 on n2, eth1 on n1" sh -c "v exec c1 -- ip -4 -o addr show dev eth0 | grep -q 'inet 10.231.2.3/24' && \
	v exec c1 -- ip -4 -o addr show dev eth1 | grep -q 'inet 10.231.1.3/24'"
check "the VM pings the container over n1 (its eth0)" v exec v1 -- ping -c 1 -W 10 10.231.1.3
check "the VM pings the container over n2 (its eth1)" v exec v1 -- ping -c 1 -W 10 10.231.2.3
check "the container pings the VM's eth1" v exec c1 -- ping -c 1 -W 10 10.231.2.2

# ---- restart: the same NICs again ----
check "stop v1" v stop --force v1
check "its TAPs are gone" sh -c "! ${DAEMON_PREFIX[*]} ip -br link | grep -q '^vt${RID:7:10}'"
check "a 32MiB volume" v storage volume create vol1 --size 32MiB
check "attach it and a second to stopped v1" sh -c "v storage volume create vol2 --size 32MiB && \
	v storage volume attach vol1 v1 /data1 && v storage volume attach vol2 v1 /data2"
check_fails "2 NICs and 2 volumes do not fit a VM's virtio slots" 'at most 3 together' v start v1
check "v1 stayed Stopped, no TAP left" sh -c "v list --format csv | grep -q '^v1,VM,Stopped,' && \
	! ${DAEMON_PREFIX[*]} ip -br link | grep -q '^vt${RID:7:10}'"
check "detach vol2" v storage volume detach vol2 v1
check "start v1" v start v1
check "the volume is mounted next to the NICs" v exec v1 -- grep -q ' /data1 ' /proc/mounts
check "eth1 again after the restart" sh -c "v exec v1 -- ip -4 -o addr show dev eth1 | grep -q 'inet 10.231.2.2/24'"

check "the VMM reports both TAPs" sh -c "curl -sf --unix-socket $STATE/vms/$RID/api.sock http://vmm/vm | \
	jq -e '.config.taps | length == 2'"

# ---- a stateful snapshot keeps both NICs (the snapshot's machine has them) ----
check "snapshot create --stateful" v snapshot create v1 s1 --stateful
check "snapshot restore (stateful)" v snapshot restore v1 s1
check "the restored VMM got both NICs from the snapshot" sh -c "curl -sf --unix-socket $STATE/vms/$RID/api.sock http://vmm/vm | \
	jq -e '.config.taps | length == 2'"
check "eth1 works after the restore" v exec v1 -- ping -c 1 -W 10 10.231.2.3

check "delete v1 and c1" v delete --force v1 c1
check "volume delete vol1 vol2" sh -c "v storage volume delete vol1 && v storage volume delete vol2"
check "network delete n1 n2" sh -c "v network delete n1 && v network delete n2"
vm_objects >"$T/after"
check "TAPs, VM directories and VMMs equal before and after" diff "$T/before" "$T/after"
finish
