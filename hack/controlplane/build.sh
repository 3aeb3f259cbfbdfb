#!/usr/bin/env bash
# Builds the local control plane binaries (etcd, kube-apiserver, kubectl, the
# controlplane launcher, and for its --node mode kube-controller-manager,
# kube-scheduler, kubelet and a pause binary) for one Kubernetes minor version
# into
#   $APPFLOW_CONTROLPLANE_BIN_DIR (default: <repo>/.cache/controlplane/<minor>/bin)
# and prints their paths, or with --bin-dir only that directory. Needs only Go
# and the Go module proxy.
#
#   KUBERNETES_VERSION=1.33 hack/controlplane/build.sh [--bin-dir]
#
# KUBERNETES_VERSION (default 1.37) picks versions/<minor>/go.mod (and the
# go.sum next to it), which pins that release and its etcd; versions/pin.sh
# writes them. The launcher and the other sources here are shared by all.
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# the version's go.mod and go.sum, this script, hack/lib/gobuild.sh and every
# .go file here) differs from the one stored next to the binaries, or a binary
# is missing. A cold build compiles all of Kubernetes and takes minutes on two
# cores; a warm call is instant.
set -euo pipefail

print=paths
case ${1:-} in
  "") ;;
  --bin-dir) print=dir ;;
  *) echo "usage: [KUBERNETES_VERSION=1.MINOR] $0 [--bin-dir]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/gobuild.sh
. "$here/../lib/gobuild.sh"
repo=$(cd "$here/../.." && pwd)
minor=${KUBERNETES_VERSION:-1.37}
modfile=$here/versions/$minor/go.mod
if [[ ! $minor =~ ^1\.[0-9]+$ || ! -f $modfile ]]; then
  known=$(cd "$here/versions" && find . -mindepth 2 -maxdepth 2 -name go.mod | cut -d/ -f2 | sort -V | xargs)
  echo "build.sh: KUBERNETES_VERSION=$minor: want one of: $known" >&2
  exit 1
fi
out=${APPFLOW_CONTROLPLANE_BIN_DIR:-$repo/.cache/controlplane/$minor/bin}
bins=(etcd kube-apiserver kubectl controlplane kube-controller-manager kube-scheduler kubelet pause)

gobuild::find_go

# The version that upstream's hack/lib/version.sh would stamp in; without it
# kubectl and the apiserver report v0.0.0-master.
k8s_version=$(cd "$here" && "$go" list -modfile="$modfile" -m -f '{{.Version}}' k8s.io/kubernetes)
[[ $k8s_version =~ ^v([0-9]+)\.([0-9]+)\. && ${BASH_REMATCH[1]}.${BASH_REMATCH[2]} == "$minor" ]] \
  || { echo "build.sh: $modfile pins k8s.io/kubernetes $k8s_version, not $minor" >&2; exit 1; }
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=${BASH_REMATCH[1]}"
  ldflags+=" -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"
done

stamp=$(gobuild::stamp "$here" "$modfile" "${modfile%.mod}.sum" build.sh)

# One `go build` for all of them so the shared packages compile once.
build() {
  (cd "$here" && "$go" build -modfile="$modfile" -trimpath -buildvcs=false -ldflags="$ldflags" -o "$1/" \
    ./cmd/etcd ./cmd/controlplane ./cmd/pause \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet)
}
gobuild::run "$out" "$stamp" "control plane ($k8s_version)" build "${bins[@]}"

if [[ $print == dir ]]; then echo "$out"; else for b in "${bins[@]}"; do echo "$out/$b"; done; fi
