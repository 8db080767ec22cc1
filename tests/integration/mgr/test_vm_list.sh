#!/bin/bash
# test_vm_list.sh - listing VMs in one pass: the state of every VM in a
# listing comes from all their VMMs asked at once (driver_vm.c
# vm_state_many), and agrees with the one-instance answer: running,
# paused (Frozen) and stopped VMs next to a container.  Two VMMs that do
# not answer (SIGSTOP) hold a listing up once, for the listing's timeout
# (10 s), not once per VM for the control API's 30 s each: the listing
# returns well within 40 s and still shows them (their processes live).
# SKIPs (77) without the guest images.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
STOPPED=()
cont() { for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done; STOPPED=(); }
trap 'cont; cleanup' EXIT

start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
for i in 1 2 3; do
	check "launch vessel-guest v$i --vm" v launch vessel-guest v$i --vm -c limits.memory=128MiB
done
check "launch busybox c1" v launch busybox c1
check "pause v2" v pause v2
check "stop v3" v stop --force v3

one() { curl -sf --unix-socket "$SOCK" "http://vessel/1.0/instances/$1" | jq -r .metadata.status; }
all() { curl -sf --unix-socket "$SOCK" "http://vessel/1.0/instances?recursion=1" |
	jq -r '.metadata[] | "\(.name)=\(.status)"' | sort | tr '\n' ' '; }
check "the listing: v1 Running, v2 Frozen, v3 Stopped, c1 Running" \
	test "$(all)" = "c1=Running v1=Running v2=Frozen v3=Stopped "
for n in v1 v2 v3 c1; do
	check "$n: the listing agrees with its own answer" sh -c \
		"v list --format csv | grep -q \"^$n,[^,]*,$(one $n),\""
done
check "resume v2" v resume v2
check "v2 Running in the listing" sh -c "v list --format csv | grep -q '^v2,VM,Running,'"

# two VMMs that do not answer
for n in v1 v2; do
	pid=$(v list --format csv | awk -F, -v n=$n '$1 == n {print $5}')
	kill -STOP "$pid" && STOPPED+=("$pid")
done
start=$SECONDS
check "a listing with two stuck VMMs returns" sh -c "v list --format csv >$T/stuck.csv"
took=$((SECONDS - start))
check "within 40 s (one timeout for all: took ${took} s; one after another: 60 s)" test "$took" -lt 40
check "the stuck VMs are still listed Running" sh -c \
	"grep -q '^v1,VM,Running,' $T/stuck.csv && grep -q '^v2,VM,Running,' $T/stuck.csv"
cont
check "exec in v1 after SIGCONT" v exec v1 -- true
check "delete all" v delete --force v1 v2 v3 c1
finish
