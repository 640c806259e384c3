#!/usr/bin/env bash
# Refreshes the third-party browser files the dashboard serves, at pinned versions.
#
# Why vendored: `hiveboard serve` must work offline and without a Node toolchain, so the
# few files we use are copied from the published npm packages into the Python package,
# together with their licences. To upgrade, change a version below, run this script
# (it needs `npm` and network access), check the dashboard, and commit the result.
set -euo pipefail

HTMX_VERSION=2.0.4
UPLOT_VERSION=1.6.31

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo_root/server/src/hiveboard/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null
npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null
mkdir htmx uplot
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "uplot-$UPLOT_VERSION.tgz" -C uplot

mkdir -p "$dest"
rm -f "$dest"/htmx* "$dest"/uPlot* "$dest"/LICENSE*
cp htmx/package/dist/htmx.min.js "$dest/htmx-$HTMX_VERSION.min.js"
cp htmx/package/LICENSE "$dest/LICENSE.htmx"
cp uplot/package/dist/uPlot.iife.min.js "$dest/uPlot-$UPLOT_VERSION.iife.min.js"
cp uplot/package/dist/uPlot.min.css "$dest/uPlot-$UPLOT_VERSION.min.css"
cp uplot/package/LICENSE "$dest/LICENSE.uplot"

{
    echo "Vendored by scripts/vendor-frontend.sh; do not edit by hand."
    echo "htmx.org $HTMX_VERSION (0BSD): htmx-$HTMX_VERSION.min.js, LICENSE.htmx"
    echo "uplot $UPLOT_VERSION (MIT): uPlot-$UPLOT_VERSION.iife.min.js, uPlot-$UPLOT_VERSION.min.css, LICENSE.uplot"
    echo
    echo "sha256:"
    (cd "$dest" && sha256sum htmx-*.js uPlot-*)
} >"$dest/VERSIONS.txt"
echo "vendored htmx $HTMX_VERSION and uPlot $UPLOT_VERSION into $dest"
