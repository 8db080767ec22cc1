#!/bin/bash
# images/mklayer.sh ROOTFS EPOCH OUT.tar - write a directory tree as a
# reproducible OCI layer tar (uncompressed; the caller runs `gzip -n`).
#
# GNU tar in POSIX (pax) format: entries sorted by name (top level and in
# every directory), every mtime EPOCH, numeric owners and no owner names, no
# atime/ctime records, pax header names without the PID; names relative
# ("etc/passwd", no "./").  Hard links stay links, symlinks and device nodes
# stay what they are, modes and owners as found (run as root to read every
# file).  The same tree always gives the same bytes: the image tests unpack
# a layer and write it again with this script to check that.
set -euo pipefail
[ $# -eq 3 ] || {
	echo "usage: $0 ROOTFS EPOCH OUT.tar" >&2
	exit 2
}
root=$1 epoch=$2 out=$3
export LC_ALL=C
cd "$root"
# shellcheck disable=SC2012
ls -A | sort | tar --sort=name --mtime="@$epoch" --numeric-owner \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf "$out" -T -
