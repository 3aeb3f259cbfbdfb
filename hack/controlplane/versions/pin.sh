#!/usr/bin/env bash
# Writes hack/controlplane/versions/<minor>/go.mod and go.sum for one Kubernetes release:
#
#   hack/controlplane/versions/pin.sh v1.37.2 [ETCD_VERSION]
#
# The go.mod names only the two direct requirements, k8s.io/kubernetes at that release and
# go.etcd.io/etcd/server/v3 (default: the etcd release that Kubernetes release requires for its
# own etcd client, i.e. the one it is tested against), plus a replace block that points every
# staging repo the release's own go.mod resolves through ./staging at the matching published tag
# (v1.37.2 <-> v0.37.2); `go mod tidy` (with tools.go, whose build tag tidy honours) then fills
# in the rest. Nothing is carried over from another release's go.mod: indirect versions of one
# release do not compile with another. Needs only Go and the Go module proxy.
set -euo pipefail

[[ $# -ge 1 && $1 =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "usage: $0 v1.MINOR.PATCH [ETCD_VERSION]" >&2; exit 2; }
version=$1
minor=1.${BASH_REMATCH[1]}
staging_version=v0.${version#v1.}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

# The release's own go.mod, from the module cache (downloaded outside any module).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
upstream=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')
[[ -f $upstream ]] || { echo "pin.sh: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
go_line=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream")
etcd=${2:-$(sed -n 's#^\s*go.etcd.io/etcd/client/v3 \(v[^ ]*\).*#\1#p' "$upstream")}
mapfile -t staging < <(sed -n 's#^\s*\(k8s.io/[^ ]*\) => \./staging/src/.*#\1#p' "$upstream" | LC_ALL=C sort)
[[ -n $go_line && -n $etcd && ${#staging[@]} -gt 0 ]] \
  || { echo "pin.sh: cannot read go line, etcd version or staging repos from $upstream" >&2; exit 1; }

mkdir -p "$here/$minor"
mod=$here/$minor/go.mod
{
  echo "// The Kubernetes $minor control plane: see ../../build.sh (KUBERNETES_VERSION=$minor)."
  echo "// Written by ../pin.sh $version $etcd; rerun it rather than editing by hand."
  echo "module appflow-connector-operator/hack/controlplane"
  echo
  echo "go $go_line"
  echo
  echo "require ("
  echo "	go.etcd.io/etcd/server/v3 $etcd"
  echo "	k8s.io/kubernetes $version"
  echo ")"
  echo
  echo "// k8s.io/kubernetes requires its staging repos at v0.0.0 and resolves them through"
  echo "// ./staging in its own tree; a consumer points each at the matching published tag."
  echo "replace ("
  for repo in "${staging[@]}"; do echo "	$repo => $repo $staging_version"; done
  echo ")"
} >"$mod"
rm -f "$here/$minor/go.sum"
(cd "$here/.." && go mod tidy -modfile="$mod")
echo "$mod: k8s.io/kubernetes $version, go.etcd.io/etcd/server/v3 $etcd, ${#staging[@]} staging repos at $staging_version" >&2
