#!/bin/bash
# guest/rootfs.sh GUESTSRC BUSYBOXDIR TREE - assemble the guest file tree.
#
# TREE gets: the skeleton under GUESTSRC/rootfs (init, /etc files), the
# static busybox as /bin/busybox and one relative symlink per applet listed
# in busybox.links, the guest agent /sbin/vessel-agent (compiled here from
# GUESTSRC/agent) and the empty mount points /init expects.  Device nodes
# are not created here (no root needed): mkcpio.py adds /dev/console to the
# initramfs, and devtmpfs provides /dev on the disk.
set -euo pipefail
guestsrc=$1 bbdir=$2 tree=$3

rm -rf "$tree"
mkdir -p "$tree"
cp -a "$guestsrc/rootfs/." "$tree/"
for d in bin sbin usr/bin usr/sbin proc sys dev tmp run mnt root var/log; do
	mkdir -p "$tree/$d"
done
chmod 1777 "$tree/tmp"
chmod 700 "$tree/root"
install -m 755 "$bbdir/busybox" "$tree/bin/busybox"
while IFS= read -r applet; do
	applet=${applet#/}
	[ -n "$applet" ] || continue
	[ "$applet" = bin/busybox ] && continue
	dir=$(dirname "$applet")
	mkdir -p "$tree/$dir"
	# relative link: bin/x -> busybox, usr/sbin/x -> ../../bin/busybox
	case "$dir" in
	.) target=bin/busybox ;;
	bin) target=busybox ;;
	sbin | usr) target=../bin/busybox ;;
	usr/bin | usr/sbin) target=../../bin/busybox ;;
	*) echo "rootfs.sh: unexpected applet directory $dir" >&2; exit 1 ;;
	esac
	ln -sf "$target" "$tree/$applet"
done <"$bbdir/busybox.links"
# The guest agent (docs/agent-protocol.md), static like busybox.
${CROSS_COMPILE:-riscv64-linux-gnu-}gcc -static -O2 -Wall -Wextra -Werror \
	-o "$tree/sbin/vessel-agent" "$guestsrc/agent/vessel-agent.c"
${CROSS_COMPILE:-riscv64-linux-gnu-}strip "$tree/sbin/vessel-agent"
test -x "$tree/init"
test -L "$tree/bin/sh"
