#!/usr/bin/env python3
"""export_v1.py IN.tar OUT.tar - a version 2 export file (uncompressed) as
version 1 wrote it: vessel-export.json without "volumes", version 1 in it
and in checksums.json, the metadata's digest recomputed
(docs/export-format.md: path NUL, the header line, two empty link
targets, the data); every other member copied as it is.  Refuses a file
that holds volumes (version 1 cannot)."""
import hashlib
import io
import json
import sys
import tarfile

src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
    digest = None
    for m in tin.getmembers():
        if m.name == "vessel-export.json":
            meta = json.load(tin.extractfile(m))
            if meta.pop("volumes", []):
                sys.exit("the file holds volumes: no version 1 of it")
            meta["version"] = 1
            data = json.dumps(meta, indent=2).encode()
            m.size = len(data)
            line = "%o %d %d 0:0 %d %d 00\n" % (0o100000 | m.mode, m.uid, m.gid, m.size, int(m.mtime))
            digest = hashlib.sha256(b"vessel-export.json\0" + line.encode() + b"\0\0" + data).hexdigest()
            tout.addfile(m, io.BytesIO(data))
        elif m.name == "checksums.json":
            sums = json.load(tin.extractfile(m))
            sums["version"] = 1
            for e in sums["members"]:
                if e["path"] == "vessel-export.json":
                    e["sha256"] = digest
            data = json.dumps(sums).encode()
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))
        else:
            tout.addfile(m, tin.extractfile(m) if m.isreg() else None)
