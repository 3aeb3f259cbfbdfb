#!/usr/bin/env bash
# Builds the operator image without a daemon or a registry: buildah (Debian's package) builds
# hack/image/Containerfile from scratch with the static release binary (hack/build-static.sh),
# Debian's CA bundle and hack/image/{passwd,group}; then checks it and writes it as an OCI
# archive:
#
#   hack/image/build.sh      -> target/image/appflow-connector-operator-<version>.oci.tar
#                               and localhost/appflow-connector-operator:<version> in
#                               buildah's storage under .cache/containers
#
# Checks: the final stage of the repository's Dockerfile (what users build with Docker) and
# the Containerfile copy the same files to the same places and set the same user, ports,
# entrypoint and command; the built image's config says so too, its root holds exactly those
# files (the binary executable, owned by root), the binary in it is the static one, and it runs
# there as uid 65532 (`--version`, `crd`).
# Prints the image's size (uncompressed root and OCI archive).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

command -v buildah >/dev/null || { echo "image/build.sh: buildah not found (Debian: apt-get install buildah)" >&2; exit 1; }
fail() { echo "image/build.sh: FAIL: $*" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name=appflow-connector-operator
image=localhost/$name:$version
triple=$(rustc -vV | sed -n 's/^host: //p')
binary=target/$triple/release/$name
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -x $binary ]] || hack/build-static.sh >&2
[[ -f $ca_bundle ]] || fail "$ca_bundle missing (Debian: apt-get install ca-certificates)"

# The final stage of a Dockerfile, as "instruction arguments" lines with every --from=...
# source reduced to its file name (the Containerfile's sources are in its staging dir).
final_stage() {
  awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' "$1" |
    grep -E '^(FROM|COPY|USER|EXPOSE|ENTRYPOINT|CMD) ' |
    sed -E 's/ --from=[a-z]+//; s#^(COPY( --chmod=[0-7]+)?) [^ ]*/([^ /]+) #\1 \3 #'
}
if ! diff -u <(final_stage Dockerfile) <(final_stage "$here/Containerfile") >&2; then
  fail "the final stages of Dockerfile and hack/image/Containerfile differ"
fi
echo "final stages agree: $(final_stage Dockerfile | grep -c '^COPY') files, $(final_stage Dockerfile | grep -E '^(USER|ENTRYPOINT|CMD)' | xargs)"

# buildah's own storage, inside the repository's cache: nothing outside it is touched. vfs
# needs no overlay mounts (containers here may not allow them).
store=$repo/.cache/containers
buildah=(buildah --root "$store/storage" --runroot "$store/run" --storage-driver vfs)
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp "$binary" "$staging/$name"
cp "$ca_bundle" "$staging/ca-certificates.crt"
cp "$here/passwd" "$here/group" "$staging/"
"${buildah[@]}" rmi -f "$image" >/dev/null 2>&1 || true
"${buildah[@]}" build --quiet --isolation chroot --layers=false \
  --label "org.opencontainers.image.title=$name" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  -f "$here/Containerfile" -t "$image" "$staging" >/dev/null

# The config the image carries.
config=$("${buildah[@]}" inspect --type image "$image")
python3 - "$config" <<'PY' || fail "image config"
import json, sys
c = json.loads(sys.argv[1])["OCIv1"]["config"]
want = {"User": "65532:65532", "Entrypoint": ["/appflow-connector-operator"], "Cmd": ["run"]}
for key, value in want.items():
    assert c.get(key) == value, f"{key}: {c.get(key)!r} != {value!r}"
assert list(c.get("ExposedPorts", {})) == ["8080/tcp"], c.get("ExposedPorts")
print("config:", json.dumps({k: c[k] for k in want}), "ports", list(c["ExposedPorts"]))
PY

# The root it holds: exactly the four files (and their directories), the binary executable.
ctr=$("${buildah[@]}" from "$image")
root=$("${buildah[@]}" mount "$ctr")
files=$(cd "$root" && find . -type f -printf '%m %u %p\n' | LC_ALL=C sort)
expected=$'644 root ./etc/group\n644 root ./etc/passwd\n644 root ./etc/ssl/certs/ca-certificates.crt\n755 root ./appflow-connector-operator'
[[ $files == "$(LC_ALL=C sort <<<"$expected")" ]] || fail "unexpected files in the image:"$'\n'"$files"
cmp -s "$root/appflow-connector-operator" "$binary" || fail "the image's binary is not $binary"
grep -q '^nonroot:x:65532:65532:' "$root/etc/passwd" || fail "no passwd entry for 65532"
rootfs=$(du -sb "$root" | cut -f1)
"${buildah[@]}" umount "$ctr" >/dev/null
# The entrypoint runs in the image's own root as uid 65532 (buildah's chroot isolation: no
# runtime, no daemon): its version, and the CRD it prints is crds/'s.
in_image() { "${buildah[@]}" run --isolation chroot --user 65532:65532 "$ctr" -- /$name "$@"; }
in_image --version | grep -qx "$name $version" || fail "--version in the image"
for crd in connectorinfos appflowaccounts; do
  in_image crd "$crd" | cmp -s - "crds/$crd.appflow.connectorinfo.dev.yaml" || fail "crd $crd in the image"
done
echo "runs in the image as 65532: $(in_image --version)"
"${buildah[@]}" rm "$ctr" >/dev/null

mkdir -p target/image
archive=target/image/$name-$version.oci.tar
rm -f "$archive"
"${buildah[@]}" push --quiet "$image" "oci-archive:$archive:$image"
echo "image: $image, root $rootfs bytes ($((rootfs / 1024 / 1024)) MiB), OCI archive $(stat -c %s "$archive") bytes -> $archive"
