#!/bin/bash
# test_debian_runtime.sh - the Debian 12 image's layer, unpacked by hand
# (tar as root, numeric owners), runs under vessel-runtime directly.
#
# No podman, no image store: index.json -> manifest -> layer blob, `tar -x`
# into a rootfs, a bundle from `vessel-runtime spec` with the image config's
# Env, then `run` of `cat /etc/os-release`, and of a check that dpkg's
# owners survived (/etc/shadow root:shadow 0640), that a user can be
# switched to (setpriv, util-linux is in minbase) and that PATH is the
# image's.
#
# Exit 77 (skip) when not root or the image is not built.
. "$(dirname "$0")/lib.sh"

R=${VESSEL_VESSEL_RUNTIME:-}
[ "$(id -u)" = 0 ] || skip "needs root"
[ -n "$R" ] && [ -x "$R" ] || skip "vessel-runtime not built"
CGP=vessel-img-test-${T##*.}
ROOT=$T/state
rt_cleanup() {
	local id d
	for id in $(ls "$ROOT" 2>/dev/null); do
		"$R" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
	done
	for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/"$CGP"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
}
CLEANUPS+=(rt_cleanup)
chmod 755 "$T"

mkdir "$T/rootfs"
check "layer unpacks" tar --numeric-owner -xpzf "$(layer_blob "$L")" -C "$T/rootfs"
env=$(jq -c '.config.Env' "$(config_blob "$L")")

bundle() { # bundle NAME ARGS-JSON
	local b=$T/$1
	mkdir -p "$b"
	"$R" spec --bundle "$b" || return 1
	jq --arg rootfs "$T/rootfs" --arg cg "/$CGP/$1" --argjson env "$env" --argjson args "$2" \
		'.root.path = $rootfs | .root.readonly = true | .process.terminal = false |
		 .process.env = $env | .process.args = $args | .linux.cgroupsPath = $cg' \
		"$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
	echo "$b"
}

b=$(bundle osr '["cat", "/etc/os-release"]')
out=$("$R" --root "$ROOT" run --bundle "$b" osr 2>"$T/err")
rc=$?
[ $rc -eq 0 ] || cat "$T/err" >&2
check "run cat /etc/os-release: exit 0" eq 0 "$rc"
check "os-release: Debian 12" contains "$out" 'VERSION_ID="12"'
check "os-release: bookworm" contains "$out" 'VERSION_CODENAME=bookworm'

b=$(bundle own '["/bin/bash", "-c", "stat -c \"%U:%G %a\" /etc/shadow; setpriv --reuid=nobody --regid=nogroup --clear-groups id -un; echo $PATH"]')
out=$("$R" --root "$ROOT" run --bundle "$b" own 2>"$T/err" | tr '\n' ' ')
check "owners, user switch and PATH inside" \
	eq "root:shadow 640 nobody /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " "$out" ||
	cat "$T/err" >&2
finish
