#!/usr/bin/env bash
# Refresh the vendored uPlot (the HTML report's charts) from the npm registry.
#
#   scripts/vendor-uplot.sh            # re-fetch the pinned version (gcscope/reporters/assets/uplot.json)
#   scripts/vendor-uplot.sh 1.6.33     # move the pin to another version
#
# Fetches the package with `npm pack`, checks the tarball against the registry's sha512
# integrity, and copies the minified IIFE build, its CSS and its LICENSE into the package.
# The HTML report inlines these files inside <script> and <style> elements, so a file that
# contains `</script`, `</style` or `<!--` is refused: it could end the element early.
set -euo pipefail
cd "$(dirname "$0")/.."
assets=gcscope/reporters/assets
pin="$assets/uplot.json"

version=${1:-$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$pin")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

integrity=$(npm view "uplot@$version" dist.integrity)
tarball_url=$(npm view "uplot@$version" dist.tarball)
(cd "$work" && npm pack --silent "uplot@$version" >/dev/null)
tarball="$work/uplot-$version.tgz"
actual=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
if [ "$actual" != "$integrity" ]; then
    echo "vendor-uplot: $tarball does not match the registry's integrity $integrity" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
for file in dist/uPlot.iife.min.js dist/uPlot.min.css; do
    if grep -qiE '</script|</style|<!--' "$work/package/$file"; then
        echo "vendor-uplot: $file contains a sequence that would end an inline element" >&2
        exit 1
    fi
done
cp "$work/package/dist/uPlot.iife.min.js" "$assets/uPlot.iife.min.js"
cp "$work/package/dist/uPlot.min.css" "$assets/uPlot.min.css"
cp "$work/package/LICENSE" "$assets/uPlot.LICENSE"
python3 - "$pin" "$version" "$integrity" "$tarball_url" <<'PY'
import json, sys
path, version, integrity, url = sys.argv[1:]
pin = {"name": "uplot", "version": version, "license": "MIT", "tarball": url, "integrity": integrity}
with open(path, "w") as handle:
    json.dump(pin, handle, indent=2)
    handle.write("\n")
PY
echo "vendored uplot $version into $assets"
