#!/usr/bin/env python3
"""oci_validate.py - check an OCI image layout against the image spec.

    oci_validate.py LAYOUT [--reproducible]

Walks oci-layout -> index.json -> every manifest -> config -> layers and
checks, for every descriptor, that the blob exists under blobs/<alg>/<hex>,
that its size and sha256 match, and that its mediaType is the one the spec
gives that role (index, manifest, config, layer tar / tar+gzip / tar+zstd).
The config must name architecture, os and rootfs.type "layers" with one
diff_id per layer, each the sha256 of the layer uncompressed.  Every layer
must be a readable tar.  With --reproducible, the layers must also carry one
mtime for every entry, no atime/ctime pax records, and no owner names
(numeric owners only), and each directory's entries must come in name order.

Prints "ok: ..." lines and exits 0, or prints the first problem and exits 1.
"""
import gzip
import hashlib
import json
import os
import sys
import tarfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar": None,
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
}


class Invalid(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Invalid(msg)


def blob_path(layout, desc, role):
    for key in ("mediaType", "digest", "size"):
        need(key in desc, f"{role} descriptor has no {key}")
    digest = desc["digest"]
    need(isinstance(digest, str) and ":" in digest, f"{role}: bad digest {digest!r}")
    alg, hexpart = digest.split(":", 1)
    need(alg == "sha256", f"{role}: unsupported digest algorithm {alg}")
    need(len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart),
         f"{role}: malformed digest {digest}")
    path = os.path.join(layout, "blobs", alg, hexpart)
    need(os.path.isfile(path), f"{role}: blob {digest} missing")
    size = os.path.getsize(path)
    need(isinstance(desc["size"], int) and size == desc["size"],
         f"{role}: size {desc['size']} in descriptor, blob has {size}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    need(h.hexdigest() == hexpart, f"{role}: blob content does not match {digest}")
    return path


def load_json(path, role):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise Invalid(f"{role}: {e}")


def check_layer(path, compression, diff_id, reproducible, role):
    opener = gzip.open if compression == "gzip" else open
    h = hashlib.sha256()
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise Invalid(f"{role}: cannot decompress: {e}")
    need("sha256:" + h.hexdigest() == diff_id,
         f"{role}: uncompressed sha256 is not the config's diff_id {diff_id}")
    mtimes = set()
    n = 0
    last_in_dir = {}
    try:
        with tarfile.open(path, "r:gz" if compression == "gzip" else "r:") as t:
            for m in t:
                n += 1
                name = m.name.rstrip("/")
                if name.startswith("./"):
                    name = name[2:]
                if not reproducible:
                    continue
                mtimes.add(int(m.mtime))
                for key in ("atime", "ctime"):
                    need(key not in m.pax_headers, f"{role}: {m.name} has a pax {key}")
                need(m.uname == "" and m.gname == "",
                     f"{role}: {m.name} has owner names {m.uname}:{m.gname}")
                parent, _, base = name.rpartition("/")
                prev = last_in_dir.get(parent)
                need(prev is None or prev.encode() < base.encode(),
                     f"{role}: {m.name} comes after {parent}/{prev}: not sorted")
                last_in_dir[parent] = base
    except tarfile.TarError as e:
        raise Invalid(f"{role}: not a tar: {e}")
    need(n > 0, f"{role}: empty tar")
    if reproducible:
        need(len(mtimes) == 1, f"{role}: {len(mtimes)} different mtimes")
    return n


def validate(layout, reproducible):
    ol = load_json(os.path.join(layout, "oci-layout"), "oci-layout")
    need(ol.get("imageLayoutVersion") == "1.0.0",
         f"oci-layout: imageLayoutVersion {ol.get('imageLayoutVersion')!r}")
    index = load_json(os.path.join(layout, "index.json"), "index.json")
    need(index.get("schemaVersion") == 2, "index.json: schemaVersion is not 2")
    need(index.get("mediaType", MT_INDEX) == MT_INDEX,
         f"index.json: mediaType {index.get('mediaType')!r}")
    manifests = index.get("manifests")
    need(isinstance(manifests, list) and manifests, "index.json: no manifests")
    for i, mdesc in enumerate(manifests):
        role = f"manifest[{i}]"
        need(mdesc.get("mediaType") == MT_MANIFEST,
             f"{role}: descriptor mediaType {mdesc.get('mediaType')!r}")
        man = load_json(blob_path(layout, mdesc, role), role)
        need(man.get("schemaVersion") == 2, f"{role}: schemaVersion is not 2")
        need(man.get("mediaType") == MT_MANIFEST, f"{role}: mediaType {man.get('mediaType')!r}")
        cdesc = man.get("config")
        need(isinstance(cdesc, dict), f"{role}: no config")
        need(cdesc.get("mediaType") == MT_CONFIG, f"{role}: config mediaType {cdesc.get('mediaType')!r}")
        config = load_json(blob_path(layout, cdesc, role + " config"), role + " config")
        for key in ("architecture", "os"):
            need(isinstance(config.get(key), str) and config[key], f"{role} config: no {key}")
        plat = mdesc.get("platform")
        if plat:
            need(plat.get("architecture") == config["architecture"] and plat.get("os") == config["os"],
                 f"{role}: index platform {plat} differs from the config")
        rootfs = config.get("rootfs", {})
        need(rootfs.get("type") == "layers", f"{role} config: rootfs.type {rootfs.get('type')!r}")
        diff_ids = rootfs.get("diff_ids")
        layers = man.get("layers")
        need(isinstance(layers, list) and layers, f"{role}: no layers")
        need(isinstance(diff_ids, list) and len(diff_ids) == len(layers),
             f"{role}: {len(layers)} layers but diff_ids {diff_ids!r}")
        for j, ldesc in enumerate(layers):
            lrole = f"{role} layer[{j}]"
            mt = ldesc.get("mediaType")
            need(mt in MT_LAYERS, f"{lrole}: mediaType {mt!r}")
            path = blob_path(layout, ldesc, lrole)
            n = check_layer(path, MT_LAYERS[mt], diff_ids[j], reproducible, lrole)
            print(f"ok: {lrole} {ldesc['digest'][:19]} {ldesc['size']} bytes, {n} entries")
        print(f"ok: {role} {mdesc['digest'][:19]} config {config['os']}/{config['architecture']}")


def main():
    args = sys.argv[1:]
    reproducible = "--reproducible" in args
    args = [a for a in args if a != "--reproducible"]
    if len(args) != 1:
        sys.exit("usage: oci_validate.py LAYOUT [--reproducible]")
    try:
        validate(args[0], reproducible)
    except Invalid as e:
        print(f"invalid: {e}")
        sys.exit(1)
    print("ok: layout valid")


if __name__ == "__main__":
    main()
