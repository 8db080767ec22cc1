#!/bin/bash
# test_debian_runtime.sh - the Debian 12 image's layer, unpacked by hand
# (tar as root, numeric owners), runs under vessel-runtime directly.
#
# No podman, no image store: index.json -> manifest -> layer blob, `tar -x`
# into a rootfs (written again with images/mklayer.sh, it must give the same
# diff_id), a bundle from `vessel-runtime spec` with the image config's
# Env, then `run` of `cat /etc/os-release`, and of checks that dpkg's
# owners survived (/etc/shadow root:shadow 0640), that PATH is the image's,
# and that a process as uid/gid 65534 is nobody:nogroup per the image's
# passwd and group and cannot read /etc/shadow.
#
# Exit 77 (skip) when not root or the image is not built.
. "$(dirname "$0")/lib.sh"

R=${VESSEL_VESSEL_RUNTIME:-}
[ "$(id -u)" = 0 ] || skip "needs root"
[ -n "$R" ] && [ -x "$R" ] || skip "vessel-runtime not built"
CGP=vessel-img-test-${T##*.}
ROOT=$T/state
rt_cleanup() {
	local s d
	for s in "$ROOT"/*; do
		[ -e "$s" ] && "$R" --root "$ROOT" delete --force "$(basename "$s")" >/dev/null 2>&1
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

# the layer is reproducible from its own content: the unpacked tree, written
# again by the recipe's mklayer.sh, gives the config's diff_id byte for byte
epoch=$(date -d "$(jq -r .created "$(config_blob "$L")")" +%s)
"$SRC/images/mklayer.sh" "$T/rootfs" "$epoch" "$T/again.tar"
check "unpacked and written again: same diff_id" \
	eq "$(jq -r '.rootfs.diff_ids[0]' "$(config_blob "$L")")" "sha256:$(sha256sum <"$T/again.tar" | cut -d' ' -f1)"
rm -f "$T/again.tar"

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

b=$(bundle own '["/bin/bash", "-c", "stat -c \"%U:%G %a\" /etc/shadow; echo $PATH"]')
out=$("$R" --root "$ROOT" run --bundle "$b" own 2>"$T/err" | tr '\n' ' ')
[ -s "$T/err" ] && cat "$T/err" >&2
check "owners and PATH inside" \
	eq "root:shadow 640 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " "$out"

# the image's passwd and group name user 65534
b=$(bundle nobody '["/bin/bash", "-c", "id -un; id -gn; cat /etc/shadow 2>/dev/null || echo denied"]')
jq '.process.user = {uid: 65534, gid: 65534}' "$b/config.json" >"$b/c.new" && mv "$b/c.new" "$b/config.json"
out=$("$R" --root "$ROOT" run --bundle "$b" nobody 2>"$T/err" | tr '\n' ' ')
[ -s "$T/err" ] && cat "$T/err" >&2
check "runs as nobody:nogroup, shadow unreadable" eq "nobody nogroup denied " "$out"
finish
