#!/bin/sh
# build-one.sh CC OUT SRCDIR [-DFLAGS...] SOURCES...: builds one bare-metal
# test ELF with the runtime in common/ (used by meson custom_target).
set -e
cc=$1 out=$2 src=$3
shift 3
exec "$cc" -nostdlib -nostartfiles -ffreestanding -fno-builtin -fno-pie -no-pie \
	-fno-stack-protector -march=rv64gc -mabi=lp64d -mcmodel=medany -static \
	-O2 -g -fno-strict-aliasing -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wall -Wextra -Wno-unused-parameter -I"$src/common" \
	-T "$src/common/link.ld" -o "$out" \
	"$src/common/crt0.S" "$src/common/runtime.c" "$src/common/vm.c" "$@"
