#!/bin/bash
# vm-boot-net: guest and host ping each other over a TAP device.
#
# Everything happens in a network namespace this test creates
# (vessel-test-<pid>): the TAP device, the host-side address and the VMM
# (run with `ip netns exec`).  The namespace, and with it the TAP device,
# is deleted on every exit path.  No traffic leaves the namespace.
# SKIPs (77) without root, /dev/net/tun or guest images.  Arguments (e.g.
# --vmm=qemu) are passed to test_net.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ns=vessel-test-$$
tap=vstap0
export VESSEL_NET_TAP=$tap VESSEL_NET_HOST_IP=192.168.77.1 VESSEL_NET_GUEST_IP=192.168.77.2

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for netns/tap"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip (iproute2)"; exit 77; }
command -v ping >/dev/null || { echo "SKIP: no ping (iputils-ping)"; exit 77; }

cleanup() {
	ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; exit 1; }
set -e
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev "$tap" mode tap
ip -n "$ns" addr add "$VESSEL_NET_HOST_IP/24" dev "$tap"
ip -n "$ns" link set "$tap" up
set +e
ip netns exec "$ns" python3 "$here/test_net.py" "$@"
