#!/bin/sh
# install-man.sh SRC-DIR MANDIR: install the generated man pages (meson's
# install script; MESON_INSTALL_DESTDIR_PREFIX is the destination prefix)
set -eu
dst="${MESON_INSTALL_DESTDIR_PREFIX:?}/$2"
case $2 in /*) dst="${DESTDIR:-}$2" ;; esac
mkdir -p "$dst"
for f in "$1"/*.1; do
	install -m 0644 "$f" "$dst/"
done
