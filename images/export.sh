#!/bin/bash
# images/export.sh LAYOUT OUT.tar - write an OCI image layout directory as an
# oci-archive (a tar of the layout, what `podman load`, `skopeo copy
# oci-archive:OUT.tar ...` and `vessel image import` read).
#
# The archive is reproducible: entries sorted by name, one fixed mtime,
# owner 0:0, no atime/ctime; OUT.tar is written to a temporary file in the
# same directory and renamed into place, so it is never seen half written.
#
# Example: images/export.sh "$(images/debian/build.sh)/oci" debian-12.tar
set -euo pipefail
die() {
	echo "images/export.sh: error: $*" >&2
	exit 1
}
[ $# -eq 2 ] || {
	echo "usage: $0 LAYOUT OUT.tar" >&2
	exit 2
}
layout=$1 out=$2
[ -f "$layout/oci-layout" ] && [ -f "$layout/index.json" ] && [ -d "$layout/blobs" ] ||
	die "$layout is not an OCI image layout (oci-layout, index.json, blobs/)"
tmp=$(mktemp "$(dirname "$out")/.export.XXXXXX")
trap 'rm -f "$tmp"' EXIT
tar -C "$layout" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf "$tmp" oci-layout index.json blobs
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
