#!/usr/bin/env bash
# Refreshes the vendored ReDoc bundle that /redoc serves, so the docs work with no internet.
# ReDoc 2.x: its standalone bundle defines the `Redoc` global; 3.x is an ES module without one.
set -euo pipefail
cd "$(dirname "$0")/.."
version="2.5.4"
destination="crates/server/assets/vendor/redoc"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "redoc@${version}" >/dev/null && tar -xzf redoc-*.tgz)
mkdir -p "$destination"
cp "$work/package/bundles/redoc.standalone.js" "$destination/redoc.standalone.js"
cp "$work/package/LICENSE" "$destination/LICENSE"
echo "vendored redoc@${version} into ${destination}"
