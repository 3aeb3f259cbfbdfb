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
# this script and every .go file here) differs from the one stored next to the binaries, or one
# is missing. A cold build compiles cosign's dependency tree (several minutes on two cores); a
# warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=${APPFLOW_RELEASE_TOOLS_DIR:-$repo/.cache/release-tools/bin}

go=$(command -v go || true)
[[ -n $go ]] || go=/usr/local/go/bin/go
[[ -x $go ]] || { echo "build.sh: Go not found (PATH or /usr/local/go/bin)" >&2; exit 1; }
# Never let go.mod's `go` line trigger a toolchain download; static binaries, as upstream ships.
export GOTOOLCHAIN=local CGO_ENABLED=0

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

stamp=$(
  cd "$here"
  { "$go" env GOVERSION GOOS GOARCH; cat go.mod go.sum build.sh
    cat krew/go.mod krew/go.sum
    find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1
)

up_to_date() {
  [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]] || return 1
  for name in "${tools[@]}" validate-krew-manifest kubectl-krew; do [[ -x $out/$name ]] || return 1; done
}

mkdir -p "$out"
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

if up_to_date; then
  echo "$out"
  exit 0
fi

echo "build.sh: building ${tools[*]} validate-krew-manifest kubectl-krew ($cosign_version, $actionlint_version) into $out ..." >&2
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmp/" "${!tools[@]}")
(cd "$here/krew" && "$go" build -trimpath -buildvcs=false -ldflags="-s -w" -o "$tmp/" "${krew_tools[@]}")
mv -f "$tmp/krew" "$tmp/kubectl-krew"
for name in "${tools[@]}" validate-krew-manifest kubectl-krew; do mv -f "$tmp/$name" "$out/$name"; done
echo "$stamp" >"$out/.stamp"
echo "$out"
