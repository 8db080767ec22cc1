# lib.sh - shared set-up of the manager tests (sourced): a private vesseld
# per test (temp state dir and socket), the vessel CLI pointed at it, check
# helpers, a snapshot of the host objects vesseld makes (overlay mounts,
# vessel-<16 hex> cgroups, processes in them), and a cleanup trap that
# deletes every instance, stops the daemon and removes everything.
set -uo pipefail

VESSELD=${VESSEL_VESSELD:?run through meson test}
VESSEL=${VESSEL_VESSEL:?run through meson test}
RUNTIME=${VESSEL_VESSEL_RUNTIME:?run through meson test}
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root" >&2
	exit 77
fi
[ -x /bin/busybox ] || { echo "SKIP: busybox-static missing" >&2; exit 77; }

T=$(mktemp -d /tmp/vessel-mgr.XXXXXX)
chmod 755 "$T"
STATE=$T/state
SOCK=$T/vessel.sock
export VESSEL_SOCKET=$SOCK
DPID=
HOLDER=
DAEMON_PREFIX=()
FAILS=0
CHECKS=0

# `v` is the CLI, also inside `sh -c` strings
mkdir -p "$T/bin"
ln -s "$(readlink -f "$VESSEL")" "$T/bin/v"
export PATH=$T/bin:$PATH
v() { "$VESSEL" "$@"; }

# private_netns: later daemons run in a private network namespace (held by
# a sleeping process, so a restarted vesseld finds the same one)
private_netns() {
	unshare --net sleep infinity &
	HOLDER=$!
	local deadline=$((SECONDS + 30))
	until [ "$(readlink /proc/$HOLDER/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do
		[ $SECONDS -ge $deadline ] && { echo "no private netns"; return 1; }
		sleep 0.05
	done
	DAEMON_PREFIX=(nsenter --net=/proc/$HOLDER/ns/net)
}
# in_netns COMMAND...: run in the daemon's network namespace
in_netns() { "${DAEMON_PREFIX[@]}" "$@"; }

# start_daemon: vesseld in the background, wait (generously) until it answers
start_daemon() {
	# no VM image unless the test asks (--guest-image DIR): image lists stay as the tests expect
	"${DAEMON_PREFIX[@]}" "$VESSELD" --state-dir "$STATE" --socket "$SOCK" --runtime "$RUNTIME" \
		--guest-image none "$@" \
		>>"$T/vesseld.log" 2>&1 &
	DPID=$!
	local deadline=$((SECONDS + 120))
	until v list >/dev/null 2>&1; do
		if ! kill -0 "$DPID" 2>/dev/null; then
			echo "vesseld died:"; cat "$T/vesseld.log"; return 1
		fi
		[ $SECONDS -ge $deadline ] && { echo "vesseld did not answer"; return 1; }
		sleep 0.1
	done
}

stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill "$DPID" 2>/dev/null
	local deadline=$((SECONDS + 60)) rc
	while kill -0 "$DPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	rc=$?
	DPID=
	CHECKS=$((CHECKS + 1))
	if [ "$rc" != 0 ]; then
		echo "FAIL: vesseld exited with status $rc on SIGTERM"
		tail -30 "$T/vesseld.log" | sed 's/^/    /'
		FAILS=$((FAILS + 1))
	fi
}

# host objects of the manager: overlay mounts of instance roots, cgroups
# named vessel-<16 hex>, and the processes inside those cgroups.  The
# instances of another vesseld (another state dir: other work on the host,
# e.g. a second test run) are left out, known by their root's mount.
host_objects() {
	local others
	others=$(grep -E ' overlay .*upperdir=[^,]*/containers/vessel-[0-9a-f]{16}/upper' /proc/self/mountinfo |
		grep -vF "upperdir=$STATE/" | grep -oE 'vessel-[0-9a-f]{16}/upper' | cut -d/ -f1 | sort -u)
	{
		grep -E ' overlay .*upperdir=[^,]*/containers/vessel-[0-9a-f]{16}/upper' /proc/self/mountinfo |
			awk '{print "mount", $5}'
		find /sys/fs/cgroup -maxdepth 2 -type d -regextype posix-extended \
			-regex '.*/vessel-[0-9a-f]{16}' 2>/dev/null | sed 's/^/cgroup /'
		grep -HE '/vessel-[0-9a-f]{16}$' /proc/[0-9]*/cgroup 2>/dev/null |
			sed -E 's|^(/proc/[0-9]+/cgroup):.*/(vessel-[0-9a-f]{16})$|process \1 \2|'
	} | grep -vF "${others:-//none//}" | sed -E 's/^(process [^ ]+) .*/\1/' | sort -u
}

cleanup() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		for n in $(v list --format csv 2>/dev/null | cut -d, -f1); do
			v delete --force "$n" >/dev/null 2>&1
		done
	fi
	stop_daemon
	# whatever a failed test left: containers under the runtime root, mounts
	if [ -d "$STATE/runtime" ]; then
		for id in $(ls "$STATE/runtime" 2>/dev/null); do
			"$RUNTIME" --root "$STATE/runtime" delete --force "$id" >/dev/null 2>&1
		done
	fi
	grep -o " $T[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	# dnsmasq processes of this state dir (they outlive a killed vesseld)
	for p in $(pgrep -f -- "--pid-file=$STATE/" 2>/dev/null); do kill "$p" 2>/dev/null; done
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
	local desc=$1
	shift
	CHECKS=$((CHECKS + 1))
	if "$@" >"$T/out" 2>&1; then
		echo "ok: $desc"
	else
		echo "FAIL: $desc"
		sed 's/^/    /' "$T/out" | head -20
		FAILS=$((FAILS + 1))
	fi
}

# check_fails DESCRIPTION PATTERN COMMAND...: the command fails, prints one
# line on stderr matching PATTERN
check_fails() {
	local desc=$1 pat=$2
	shift 2
	CHECKS=$((CHECKS + 1))
	if "$@" >"$T/out" 2>"$T/err"; then
		echo "FAIL: $desc (succeeded)"; FAILS=$((FAILS + 1)); return
	fi
	if [ "$(wc -l <"$T/err")" != 1 ] || ! grep -qE -- "$pat" "$T/err"; then
		echo "FAIL: $desc (stderr not one line matching $pat)"
		sed 's/^/    /' "$T/err" | head -5
		FAILS=$((FAILS + 1)); return
	fi
	echo "ok: $desc"
}

# status NAME: the instance's status column
status() { v list --format csv | awk -F, -v n="$1" '$1 == n {print $3}'; }

# wait_for DESCRIPTION COMMAND...: poll (generous deadline) until it succeeds
wait_for() {
	local desc=$1
	shift
	local deadline=$((SECONDS + 60))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && { echo "timed out: $desc"; return 1; }
		sleep 0.1
	done
}

# require_guest_images: G is the guest recipe's image directory
# (VESSEL_GUEST_DIR), or SKIP (77) without it
require_guest_images() {
	G=${VESSEL_GUEST_DIR:-}
	[ -n "$G" ] && [ -f "$G/Image" ] && [ -f "$G/disk.qcow2" ] && return 0
	echo "SKIP: no guest images (set VESSEL_GUEST_DIR, see guest/build.sh)"
	return 77
}

runtime_id() { sqlite3 "$STATE/vessel.db" "SELECT runtime_id FROM instances WHERE name = '$1'"; }

finish() {
	CHECKS=$((CHECKS + 1))
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vesseld.log"; then
		echo "FAIL: sanitizer report from vesseld"
		grep -A20 -E 'ERROR: |runtime error:' "$T/vesseld.log" | head -60 | sed 's/^/    /'
		FAILS=$((FAILS + 1))
	fi
	echo "$((CHECKS - FAILS))/$CHECKS checks passed"
	[ "$FAILS" = 0 ]
}

# ---- three cluster members, each vesseld in its own network namespace
# (test_cluster.sh, test_cluster_state.sh) ----
HOLDERS=() # network namespace holders: switch, m1, m2, m3
DPIDS=()   # vesseld of m1..m3 (index 1..3)
# netns N COMMAND...: run in namespace N (0 the switch, 1..3 the members)
netns() { local n=$1; shift; nsenter --net=/proc/${HOLDERS[$n]}/ns/net "$@"; }
vm() { local n=$1; shift; VESSEL_SOCKET=$T/m$n.sock "$VESSEL" "$@"; }

cluster_cleanup() {
	for n in 1 2 3; do
		if [ -n "${DPIDS[$n]:-}" ] && kill -0 "${DPIDS[$n]}" 2>/dev/null; then
			for i in $(vm $n list --format json 2>/dev/null |
				jq -r --arg m m$n '.[] | select(.location == $m) | .name' 2>/dev/null); do
				vm $n delete --force "$i" >/dev/null 2>&1
			done
		fi
	done
	for n in 1 2 3; do
		[ -n "${DPIDS[$n]:-}" ] && kill "${DPIDS[$n]}" 2>/dev/null
	done
	for n in 1 2 3; do
		local p=${DPIDS[$n]:-}
		[ -n "$p" ] || continue
		local deadline=$((SECONDS + 30))
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for n in 1 2 3; do # instances a killed daemon left running
		local rt=$T/s$n/runtime
		[ -d "$rt" ] || continue
		for id in $(ls "$rt" 2>/dev/null); do
			"$RUNTIME" --root "$rt" delete --force "$id" >/dev/null 2>&1
		done
	done
	for n in 1 2 3; do # dnsmasq of the members' networks (they outlive a killed vesseld)
		for p in $(pgrep -f -- "--pid-file=$T/s$n/" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for h in "${HOLDERS[@]}"; do kill "$h" 2>/dev/null; done
	cleanup # lib.sh: mounts under $T, $T itself
}

holder() {
	unshare --net sleep infinity &
	local h=$! deadline=$((SECONDS + 30))
	until [ "$(readlink /proc/$h/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]; do
		[ $SECONDS -ge $deadline ] && { echo "no private netns"; return 1; }
		sleep 0.05
	done
	HOLDERS+=("$h")
}

# start N: vesseld of member N in its namespace, waited for
start() {
	local n=$1
	nsenter --net=/proc/${HOLDERS[$n]}/ns/net "$VESSELD" --state-dir "$T/s$n" \
		--socket "$T/m$n.sock" --runtime "$RUNTIME" --listen 10.77.0.$n:8443 \
		>>"$T/vesseld-m$n.log" 2>&1 &
	DPIDS[$n]=$!
	local deadline=$((SECONDS + 120))
	until vm $n list >/dev/null 2>&1; do
		if ! kill -0 "${DPIDS[$n]}" 2>/dev/null; then
			echo "vesseld m$n died:"; tail -20 "$T/vesseld-m$n.log"; return 1
		fi
		[ $SECONDS -ge $deadline ] && { echo "vesseld m$n did not answer"; return 1; }
		sleep 0.1
	done
}

# sanitizers: no report from any vesseld; the summary line and status
finish_cluster() {
	for n in 1 2 3; do
		CHECKS=$((CHECKS + 1))
		if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vesseld-m$n.log"; then
			echo "FAIL: sanitizer report from vesseld m$n"
			grep -A20 -E 'ERROR: |runtime error:' "$T/vesseld-m$n.log" | head -40 | sed 's/^/    /'
			FAILS=$((FAILS + 1))
		fi
	done
	echo "$((CHECKS - FAILS))/$CHECKS checks passed"
	[ "$FAILS" = 0 ]
}

cstate() { curl -s --unix-socket "$T/m$1.sock" http://x/1.0/cluster; }
online() { # online VIA N: member VIA lists N members Online
	[ "$(vm "$1" cluster list --format json | jq '[.[] | select(.status == "Online")] | length')" = "$2" ]
}
desc() { [ "$(vm "$1" cluster list --format json | jq -r --arg m "$2" '.[] | select(.server_name == $m) | .description')" = "$3" ]; }

# oci_layout DIR MARKER: a one-layer OCI layout of a busybox root holding
# /marker (MARKER), its Cmd a long sleep
oci_layout() {
	local L=$1 R=$T/root-$2
	"$(dirname "${BASH_SOURCE[0]}")/../ct/mkrootfs.sh" "$R" >/dev/null || return 1
	echo "$2" >"$R/marker"
	mkdir -p "$L/blobs/sha256"
	tar -C "$R" -czf "$T/layer-$2.tgz" . || return 1
	blob() { local h; h=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$L/blobs/sha256/$h"; echo "sha256:$h $(stat -c %s "$1")"; }
	read -r dl sl < <(blob "$T/layer-$2.tgz")
	jq -n '{architecture:"amd64", os:"linux", config:{Cmd:["/bin/sh","-c","trap \"exit 0\" TERM; while :; do sleep 3600 & wait $!; done"]}, rootfs:{type:"layers", diff_ids:[]}}' >"$T/config-$2.json"
	read -r dc sc < <(blob "$T/config-$2.json")
	jq -n --arg dc "$dc" --argjson sc "$sc" --arg dl "$dl" --argjson sl "$sl" \
		'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
		  config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$dc, size:$sc},
		  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", digest:$dl, size:$sl}]}' >"$T/manifest-$2.json"
	read -r dm sm < <(blob "$T/manifest-$2.json")
	jq -n --arg dm "$dm" --argjson sm "$sm" \
		'{schemaVersion:2, manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$dm, size:$sm}]}' >"$L/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
}
# cluster_setup: the namespaces (a switch and m1..m3 on 10.77.0.0/24) and the
# three vesseld, answering; cluster_cleanup on exit
cluster_setup() {
	trap cluster_cleanup EXIT
	for n in 0 1 2 3; do holder || return 1; done
	netns 0 ip link add br0 type bridge || return 1
	netns 0 ip link set br0 up || return 1
	for n in 1 2 3; do
		netns 0 ip link add sw$n type veth peer name eth0 netns /proc/${HOLDERS[$n]}/ns/net || return 1
		netns 0 ip link set sw$n master br0 up || return 1
		netns $n ip link set lo up || return 1
		netns $n ip addr add 10.77.0.$n/24 dev eth0 || return 1
		netns $n ip link set eth0 up || return 1
	done
	for n in 1 2 3; do start $n || return 1; done
}
