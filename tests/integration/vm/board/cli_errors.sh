#!/bin/sh
# cli_errors.sh - vessel-vmm refuses bad Linux-boot configurations with one
# precise message and exit status 1, before running anything, and leaves
# nothing behind (no unix socket, the disk image untouched).
set -u
VMM=${VESSEL_VESSEL_VMM:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

head -c 1048576 /dev/zero >"$tmp/Image"
head -c 65536 /dev/zero >"$tmp/disk.raw"
head -c 6291456 /dev/zero >"$tmp/BigImage"
printf 'QFI\373garbage-that-is-not-a-qcow2-header' >"$tmp/bad.qcow2"
head -c 512 /dev/zero >>"$tmp/bad.qcow2"
sum_before=$(md5sum "$tmp/disk.raw" "$tmp/bad.qcow2")

# expect NAME REGEX ARGS... : exit status 1 and a first stderr line matching REGEX
expect() {
	name=$1 re=$2
	shift 2
	status=0
	"$VMM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err" || status=$?
	first=$(head -n 1 "$tmp/err")
	if [ "$status" -ne 1 ]; then
		echo "FAIL $name: exit status $status, expected 1 (stderr: $first)"
		failures=$((failures + 1))
	elif ! printf '%s\n' "$first" | grep -Eq "^vessel-vmm: .*($re)"; then
		echo "FAIL $name: message '$first' does not match /$re/"
		failures=$((failures + 1))
	elif [ -s "$tmp/out" ]; then
		echo "FAIL $name: unexpected guest output"
		failures=$((failures + 1))
	else
		echo "ok   $name: $first"
	fi
}

K="--kernel $tmp/Image --bios none"
expect missing-kernel "$tmp/nope" --kernel "$tmp/nope" --bios none
expect missing-disk "nope.qcow2" $K --disk "$tmp/nope.qcow2"
expect corrupt-qcow2 "bad.qcow2" $K --disk "$tmp/bad.qcow2,format=qcow2"
expect bad-disk-option "unknown option 'format=vmdk'" $K --disk "$tmp/disk.raw,format=vmdk"
expect too-many-disks "at most" $K --disk "$tmp/disk.raw,readonly=on" --disk "$tmp/disk.raw,readonly=on" \
	--disk "$tmp/disk.raw,readonly=on" --disk "$tmp/disk.raw,readonly=on" --disk "$tmp/disk.raw,readonly=on" \
	--disk "$tmp/disk.raw,readonly=on" --disk "$tmp/disk.raw,readonly=on"
expect long-tap-name "too long" $K --net tap=averyveryverylongtapname
expect multicast-mac "bad MAC" $K --net tap=vt0,mac=01:00:5e:00:00:01
expect bad-mac "bad MAC" $K --net tap=vt0,mac=52:54:00:zz:00:01
expect net-without-tap "tap=IFNAME is required" $K --net mac=52:54:00:00:00:01
expect bad-serial "expected stdio, unix:PATH or none" $K --serial tcp:1234
expect serial-bad-dir "nodir" $K --serial "unix:$tmp/nodir/sock"
expect serial-log-not-unix "--serial-log needs --serial unix:PATH" $K --serial-log "$tmp/serial.log"
expect bad-console "only 'stdio'" $K --console unix:/x
expect too-many-cpus "between 1 and" $K --cpus 9
expect agent-empty "expected the socket's path" $K --agent=
expect agent-bad-dir "nodir" $K --agent "$tmp/nodir/agent.sock"
expect agent-in-use "Address already in use" $K --agent "$tmp/disk.raw"
expect kernel-too-big "BigImage: 6291456 bytes do not fit" --kernel "$tmp/BigImage" --bios none --mem 4M
expect tiny-ram "at least 4M" --kernel "$tmp/Image" --bios none --mem 1M
expect initrd-too-big "BigImage: 6291456 bytes do not fit" $K --mem 8M --initrd "$tmp/BigImage" --serial none
expect nothing-to-boot "--kernel or --bios" --mem 64M
expect sandbox-baremetal "--sandbox needs the virt board" --bios "$tmp/Image" --sandbox
# A failure after the socket was created removes it again.
expect socket-cleanup "nope.qcow2" $K --serial "unix:$tmp/sock" --disk "$tmp/nope.qcow2"
if [ -e "$tmp/sock" ]; then
	echo "FAIL socket-cleanup: $tmp/sock left behind"
	failures=$((failures + 1))
fi
if [ "$(md5sum "$tmp/disk.raw" "$tmp/bad.qcow2")" != "$sum_before" ]; then
	echo "FAIL: a refused configuration modified a disk image"
	failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo PASS
