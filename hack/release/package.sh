#!/usr/bin/env bash
# The files a GitHub release carries, from the two static binaries (hack/build-static.sh
# x86_64-/aarch64-unknown-linux-gnu):
#
#   hack/release/package.sh DIST_DIR
#
#   appflow-connector-operator_vX.Y.Z_linux_{amd64,arm64}   the operator (also `check` in CI)
#   kubectl-conninfo_vX.Y.Z_linux_{amd64,arm64}.tar.gz       the kubectl plugin, with LICENSE
#   conninfo.yaml                                             the krew manifest, from .krew.yaml
#   crds.yaml                                                 both CRDs (crds/), one file, for
#                                                             teams that manage CRDs themselves
#   SHA256SUMS                                                every file above
#
# The archives are reproducible (sorted entries, owner 0, mtime of the commit, gzip without a
# name or time). The krew manifest is checked by krew's own validator twice: as released (URLs on
# GitHub, not installable from here), and with the URLs pointed at a loopback HTTP server serving
# DIST_DIR, where the validator installs each platform's archive with `kubectl krew install`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
dist=${1:?usage: package.sh DIST_DIR}
fail() { echo "package.sh: FAIL: $*" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=v$version
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tools=$(hack/release/tools/build.sh)
declare -A triples=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
# RELEASE_PLATFORMS (default both) narrows the files to some platforms, as `make test` does
# (amd64 only); the krew manifest then lists only those.
read -r -a platforms <<<"${RELEASE_PLATFORMS:-amd64 arm64}"
for arch in "${platforms[@]}"; do
  [[ -n ${triples[$arch]:-} ]] || fail "RELEASE_PLATFORMS: $arch is not one of ${!triples[*]}"
done
[[ " ${platforms[*]} " == *" amd64 "* ]] || fail "RELEASE_PLATFORMS must include amd64 (crds.yaml is checked with it)"

rm -rf "$dist" && mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
stage=$(mktemp -d)
server_pid=
trap 'rm -rf "$stage"; [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; true' EXIT
for arch in "${platforms[@]}"; do
  binary=target/${triples[$arch]}/release/appflow-connector-operator
  [[ -x $binary ]] || env -u SOURCE_DATE_EPOCH hack/build-static.sh "${triples[$arch]}" >&2
  install -m 0755 "$binary" "$dist/appflow-connector-operator_${tag}_linux_$arch"
  mkdir -p "$stage/$arch"
  install -m 0755 "$binary" "$stage/$arch/kubectl-conninfo"
  install -m 0644 LICENSE "$stage/$arch/LICENSE"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$stage/$arch" -cf - kubectl-conninfo LICENSE | gzip -n -9 >"$dist/kubectl-conninfo_${tag}_linux_$arch.tar.gz"
done

# Both CRDs as one multi-document file, exactly what the released binary's `crd` prints.
{ cat crds/connectorinfos.appflow.connectorinfo.dev.yaml; echo "---"
  cat crds/appflowaccounts.appflow.connectorinfo.dev.yaml; } >"$dist/crds.yaml"
"$dist/appflow-connector-operator_${tag}_linux_amd64" crd | cmp -s - "$dist/crds.yaml" \
  || fail "crds.yaml differs from what the amd64 binary's 'crd' prints"
echo "crds.yaml: both CRDs, as the binary prints them"

# render_krew BASE_URL OUT: .krew.yaml with the tag, the archives' URLs under BASE_URL and their
# SHA-256 (krew-release-bot's {{ .TagName }} and {{addURIAndSha "URL" .TagName }}).
render_krew() {
  python3 - .krew.yaml "$tag" "$1" "$dist" "${platforms[*]}" >"$2" <<'PY'
import hashlib, re, sys
template, tag, base, dist, platforms = sys.argv[1:]
github = "https://github.com/appflow-connector-operator/appflow-connector-operator/releases/download/{{ .TagName }}/"
def uri_and_sha(match):
    indent, url = match.group(1), match.group(2)
    assert url.startswith(github), url
    name = url.removeprefix(github).replace("{{ .TagName }}", tag)
    sha = hashlib.sha256(open(f"{dist}/{name}", "rb").read()).hexdigest()
    return f"{indent}uri: {base.rstrip('/')}/{name}\n{indent}sha256: {sha}"
text = open(template).read()
# Only the platforms built: a platform's entry runs from its "- selector:" to the next one.
head, *entries = re.split(r'(?m)^(?=    - selector:)', text)
text = head + "".join(e for e in entries if re.search(r'arch: (\S+)', e).group(1) in platforms.split())
text = re.sub(r'^( *)\{\{ *addURIAndSha "([^"]+)" \.TagName *\}\}$', uri_and_sha, text, flags=re.M)
text = text.replace("{{ .TagName }}", tag)
assert "{{" not in text, "unrendered template left"
sys.stdout.write(text)
PY
}
render_krew "https://github.com/appflow-connector-operator/appflow-connector-operator/releases/download/$tag" \
  "$dist/conninfo.yaml"
"$tools/validate-krew-manifest" -manifest "$dist/conninfo.yaml" -skip-install 2>"$stage/krew.log" \
  || fail "krew rejects conninfo.yaml: $(cat "$stage/krew.log")"
echo "krew: conninfo.yaml valid (release URLs)"

# The same manifest, served from loopback, installed by krew for both platforms.
coproc SERVER { exec python3 -u -m http.server --bind 127.0.0.1 --directory "$dist" 0 2>/dev/null; }
server_pid=$SERVER_PID
read -r -t 20 line <&"${SERVER[0]}" || fail "the loopback HTTP server did not start"
port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' <<<"$line")
mkdir -p "$stage/krew-check"
render_krew "http://127.0.0.1:$port" "$stage/krew-check/conninfo.yaml"
kubectl_dir=$(hack/controlplane/build.sh --bin-dir)
PATH=$tools:$kubectl_dir:$PATH "$tools/validate-krew-manifest" -manifest "$stage/krew-check/conninfo.yaml" \
  2>"$stage/krew.log" || fail "krew cannot install conninfo.yaml's archives: $(cat "$stage/krew.log")"
echo "krew: $(grep -o 'all [0-9]* spec.platforms installed fine' "$stage/krew.log") (served from loopback)"

(cd "$dist" && sha256sum -- * >SHA256SUMS)
echo "dist ($dist):"
(cd "$dist" && ls -l --time-style=+ -- * | awk '{print "  " $5 "  " $NF}')
