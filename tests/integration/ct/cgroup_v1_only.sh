#!/bin/bash
# Runs a ct test script on a pure cgroup v1 view of this host: in a private
# mount namespace where the cgroup2 mount of a hybrid host
# (/sys/fs/cgroup/unified) is unmounted.  vessel-runtime then takes its v1
# path (the cgroup is made after clone, while the child sets itself up;
# see lib/ct/create.c), which a hybrid or cgroup2 host never exercises.
#
# Usage: cgroup_v1_only.sh TEST.sh   (exit 77 when the host is pure cgroup2)
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
if [ -z "${VESSEL_V1_INNER:-}" ]; then
	[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && { echo "SKIP: pure cgroup2 host"; exit 77; }
	VESSEL_V1_INNER=1 exec unshare -m --propagation private "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then
	umount /sys/fs/cgroup/unified || { echo "cannot unmount /sys/fs/cgroup/unified"; exit 1; }
fi
if mountpoint -q /sys/fs/cgroup/unified; then
	echo "FAIL: /sys/fs/cgroup/unified is still mounted: not a v1 view"
	exit 1
fi
exec "$@"
