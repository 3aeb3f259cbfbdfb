#!/usr/bin/env bash
# The SBOM of the shipped binary: every crate linked into appflow-connector-operator (no build-
# or dev-only dependencies), as CycloneDX 1.5 JSON, by cargo-cyclonedx (hack/release/install.sh):
#
#   hack/release/sbom.sh OUT_DIR    -> OUT_DIR/sbom-linux-amd64.cdx.json, sbom-linux-arm64.cdx.json
#
# One per architecture: they do not link quite the same crates (CPU-feature detection differs),
# so each platform's image gets its own. Reproducible: the timestamp is the commit's
# (SOURCE_DATE_EPOCH).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
out=${1:?usage: sbom.sh OUT_DIR}
mkdir -p "$out"
cyclonedx=$repo/.cache/cargo-tools/bin/cargo-cyclonedx
[[ -x $cyclonedx ]] || hack/release/install.sh
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

trap 'rm -f ./*_bin.cdx.json ./*/*_bin.cdx.json' EXIT
declare -A triples=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
for arch in amd64 arm64; do
  # It writes NAME_bin.cdx.json beside every workspace member's Cargo.toml.
  "$cyclonedx" cyclonedx --quiet --format json --describe binaries --no-build-deps --spec-version 1.5 \
    --target "${triples[$arch]}"
  mv appflow-connector-operator_bin.cdx.json "$out/sbom-linux-$arch.cdx.json"
  echo "sbom (linux/$arch): $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["components"]))' \
    "$out/sbom-linux-$arch.cdx.json") crates -> $out/sbom-linux-$arch.cdx.json"
done
