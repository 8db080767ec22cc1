# vessel - top-level entry points.  Meson + Ninja do the building; this file
# only strings the steps together so that a fresh Debian 12 machine needs two
# commands: `make demo` and `make check`.
#
#   make deps     install missing Debian packages (apt-get, idempotent)
#   make build    release (debugoptimized) build in build/, ASan+UBSan in build-asan/
#   make guest    build/cached RISC-V guest images (kernel, initramfs, disk) and
#                 the defconfig kernel (long; GUEST_DEFCONFIG=0 skips it)
#   make check    deps + build + guest, then every test (both builds) and the format check
#   make demo     deps + build + guest, then the demo
#   make bench    benchmarks against the peers (crun, runc, qemu-img, qemu-system-riscv64)
#   make install  install programs under PREFIX (default /usr/local)

PREFIX ?= /usr/local
MESON_OPTS = -Dwerror=true
GUEST_CACHE ?= /var/cache/vessel/guest
MUSL_CACHE ?= /var/cache/vessel/musl

.PHONY: all deps build build-release build-asan guest check demo bench install format clean

all: build

deps:
	@scripts/install-deps.sh deps/*.txt

build: build-release build-asan

# vessel-runtime links with musl when scripts/musl-deps.sh can build its
# libraries (cached); otherwise it stays on glibc, with a warning
build-release: deps
	@musl=$$(MUSL_CACHE=$(MUSL_CACHE) scripts/musl-deps.sh) || \
		{ musl=; echo "warning: musl libraries not built: vessel-runtime uses glibc (slower start-up)"; }; \
	test -f build/build.ninja || meson setup build $(MESON_OPTS) --buildtype=debugoptimized \
		--prefix=$(PREFIX) -Druntime_musl=$$musl >/dev/null; \
	meson configure build -Druntime_musl=$$musl >/dev/null 2>&1 || \
		meson setup --reconfigure build -Druntime_musl=$$musl >/dev/null
	@ninja -C build

build-asan: deps
	@test -f build-asan/build.ninja || meson setup build-asan $(MESON_OPTS) --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C build-asan

GUEST_DEFCONFIG ?= 1

guest: deps
	@GUEST_CACHE=$(GUEST_CACHE) guest/build.sh
	@test "$(GUEST_DEFCONFIG)" = 0 || GUEST_CACHE=$(GUEST_CACHE) guest/build-defconfig.sh

check: build guest
	@GUEST_CACHE=$(GUEST_CACHE) scripts/check.sh

demo: build-release guest
	@GUEST_CACHE=$(GUEST_CACHE) scripts/demo.sh

bench: build-release guest
	@GUEST_CACHE=$(GUEST_CACHE) bench/run.sh

install: build-release
	@meson install -C build

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan
