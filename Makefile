# vessel - top-level entry points.  Meson + Ninja do the building; this file
# only strings the steps together so that a fresh Debian 12 machine needs two
# commands: `make demo` and `make check`.
#
#   make deps     install missing Debian packages (apt-get, idempotent)
#   make build    release (debugoptimized) build in build/, ASan+UBSan in build-asan/
#   make guest    build/cached RISC-V guest images (kernel, initramfs, disk) and
#                 the defconfig kernel (long; GUEST_DEFCONFIG=0 skips it)
#   make images   build/cached container images (Debian 12 OCI layout, debootstrap)
#   make check    deps + build + guest + images, then every test (both builds) and the format check,
#                 and the hart-thread tests on the ThreadSanitizer build (build-tsan/)
#   make check-tsan  every hart-thread test on the ThreadSanitizer build (build-tsan/)
#   make demo     deps + build + guest + images, then the demo
#   make bench    benchmarks against the peers (crun, runc, qemu-img, qemu-system-riscv64,
#                 podman, LXD, libvirt; the last two from deps/bench/*.txt)
#   make fuzz     the hostile-guest campaign against vessel-vmm over many seeds
#                 (FUZZ_COUNT, FUZZ_START, FUZZ_BUILD; see scripts/fuzz.sh)
#   make install  install programs under PREFIX (default /usr/local)

PREFIX ?= /usr/local
MESON_OPTS = -Dwerror=true
GUEST_CACHE ?= /var/cache/vessel/guest
MUSL_CACHE ?= /var/cache/vessel/musl
IMAGE_CACHE ?= /var/cache/vessel/images

.PHONY: all deps build build-release build-asan build-tsan tsan-setup check-tsan guest images images-if-possible check demo bench bench-deps fuzz install format clean

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

# ThreadSanitizer build (build-tsan/).  `make check` only configures it: its
# TSan tests (scripts/check.sh) build what they run (vessel-vmm and a few ISA
# programs), not the whole tree; `make build-tsan` builds everything.
tsan-setup: deps
	@test -f build-tsan/build.ninja || meson setup build-tsan $(MESON_OPTS) --buildtype=debug \
		-Db_sanitize=thread -Db_lundef=false

build-tsan: tsan-setup
	@ninja -C build-tsan

GUEST_DEFCONFIG ?= 1

guest: deps
	@GUEST_CACHE=$(GUEST_CACHE) guest/build.sh
	@test "$(GUEST_DEFCONFIG)" = 0 || GUEST_CACHE=$(GUEST_CACHE) guest/build-defconfig.sh

# the out-of-the-box container images (docs/images.md); the Debian image
# needs Debian's archive once, then comes from the cache.  check and demo go
# on without it when the archive cannot be reached (its tests then skip).
images: deps
	@IMAGE_CACHE=$(IMAGE_CACHE) images/debian/build.sh >/dev/null

images-if-possible: deps
	@IMAGE_CACHE=$(IMAGE_CACHE) images/debian/build.sh >/dev/null || \
		echo "warning: the Debian 12 image was not built (see above): its tests skip" >&2

check: build tsan-setup guest images-if-possible
	@GUEST_CACHE=$(GUEST_CACHE) IMAGE_CACHE=$(IMAGE_CACHE) scripts/check.sh

# every hart-thread test under ThreadSanitizer (scripts/check-tsan.sh; check runs a subset)
check-tsan: build-tsan guest
	@GUEST_CACHE=$(GUEST_CACHE) scripts/check-tsan.sh

demo: build-release guest images-if-possible
	@GUEST_CACHE=$(GUEST_CACHE) IMAGE_CACHE=$(IMAGE_CACHE) scripts/demo.sh

# the benchmarks' peers (LXD, libvirt) are installed for `make bench` only
bench-deps:
	@scripts/install-deps.sh deps/bench/*.txt

bench: build-release guest bench-deps
	@GUEST_CACHE=$(GUEST_CACHE) bench/run.sh

fuzz: build
	@scripts/fuzz.sh

install: build-release
	@meson install -C build

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan
