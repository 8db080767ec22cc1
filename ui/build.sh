#!/bin/sh
# ui/build.sh SRCDIR WORKDIR OUTDIR - bundle the web UI for vesseld's /ui/.
#
# The npm packages are installed with `npm ci` (exactly the versions in
# package-lock.json) into WORKDIR, a directory of the build tree, never into
# the source tree; again only when the lock file changed.  esbuild then
# bundles src/app.js with its imports (Preact, htm, uPlot and its CSS) into
# OUTDIR/app.js and OUTDIR/app.css; index.html is copied beside them.
set -eu
src=$1
work=$2
out=$3
mkdir -p "$work" "$out"
if ! cmp -s "$src/package-lock.json" "$work/installed.lock" ||
	[ ! -x "$work/node_modules/.bin/esbuild" ]; then
	rm -rf "$work/node_modules" "$work/installed.lock"
	cp "$src/package.json" "$src/package-lock.json" "$work/"
	(cd "$work" && npm ci --no-audit --no-fund --loglevel=error) || {
		echo "ui/build.sh: npm ci failed (the npm registry is needed once; or configure with -Dui=disabled)" >&2
		exit 1
	}
	cp "$src/package-lock.json" "$work/installed.lock"
fi
rm -rf "$work/src"
cp -r "$src/src" "$work/src"
"$work/node_modules/.bin/esbuild" "$work/src/app.js" --bundle --minify --format=iife \
	--target=es2020 --log-level=warning --outfile="$out/app.js"
cp "$work/src/index.html" "$out/index.html"
