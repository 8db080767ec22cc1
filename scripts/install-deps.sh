#!/bin/sh
# Install the Debian packages named in the given lists (one per line, '#'
# comments) that are not installed yet.  Idempotent: does nothing when all
# are present.  A name that an installed package provides (e.g. npm, which
# NodeSource's nodejs provides and conflicts with) counts as present.
set -eu
# one dpkg-query for every installed package: the names present are the
# packages' own and the ones they provide (one query per package took 10-20 s
# of every make check on a loaded 2-core machine)
present=$(dpkg-query -W -f='${Status}|${Package},${Provides}\n' 2>/dev/null |
	sed -n 's/^install ok installed|//p' | tr ',' '\n' | sed 's/(.*//; s/ //g' | sed '/^$/d' | sort -u)
want=$(sed -e 's/#.*//' "$@" | tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u)
missing=""
for p in $want; do
	printf '%s\n' "$present" | grep -qx -- "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
