#!/bin/bash
# test_debian_oci.sh - the Debian 12 image's OCI layout is valid and is read
# by independent clients.
#
# Checks: oci_validate.py (index -> manifest -> config -> layer, digests,
# sizes, media types, diff_id, reproducible tar traits) passes, and fails on
# a copy with a corrupted config blob and on one with a wrong size in the
# index (the validator is not a no-op); the layer holds Debian 12 with
# dpkg's owners and modes (setuid passwd, root:shadow 0640 /etc/shadow),
# hard links as links, merged /usr symlinks and an empty /dev; the config
# has Env PATH and Cmd ["/bin/bash"]; `skopeo inspect oci:DIR` sees the
# same layer, `skopeo copy oci:DIR oci-archive:` works and keeps the
# digests; images/export.sh writes an archive skopeo reads, byte-identical
# when written twice.
. "$(dirname "$0")/lib.sh"

V=$HERE/oci_validate.py
check "layout validates (reproducible layer)" python3 "$V" "$L" --reproducible

cp -a "$L" "$T/bad1"
cfg=$(config_blob "$T/bad1")
chmod u+w "$cfg"
sed -i 's|/bin/bash|/bin/BASH|' "$cfg"
check "validator refuses a corrupted config blob" eq 1 "$(python3 "$V" "$T/bad1" >/dev/null; echo $?)"
cp -a "$L" "$T/bad2"
jq '.manifests[0].size += 1' "$L/index.json" >"$T/bad2/index.json"
check "validator refuses a wrong manifest size" eq 1 "$(python3 "$V" "$T/bad2" >/dev/null; echo $?)"
rm -rf "$T/bad1" "$T/bad2"

# --- the config ---
C=$(config_blob "$L")
check "config Cmd" eq '["/bin/bash"]' "$(jq -c .config.Cmd "$C")"
check "config Env PATH" contains "$(jq -c .config.Env "$C")" '"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
check "config os/arch" eq "linux/$(dpkg --print-architecture)" "$(jq -r '.os + "/" + .architecture' "$C")"

# --- the layer's contents (python's tarfile: exact owners, modes, types) ---
python3 - "$(layer_blob "$L")" >"$T/layer.txt" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as t:
    for m in t:
        kind = {tarfile.REGTYPE: "f", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l",
                tarfile.LNKTYPE: "h", tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b",
                tarfile.FIFOTYPE: "p"}.get(m.type, "?")
        print(m.name, kind, "%o" % m.mode, m.uid, m.gid, m.linkname or "-")
        if m.name == "etc/debian_version":
            print("#debian_version", t.extractfile(m).read().decode().strip())
PY
entry() { awk -v n="$1" '$1 == n {print $2, $3, $4, $5, $6}' "$T/layer.txt"; }
check "Debian 12" contains "$(grep '^#debian_version' "$T/layer.txt")" " 12."
check "no ./ prefix, no absolute names" eq 0 "$(grep -c '^\(\./\|/\)' "$T/layer.txt")"
check "/bin is merged /usr" eq "l 777 0 0 usr/bin" "$(entry bin)"
check "passwd is setuid root" eq "f 4755 0 0 -" "$(entry usr/bin/passwd)"
check "/etc/shadow root:shadow 0640" eq "f 640 0 42 -" "$(entry etc/shadow)"
check "/tmp is 1777" eq "d 1777 0 0 -" "$(entry tmp)"
check "hard links are links" test "$(awk '$2 == "h"' "$T/layer.txt" | wc -l)" -gt 0
check "/dev is empty" eq "dev" "$(awk '$1 ~ /^dev(\/|$)/ {print $1}' "$T/layer.txt" | tr '\n' ' ' | sed 's/ $//')"
check "no apt lists or logs" eq 0 "$(grep -c '^\(var/lib/apt/lists/[^p]\|var/log/.*\.log \)' "$T/layer.txt")"
check "bash and apt-get present" eq 2 "$(grep -c '^usr/bin/\(bash\|apt-get\) ' "$T/layer.txt")"

# --- skopeo, an independent client ---
if command -v skopeo >/dev/null; then
	ld=$(layer_digest "$L")
	out=$(skopeo inspect "oci:$L:bookworm" 2>&1)
	check "skopeo inspect oci:DIR" eq "$ld linux $(dpkg --print-architecture)" \
		"$(echo "$out" | jq -r '(.Layers | join(",")) + " " + .Os + " " + .Architecture' 2>/dev/null || echo "$out")"
	check "skopeo sees Env PATH" contains "$(echo "$out" | jq -c .Env 2>/dev/null)" PATH=/usr/local/sbin
	out=$(skopeo inspect --config "oci:$L:bookworm" 2>&1)
	check "skopeo inspect --config Cmd" eq '["/bin/bash"]' "$(echo "$out" | jq -c .config.Cmd 2>/dev/null || echo "$out")"
	check "skopeo copy oci:DIR oci-archive:" skopeo copy -q "oci:$L:bookworm" "oci-archive:$T/skopeo.tar:bookworm"
	out=$(skopeo inspect "oci-archive:$T/skopeo.tar" 2>&1)
	check "skopeo's archive keeps the layer" eq "$ld" "$(echo "$out" | jq -r '.Layers | join(",")' 2>/dev/null || echo "$out")"
	rm -f "$T/skopeo.tar"

	check "export.sh writes an archive" "$SRC/images/export.sh" "$L" "$T/a.tar"
	"$SRC/images/export.sh" "$L" "$T/b.tar"
	check "export.sh is reproducible" eq "$(sha256sum <"$T/a.tar")" "$(sha256sum <"$T/b.tar")"
	out=$(skopeo inspect "oci-archive:$T/a.tar" 2>&1)
	check "skopeo reads the exported archive" eq "$ld" "$(echo "$out" | jq -r '.Layers | join(",")' 2>/dev/null || echo "$out")"
	check "export.sh refuses a non-layout" eq 1 "$("$SRC/images/export.sh" "$T" "$T/c.tar" 2>/dev/null; echo $?)"
	check "no archive from a refused export" test ! -e "$T/c.tar"
else
	echo "# skopeo not installed: skopeo checks skipped"
fi
finish
