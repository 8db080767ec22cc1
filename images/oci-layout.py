#!/usr/bin/env python3
"""images/oci-layout.py - write an OCI image layout around one layer.

    oci-layout.py OUT LAYER.tar LAYER.tar.gz CONFIG.json REF

OUT must not exist; it is created with oci-layout, index.json and
blobs/sha256/ (OCI image spec v1.1, image-layout.md).  LAYER.tar is the
uncompressed layer (its sha256 is the diff_id), LAYER.tar.gz the same
stream compressed with `gzip -n` (the blob).  CONFIG.json is a fragment
with "architecture", "os", "created" and "config" (Env, Cmd, ...);
rootfs.diff_ids and history are added here.  REF becomes the manifest's
org.opencontainers.image.ref.name in the index (what `oci:DIR:REF` names).

JSON is written with sorted keys and no whitespace, so the same inputs give
the same digests.  Nothing here depends on the clock.
"""
import hashlib
import json
import os
import shutil
import sys

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def dump(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    def __init__(self, out):
        self.blobs = os.path.join(out, "blobs", "sha256")
        os.makedirs(self.blobs)

    def add_bytes(self, data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_file(self, path, media_type):
        digest = sha256_file(path)
        shutil.copyfile(path, os.path.join(self.blobs, digest[7:]))
        return {"mediaType": media_type, "digest": digest, "size": os.path.getsize(path)}


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: oci-layout.py OUT LAYER.tar LAYER.tar.gz CONFIG.json REF")
    out, tar, tgz, config_path, ref = sys.argv[1:]
    if os.path.exists(out):
        sys.exit(f"oci-layout.py: {out} already exists")
    with open(config_path) as f:
        config = json.load(f)
    for key in ("architecture", "os", "config"):
        if key not in config:
            sys.exit(f"oci-layout.py: {config_path} has no {key!r}")

    config["rootfs"] = {"type": "layers", "diff_ids": [sha256_file(tar)]}
    config.setdefault("history", [{"created_by": "vessel images/ recipe"}])
    if "created" in config:
        for h in config["history"]:
            h.setdefault("created", config["created"])

    os.makedirs(out)
    layout = Layout(out)
    layer = layout.add_file(tgz, MT_LAYER_GZIP)
    cfg = layout.add_bytes(dump(config), MT_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": cfg,
        "layers": [layer],
    }
    man = layout.add_bytes(dump(manifest), MT_MANIFEST)
    man["platform"] = {"architecture": config["architecture"], "os": config["os"]}
    man["annotations"] = {"org.opencontainers.image.ref.name": ref}
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [man]}
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(dump(index))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(dump({"imageLayoutVersion": "1.0.0"}))


if __name__ == "__main__":
    main()
