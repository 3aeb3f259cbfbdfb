#!/usr/bin/env bash
# `make release-local`: the release workflow's steps (.github/workflows/release.yml) against an
# OCI registry on loopback instead of GHCR, with a generated key instead of keyless signing, and
# then `helm install` from that registry onto a real node. Needs root (buildah, the node).
#
#   1. both static binaries (x86_64 native, aarch64 cross), checked; the arm64 one under qemu
#      says what the amd64 one says (hack/release/compare-arches.sh)
#   2. the image index for linux/amd64 and linux/arm64 (hack/image/build.sh)
#   3. the GitHub release's files: binaries, kubectl-conninfo archives, the krew manifest
#      (validated and installed by krew), SHA256SUMS (hack/release/package.sh -> target/dist)
#   4. e2e::node: a registry on loopback; publish.sh pushes the index and the chart, signs
#      both, attests the SBOMs; verify.sh verifies them and refuses unsigned and tampered
#      pushes; a node pulls the image by digest and `helm install oci://…` runs the pod Ready.
# What was pushed (names, digests, sizes): target/release-local/published.json.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
began=$(date +%s)
step() { echo "==> $* ($(($(date +%s) - began))s)" >&2; }

step "tools"
hack/node/install.sh
hack/release/install.sh
hack/release/tools/build.sh >/dev/null
hack/controlplane/build.sh >/dev/null
hack/helm/build.sh >/dev/null
step "static binaries"
hack/build-static.sh x86_64-unknown-linux-gnu
hack/build-static.sh aarch64-unknown-linux-gnu
hack/release/compare-arches.sh
step "image index"
hack/image/build.sh
step "release files"
hack/release/package.sh target/dist
step "publish, verify and install from the registry"
rm -rf target/release-local
mkdir -p target/release-local
cargo build --bins --workspace --features appflow-connector-operator/failpoints
APPFLOW_RELEASE_OUT=$repo/target/release-local \
  cargo test --test e2e --workspace --features appflow-connector-operator/failpoints -- --exact \
  node::helm_install_runs_the_image_as_a_pod_and_upgrades_hands_over_and_uninstalls --nocapture
step "done"
cat target/release-local/published.json
