#!/usr/bin/env python3
"""images/debian/packages.py - the package set debootstrap --variant=minbase
installs, with versions, resolved from an apt Packages index.

    packages.py [EXTRA...] < Packages

Reads a Packages file (uncompressed) on stdin and prints "name version"
lines, sorted by name.  EXTRA names packages debootstrap adds on its own
(ca-certificates for an https mirror).  The resolution is debootstrap's own (functions:
resolve_deps, scripts/debian-common: work_out_debs, debootstrap 1.0.128):
every "Priority: required" package, plus usr-is-merged (bookworm) and apt
(minbase), closed over Depends and Pre-Depends taking the first
alternative of each dependency only, dropping names that are not real
packages (virtual ones) and usrmerge (EXCLUDE_DEPENDENCY on bookworm).

The build uses this list as the cache key (the versions debootstrap will
fetch, known without touching the network) and compares it with what
debootstrap actually installed.
"""
import re
import sys


def stanzas(text):
    for block in text.split("\n\n"):
        fields = {}
        last = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if last:
                    fields[last] += "\n" + line
                continue
            key, sep, value = line.partition(":")
            if sep:
                last = key
                fields[key] = value.strip()
        if "Package" in fields:
            yield fields


def first_alternatives(field):
    for dep in field.split(","):
        dep = dep.strip()
        if not dep:
            continue
        dep = re.sub(r"\s*\|.*$", "", dep)
        dep = re.sub(r"\s*\(.*\)\s*", "", dep)
        dep = dep.split(":")[0]
        yield dep


def main():
    packages = {}
    for st in stanzas(sys.stdin.read()):
        # debootstrap's pkgdetails keeps the first stanza of a name
        packages.setdefault(st["Package"], st)
    if not packages:
        sys.exit("packages.py: empty Packages index")
    wanted = {n for n, st in packages.items() if st.get("Priority") == "required"}
    wanted |= {"usr-is-merged", "apt"} | set(sys.argv[1:])
    exclude = {"usrmerge"}
    todo = sorted(wanted)
    while todo:
        new = set()
        for name in todo:
            st = packages.get(name)
            if st is None:
                continue
            for key in ("Depends", "Pre-Depends"):
                for dep in first_alternatives(st.get(key, "")):
                    if dep not in exclude and dep in packages and dep not in wanted:
                        new.add(dep)
        wanted |= new
        todo = sorted(new)
    missing = sorted(n for n in wanted if n not in packages)
    if missing:
        sys.exit("packages.py: not in the index: " + " ".join(missing))
    for name in sorted(wanted):
        print(name, packages[name]["Version"])


if __name__ == "__main__":
    main()
