# lib.sh - shared set-up for the vessel-runtime integration tests (sourced).
# Builds a busybox rootfs in a temp dir, gives each test a fresh --root, and
# makes bundles from `vessel-runtime spec` edited with jq.  Everything is
# removed on exit (containers deleted with --force first).
set -uo pipefail

R=${VESSEL_VESSEL_RUNTIME:?run through meson test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root" >&2
	exit 77
fi
command -v jq >/dev/null || { echo "SKIP: jq missing" >&2; exit 77; }

T=$(mktemp -d /tmp/vessel-ct.XXXXXX)
chmod 755 "$T" # user-namespace roots must reach the rootfs
ROOT=$T/state
# every bundle gets its own cgroup under a per-run parent, so concurrent runs
# of these tests (release and ASan, two worktrees) never share a cgroup
CGP=vessel-test-${T##*.}
FAILS=0
CHECKS=0

cleanup() {
	if [ -d "$ROOT" ]; then
		for id in $(ls "$ROOT" 2>/dev/null); do
			"$R" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
		done
	fi
	umount "$T/hostmnt" 2>/dev/null
	local d
	for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/"$CGP"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

"$HERE/mkrootfs.sh" "$T/rootfs" || exit $?

rt() { "$R" --root "$ROOT" "$@"; }

# bundle NAME [JQ-FILTER]: a bundle using the shared rootfs, no terminal.
bundle() {
	local b=$T/$1 filter=${2:-.}
	mkdir -p "$b"
	"$R" spec --bundle "$b" || return 1
	jq --arg rootfs "$T/rootfs" --arg cg "/$CGP/$1" \
		".root.path = \$rootfs | .process.terminal = false | .linux.cgroupsPath = \$cg |
		 .mounts += [{destination: \"/tmp\", type: \"tmpfs\", source: \"tmpfs\",
		              options: [\"nosuid\", \"nodev\", \"mode=1777\"]}] | $filter" \
		"$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
	echo "$b"
}

# args JSON-ARRAY-OF-STRINGS helper for jq filters
sh_args() { jq -cn --arg c "$1" '["sh", "-c", $c]'; }

check() { # check DESCRIPTION COMMAND...
	local desc=$1
	shift
	CHECKS=$((CHECKS + 1))
	if "$@"; then
		echo "ok - $desc"
	else
		echo "not ok - $desc"
		FAILS=$((FAILS + 1))
	fi
}

eq() { # eq EXPECTED ACTUAL
	[ "$1" = "$2" ] && return 0
	echo "    expected: [$1]" >&2
	echo "    actual:   [$2]" >&2
	return 1
}

contains() { # contains HAYSTACK NEEDLE
	case "$1" in *"$2"*) return 0 ;; esac
	echo "    [$1] does not contain [$2]" >&2
	return 1
}

cgroup_exists() { # cgroup_exists RELPATH: in any hierarchy
	local d
	for d in /sys/fs/cgroup/*/; do
		[ -d "$d/$1" ] && return 0
	done
	[ -d "/sys/fs/cgroup/$1" ] && [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && return 0
	return 1
}

no_cgroup() { ! cgroup_exists "$1"; }

# wait_status ID STATUS: poll `state` for up to 5 s
wait_status() {
	for _ in $(seq 100); do
		[ "$(rt state "$1" 2>/dev/null | jq -r .status)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

finish() {
	echo "# $CHECKS checks, $FAILS failed"
	[ "$FAILS" = 0 ]
}
