#!/bin/bash
# test_man.sh - a man page for every command of the CLI's table: `vessel
# help` lists the commands; each has build/cmd/vessel/man/vessel-CMD.1 that
# groff renders without a warning (-ww) and man -l shows with its name and
# synopsis; `make install`'s script installs them all.
set -uo pipefail
VESSEL=${VESSEL_VESSEL:?run through meson test}
MAN=${1:?man page directory}
command -v groff >/dev/null || { echo "SKIP: groff missing"; exit 77; }
fails=0 n=0
cmds=$("$VESSEL" help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}')
[ -n "$cmds" ] || { echo "FAIL: no commands from vessel help"; exit 1; }
for page in vessel $(printf 'vessel-%s\n' $cmds); do
	n=$((n + 1))
	f=$MAN/$page.1
	if [ ! -s "$f" ]; then
		echo "FAIL: no man page $f"; fails=$((fails + 1)); continue
	fi
	warn=$(groff -man -ww -z "$f" 2>&1)
	if [ -n "$warn" ]; then
		echo "FAIL: groff warns on $page.1: $warn"; fails=$((fails + 1)); continue
	fi
	if command -v man >/dev/null; then
		text=$(MANWIDTH=80 man -l "$f" 2>&1)
		if ! grep -q "^NAME" <<<"$text" || ! grep -q "^SYNOPSIS" <<<"$text" ||
			! grep -q "${page//-/.}" <<<"$text"; then
			echo "FAIL: man -l $page.1 does not show NAME/SYNOPSIS"; fails=$((fails + 1)); continue
		fi
	fi
	echo "ok: $page.1"
done
# every option the usage names (--foo) is described on the page
for c in $cmds; do
	help=$("$VESSEL" help "$c") # once per command, not once per option
	for o in $(sed -n 1p <<<"$help" | grep -oE -- '--[a-z-]+' | sort -u); do
		n=$((n + 1))
		if ! sed -n '/^options:/,$p' <<<"$help" | grep -q -- "$o"; then
			echo "FAIL: $c: option $o of the usage is not described"; fails=$((fails + 1))
		fi
	done
done
# the install script puts every page under MANDIR/man1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
n=$((n + 1))
if MESON_INSTALL_DESTDIR_PREFIX=$d "$(dirname "$0")/../../../cmd/vessel/install-man.sh" "$MAN" share/man/man1 &&
	[ "$(ls "$d/share/man/man1" | wc -l)" = "$(ls "$MAN"/*.1 | wc -l)" ]; then
	echo "ok: install-man.sh installs $(ls "$d/share/man/man1" | wc -l) pages"
else
	echo "FAIL: install-man.sh"; fails=$((fails + 1))
fi
echo "$((n - fails))/$n checks passed"
[ "$fails" = 0 ]
