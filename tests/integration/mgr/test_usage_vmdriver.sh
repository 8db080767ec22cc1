#!/bin/bash
# test_usage_vmdriver.sh - usage and advice of VMs launched through vesseld's
# VM driver, with real load in the guests (sampling every 0.5 s, 8 s of
# history enough):
#   vbig    limits.cpu=2 (this host's maximum) and 1 GiB, running a half-CPU
#           loop that holds 100 MiB: advised down on both limits; --apply
#           lowers them live (the balloon's target, the VMM cgroup's quota)
#   vsmall  128 MiB, a guest process holding all but ~8 MiB of what is
#           available: advised up, with the guest's available memory as
#           evidence (balloon statistics)
# and /1.0/metrics with the VMs' hart busy time and guest memory (promtool
# accepts it).  SKIPs (77) without the guest images or /dev/net/tun.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
for c in curl jq promtool; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1
start_daemon --vmm "$VMM" --guest-image "$G" --usage-interval 0.5 --advice-min-history 8 \
	--idle-after 3600 || exit 1
api() { curl -s --unix-socket "$SOCK" "http://vessel$1"; }

check "launch vbig --vm (2 CPUs, 1 GiB)" v launch vessel-guest vbig --vm -c limits.cpu=2 -c limits.memory=1GiB
check "launch vsmall --vm (128 MiB)" v launch vessel-guest vsmall --vm -c limits.cpu=1 -c limits.memory=128MiB
check "start vbig's job (100 MiB, half a CPU)" v exec vbig -- sh -c \
	'(dd if=/dev/zero bs=100M count=1 2>/dev/null | sleep 100000) >/dev/null 2>&1 &
	 (while :; do :; done) >/dev/null 2>&1 & p=$!
	 (while :; do kill -STOP $p; usleep 100000; kill -CONT $p; usleep 100000; done) >/dev/null 2>&1 &'
avail=$(v exec vsmall -- awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
check "vsmall has memory available ($avail MiB)" test "${avail:-0}" -gt 16
check "start vsmall's job (all but ~8 MiB)" v exec vsmall -- sh -c \
	"(dd if=/dev/zero bs=$((avail - 8))M count=1 2>/dev/null | sleep 100000) >/dev/null 2>&1 &"

advice_has() { # NAME KIND KEY
	api "/1.0/advice?instance=$1" >"$T/adv.json" &&
		jq -e --arg k "$2" --arg key "$3" \
			'.metadata | map(select(.kind == $k and .key == $key)) | length == 1' \
			"$T/adv.json" >/dev/null
}
wait_advice() { # DESCRIPTION NAME KIND KEY
	local deadline=$((SECONDS + 180))
	until advice_has "$2" "$3" "$4"; do
		[ $SECONDS -ge $deadline ] && break
		sleep 0.5
	done
	check "$1" advice_has "$2" "$3" "$4"
}
wait_advice "vbig: limits.memory advised down" vbig over-provisioned limits.memory
mem_down_ok() { # the recommendation covers the 100 MiB once a sample saw them
	api "/1.0/advice?instance=$1" >"$T/adv.json" && jq -e \
		'.metadata[] | select(.key == "limits.memory") | (.recommended | rtrimstr("MiB") | tonumber) as $r | $r >= 100 and $r <= 384' "$T/adv.json" >/dev/null
}
deadline=$((SECONDS + 120))
until mem_down_ok vbig || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
check "  ... to at least its 100 MiB and at most 384 MiB" mem_down_ok vbig
wait_advice "vbig: limits.cpu advised down (2 -> 1)" vbig over-provisioned limits.cpu
wait_advice "vsmall: limits.memory advised up (guest short of memory)" vsmall starved limits.memory
check "  ... the guest's available memory in the evidence" jq -e \
	'.metadata[] | select(.key == "limits.memory") | (.evidence | test("guest had only")) and .data.guest_total > 0' "$T/adv.json"

api /1.0/metrics >"$T/metrics.txt"
check "metrics: promtool check metrics" promtool check metrics <"$T/metrics.txt"
check "metrics: the VMs' hart busy time and guest memory" sh -c \
	'grep -q "^vessel_vm_hart_busy_seconds_total{name=\"vbig\",type=\"virtual-machine\"" "$0" &&
	 grep -q "^vessel_guest_memory_available_bytes{name=\"vsmall\",type=\"virtual-machine\"" "$0"' "$T/metrics.txt"

check "vessel advise vbig --apply" sh -c 'v advise vbig --apply >"$0/apply.txt" && grep -q "applied vbig: limits.memory=" "$0/apply.txt"' "$T"
newmem=$(v config get vbig limits.memory)
RID=$(runtime_id vbig)
check "limits.memory now $newmem" test "${newmem%MiB}" -lt 1024
balloon_at() { curl -s --unix-socket "$STATE/vms/$RID/api.sock" http://vmm/balloon | jq -e ".memory_mib == ${newmem%MiB}"; }
check "  ... the VMM's balloon target is it (live)" balloon_at
check "  ... limits.cpu now 1" test "$(v config get vbig limits.cpu)" = 1
check "vbig still running" test "$(status vbig)" = Running
for n in vbig vsmall; do v delete --force "$n" >/dev/null 2>&1; done
finish
