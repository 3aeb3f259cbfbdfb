#!/usr/bin/env bash
# Builds the operator image for linux/amd64 and linux/arm64 without a daemon or a registry:
# buildah (Debian's package) builds hack/image/Containerfile from scratch once per platform, each
# with that architecture's static release binary (hack/build-static.sh [TRIPLE]), Debian's CA
# bundle and hack/image/{passwd,group}; a manifest list (OCI image index) holds both. Then it
# checks them and writes the amd64 image as an OCI archive:
#
#   hack/image/build.sh      -> localhost/appflow-connector-operator:<version> (the index) and
#                               localhost/appflow-connector-operator:<version>-<arch> in
#                               buildah's storage under .cache/containers (hack/release/publish.sh
#                               pushes the index from there), and
#                               target/image/appflow-connector-operator-<version>.oci.tar (amd64,
#                               for `make demo-cluster`)
#
# Checks: the final stage of the repository's Dockerfile (what users build with Docker) and the
# Containerfile copy the same files to the same places and set the same user, ports, entrypoint
# and command; each image's config says so too, names its platform and carries the
# org.opencontainers.image.* labels; its root holds exactly those files (the binary executable,
# owned by root); the binary in it is that platform's static one, by its ELF header (an arm64
# image holding an amd64 binary is a known release mistake); it runs - amd64 in the image's own
# root as uid 65532, arm64 under qemu-aarch64-static - and prints the version and crds/' CRDs;
# the index lists exactly the two platforms, each pointing at its image.
# RELEASE_PLATFORMS (default "amd64 arm64") narrows the build to some of them, as `make test`
# does (amd64 only: the arm64 binary is the release job's, `make release-check`); the index then
# holds exactly those.
# The images are reproducible: their timestamps are the commit's time (SOURCE_DATE_EPOCH).
# Prints each image's size (uncompressed root) and the archive's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

command -v buildah >/dev/null || { echo "image/build.sh: buildah not found (Debian: apt-get install buildah)" >&2; exit 1; }
fail() { echo "image/build.sh: FAIL: $*" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name=appflow-connector-operator
index=localhost/$name:$version
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
# Where the source and the release live (docs/releasing.md).
source_url=https://github.com/appflow-connector-operator/appflow-connector-operator
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f $ca_bundle ]] || fail "$ca_bundle missing (Debian: apt-get install ca-certificates)"
# platform -> Rust target, and readelf's name for the architecture.
declare -A triples=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
declare -A machines=([amd64]='Advanced Micro Devices X86-64' [arm64]='AArch64')
read -r -a platforms <<<"${RELEASE_PLATFORMS:-amd64 arm64}"
for arch in "${platforms[@]}"; do
  [[ -n ${triples[$arch]:-} ]] || fail "RELEASE_PLATFORMS: $arch is not one of ${!triples[*]}"
done
[[ " ${platforms[*]} " == *" amd64 "* ]] || fail "RELEASE_PLATFORMS must include amd64 (the OCI archive is amd64's)"

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

# build_platform ARCH: the image localhost/NAME:VERSION-ARCH from that architecture's binary.
build_platform() {
  local arch=$1 binary=target/${triples[$1]}/release/$name
  [[ -x $binary ]] || env -u SOURCE_DATE_EPOCH hack/build-static.sh "${triples[$arch]}" >&2
  rm -rf "${staging:?}/$arch" && mkdir -p "$staging/$arch"
  cp "$binary" "$staging/$arch/$name"
  cp "$ca_bundle" "$staging/$arch/ca-certificates.crt"
  cp "$here/passwd" "$here/group" "$staging/$arch/"
  "${buildah[@]}" rmi -f "$index-$arch" >/dev/null 2>&1 || true
  "${buildah[@]}" build --quiet --isolation chroot --layers=false --platform "linux/$arch" \
    --timestamp "$SOURCE_DATE_EPOCH" \
    --label "org.opencontainers.image.title=$name" \
    --label "org.opencontainers.image.description=Mirrors Amazon AppFlow DescribeConnector into ConnectorInfo resources" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$commit" \
    --label "org.opencontainers.image.created=$created" \
    --label "org.opencontainers.image.source=$source_url" \
    --label "org.opencontainers.image.url=$source_url" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    -f "$here/Containerfile" -t "$index-$arch" "$staging/$arch" >/dev/null
}

# check_config ARCH: the config the image carries.
check_config() {
  "${buildah[@]}" inspect --type image "$index-$1" | python3 -c '
import json, sys
arch, version, commit, source = sys.argv[1:]
oci = json.load(sys.stdin)["OCIv1"]
c = oci["config"]
want = {"User": "65532:65532", "Entrypoint": ["/appflow-connector-operator"], "Cmd": ["run"]}
for key, value in want.items():
    assert c.get(key) == value, f"{key}: {c.get(key)!r} != {value!r}"
assert sorted(c.get("ExposedPorts", {})) == ["8081/tcp", "8443/tcp"], c.get("ExposedPorts")
assert (oci["os"], oci["architecture"]) == ("linux", arch), (oci["os"], oci["architecture"])
labels = c["Labels"]
for key, value in {"version": version, "revision": commit, "source": source, "licenses": "Apache-2.0"}.items():
    got = labels.get("org.opencontainers.image." + key)
    assert got == value, f"label {key}: {got!r} != {value!r}"
print(f"config ({arch}):", json.dumps({k: c[k] for k in want}), "ports", list(c["ExposedPorts"]),
      "labels", " ".join(sorted(k.rsplit(".", 1)[1] for k in labels if k.startswith("org.opencontainers.image."))))
' "$1" "$version" "$commit" "$source_url" || fail "image config ($1)"
}

# elf_is FILE ARCH: whether the ELF header of FILE names ARCH's machine.
elf_is() { readelf -hW "$1" | grep -q "Machine: *${machines[$2]}\$"; }

# check_root ARCH: exactly the four files (and their directories), the binary executable and
# that platform's static binary; it runs and prints the version and the CRDs.
check_root() {
  local arch=$1 ctr root files expected binary=target/${triples[$1]}/release/$name
  ctr=$("${buildah[@]}" from --os linux --arch "$arch" "$index-$arch")
  root=$("${buildah[@]}" mount "$ctr")
  files=$(cd "$root" && find . -type f -printf '%m %u %p\n' | LC_ALL=C sort)
  expected=$'644 root ./etc/group\n644 root ./etc/passwd\n644 root ./etc/ssl/certs/ca-certificates.crt\n755 root ./appflow-connector-operator'
  [[ $files == "$(LC_ALL=C sort <<<"$expected")" ]] || fail "unexpected files in the $arch image:"$'\n'"$files"
  cmp -s "$root/$name" "$binary" || fail "the $arch image's binary is not $binary"
  elf_is "$root/$name" "$arch" \
    || fail "the $arch image holds a binary for $(readelf -hW "$root/$name" | sed -n 's/^ *Machine: *//p')"
  grep -q '^nonroot:x:65532:65532:' "$root/etc/passwd" || fail "no passwd entry for 65532"
  rootfs=$(du -sb "$root" | cut -f1)
  # The entrypoint runs in the image's own root as uid 65532 (buildah's chroot isolation: no
  # runtime, no daemon); the arm64 one under user-mode emulation, from the mounted root.
  if [[ $arch == amd64 ]]; then
    in_image() { "${buildah[@]}" run --isolation chroot --user 65532:65532 "$ctr" -- /$name "$@"; }
  else
    in_image() { qemu-aarch64-static "$root/$name" "$@"; }
  fi
  in_image --version | grep -q "^$name $version (commit $commit, built " || fail "--version in the $arch image"
  for crd in connectorinfos appflowaccounts; do
    in_image crd "$crd" | cmp -s - "crds/$crd.appflow.connectorinfo.dev.yaml" || fail "crd $crd in the $arch image"
  done
  echo "runs ($arch): $(in_image --version); root $rootfs bytes ($((rootfs / 1024 / 1024)) MiB)"
  "${buildah[@]}" umount "$ctr" >/dev/null
  "${buildah[@]}" rm "$ctr" >/dev/null
}

for arch in "${platforms[@]}"; do
  build_platform "$arch"
  check_config "$arch"
  check_root "$arch"
done
# The ELF check can fail: each platform's binary is refused for the other platform.
elf_is "target/${triples[amd64]}/release/$name" arm64 && fail "the ELF check took an amd64 binary for arm64"
if [[ " ${platforms[*]} " == *" arm64 "* ]]; then
  elf_is "target/${triples[arm64]}/release/$name" amd64 && fail "the ELF check took an arm64 binary for amd64"
fi
echo "ELF check: refuses each platform's binary for the other"

# The index: the platforms built, each entry pointing at its image.
"${buildah[@]}" manifest rm "$index" >/dev/null 2>&1 || true
"${buildah[@]}" rmi -f "$index" >/dev/null 2>&1 || true
"${buildah[@]}" manifest create "$index" >/dev/null
for arch in "${platforms[@]}"; do
  "${buildah[@]}" manifest add --os linux --arch "$arch" "$index" "containers-storage:$index-$arch" >/dev/null
done
"${buildah[@]}" manifest inspect "$index" | python3 -c '
import json, sys
entries = json.load(sys.stdin)["manifests"]
platforms = sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in entries)
assert platforms == sorted(("linux", a) for a in sys.argv[1:]), platforms
print("index:", ", ".join(m["platform"]["os"] + "/" + m["platform"]["architecture"] + " " + m["digest"][:19] for m in entries))
' "${platforms[@]}" || fail "the index does not hold exactly ${platforms[*]}"

mkdir -p target/image
archive=target/image/$name-$version.oci.tar
rm -f "$archive"
"${buildah[@]}" push --quiet "$index-amd64" "oci-archive:$archive:$index" >/dev/null
echo "image: $index (${platforms[*]}); amd64 OCI archive $(stat -c %s "$archive") bytes -> $archive"
