# shellcheck shell=bash disable=SC2034
# lib.sh - shared set-up of the image tests (sourced): finds the Debian 12
# image built by `make images` (images/debian/build.sh, cached), a private
# temp dir removed on exit, and the check/eq/contains helpers.
# Exit 77 (skip) when the image is not built: its build needs Debian's
# archive, and `make images` said why it could not reach it.
set -uo pipefail

SRC=${VESSEL_SOURCE_ROOT:?run through meson test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip() {
	echo "SKIP: $*"
	exit 77
}
IMG=${VESSEL_DEBIAN_IMAGE:-$("$SRC/images/debian/build.sh" --print-dir 2>/dev/null)}
[ -n "$IMG" ] && [ -f "$IMG/oci/index.json" ] ||
	skip "Debian 12 image not built (make images; it needs Debian's archive once)"
L=$IMG/oci
command -v jq >/dev/null || skip "jq missing"

T=$(mktemp -d /tmp/vessel-img.XXXXXX)
FAILS=0
CHECKS=0
CLEANUPS=()
cleanup() {
	local c
	for c in "${CLEANUPS[@]}"; do eval "$c"; done
	rm -rf "$T"
}
trap cleanup EXIT

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
finish() {
	echo "# $CHECKS checks, $FAILS failed"
	[ "$FAILS" = 0 ]
}

# The (single) manifest, its config and layer blobs of layout $1.
manifest_blob() { echo "$1/blobs/sha256/$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)"; }
config_blob() { echo "$1/blobs/sha256/$(jq -r '.config.digest' "$(manifest_blob "$1")" | cut -d: -f2)"; }
layer_digest() { jq -r '.layers[0].digest' "$(manifest_blob "$1")"; }
layer_blob() { echo "$1/blobs/sha256/$(layer_digest "$1" | cut -d: -f2)"; }
