#!/usr/bin/env bash
# Builds the release pipeline's tools from the Go module in this directory into
#   $APPFLOW_RELEASE_TOOLS_DIR (default: <repo>/.cache/release-tools/bin)
# and prints that directory:
#   cosign                   signs and verifies the image index, the chart and the SBOM attestation
#   crane                    the loopback OCI registry (`crane registry serve`) and digests
#   actionlint               lints .github/workflows
#   validate-krew-manifest   krew's own check of the kubectl plugin manifest, which installs each
#   kubectl-krew             platform's archive with krew itself (as `kubectl krew`)
# Needs only Go and the Go module proxy.
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version, go.mod, go.sum,
# krew/go.mod, krew/go.sum, this script, hack/lib/gobuild.sh and every .go file here) differs
# from the one stored next to the binaries, or one is missing. A cold build compiles cosign's
# dependency tree (several minutes on two cores); a warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../lib/gobuild.sh
. "$here/../../lib/gobuild.sh"
repo=$(cd "$here/../../.." && pwd)
out=${APPFLOW_RELEASE_TOOLS_DIR:-$repo/.cache/release-tools/bin}
gobuild::find_go

# main package -> binary name
declare -A tools=(
  [github.com/sigstore/cosign/v2/cmd/cosign]=cosign
  [github.com/google/go-containerregistry/cmd/crane]=crane
  [github.com/rhysd/actionlint/cmd/actionlint]=actionlint
)
# krew and its validator, from the module in krew/ (older Kubernetes libraries than cosign's).
krew_tools=(sigs.k8s.io/krew/cmd/validate-krew-manifest sigs.k8s.io/krew/cmd/krew)
# What upstream stamps in, so `cosign version` and `actionlint -version` say which release runs.
cosign_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' github.com/sigstore/cosign/v2)
actionlint_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' github.com/rhysd/actionlint)
ldflags="-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$cosign_version"
ldflags+=" -X github.com/rhysd/actionlint.version=$actionlint_version"

stamp=$(gobuild::stamp "$here" go.mod go.sum krew/go.mod krew/go.sum build.sh)
build() {
  (cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$1/" "${!tools[@]}")
  (cd "$here/krew" && "$go" build -trimpath -buildvcs=false -ldflags="-s -w" -o "$1/" "${krew_tools[@]}")
  mv -f "$1/krew" "$1/kubectl-krew"
}
gobuild::run "$out" "$stamp" "${tools[*]} validate-krew-manifest kubectl-krew ($cosign_version, $actionlint_version)" \
  build "${tools[@]}" validate-krew-manifest kubectl-krew
echo "$out"
