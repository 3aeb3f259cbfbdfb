#!/usr/bin/env bash
# Builds the last release (hack/upgrade/previous-release) from the commit it was built from, for
# the upgrade test (`make upgrade-test`, tests/e2e/upgrade.rs), under .cache/upgrade/<commit>/:
#
#   src/      `git archive` of the commit (once)
#   src/target/x86_64-unknown-linux-gnu/release/appflow-connector-operator
#             its static x86_64 binary, built as its hack/build-static.sh builds it (glibc
#             crt-static, the commit named by APPFLOW_BUILD_COMMIT since src/ has no .git); the
#             target dir stays between runs
#   image/    its linux/amd64 image as an OCI image layout: buildah (storage under
#             .cache/containers, as hack/image/build.sh) builds the commit's own
#             hack/image/Containerfile with that binary, Debian's CA bundle and its passwd/group
#
# Idempotent: a stamp (this script's hash and the commit) skips everything once done. Prints
# what the test needs, as KEY=VALUE lines: PREVIOUS_RELEASE, PREVIOUS_COMMIT, PREVIOUS_BINARY,
# PREVIOUS_IMAGE_LAYOUT. Everything else goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
# shellcheck source=SCRIPTDIR/previous-release
. "$here/previous-release"
: "${PREVIOUS_RELEASE:?}" "${PREVIOUS_COMMIT:?}"
fail() { echo "build-previous.sh: FAIL: $*" >&2; exit 1; }

name=appflow-connector-operator
triple=x86_64-unknown-linux-gnu
cache=$repo/.cache/upgrade/$PREVIOUS_COMMIT
src=$cache/src
binary=$src/target/$triple/release/$name
layout=$cache/image
stamp=$( { cat "${BASH_SOURCE[0]}"; echo "$PREVIOUS_COMMIT"; } | sha256sum | cut -d' ' -f1)
# Run by the test under `cargo test`, the environment carries the outer cargo's variables
# (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...), some of which build scripts watch: without them, a
# build from the test and one from make are the same build, and neither redoes the other's.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^CARGO' | grep -vx CARGO_HOME)

report() {
  printf 'PREVIOUS_RELEASE=%s\nPREVIOUS_COMMIT=%s\nPREVIOUS_BINARY=%s\nPREVIOUS_IMAGE_LAYOUT=%s\n' \
    "$PREVIOUS_RELEASE" "$PREVIOUS_COMMIT" "$binary" "$layout"
}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ -f $cache/.stamp && $(cat "$cache/.stamp") == "$stamp" && -f $layout/index.json && -x $binary ]]; then
  report
  exit 0
fi

# 1. The commit's tree, once (a full clone is needed).
if [[ ! -f $src/Cargo.toml ]]; then
  git cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null \
    || fail "commit $PREVIOUS_COMMIT not in this clone (fetch the full history)"
  rm -rf "$src" && mkdir -p "$src"
  git archive "$PREVIOUS_COMMIT" | tar -x -C "$src"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$src/Cargo.toml" | head -1)
[[ $version == "$PREVIOUS_RELEASE" ]] || fail "$PREVIOUS_COMMIT is version $version, not $PREVIOUS_RELEASE"
epoch=$(git log -1 --format=%ct "$PREVIOUS_COMMIT")

# 2. The static binary, with the flags of the commit's hack/build-static.sh (its own checks
# also build and run the emulator; here the ELF header and --version suffice).
echo "build-previous.sh: $PREVIOUS_RELEASE ($PREVIOUS_COMMIT): cargo build --release --target $triple" >&2
(
  cd "$src"
  grep -q 'target-feature=+crt-static --cfg getrandom_backend=\\"linux_getrandom\\"' hack/build-static.sh \
    || fail "the commit's hack/build-static.sh builds with other flags: update this script"
  env -u CARGO_TARGET_DIR APPFLOW_BUILD_COMMIT="$PREVIOUS_COMMIT" SOURCE_DATE_EPOCH="$epoch" \
    RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
    cargo build --release --locked --target "$triple" --bin "$name" >&2
)
readelf -lW "$binary" | grep -q 'Requesting program interpreter' && fail "$binary is not static"
"$binary" --version | grep -q "^$name $PREVIOUS_RELEASE (commit $PREVIOUS_COMMIT," \
  || fail "$binary --version: $("$binary" --version)"

# 3. The image, from the commit's Containerfile, written out as an OCI image layout.
store=$repo/.cache/containers
buildah=(buildah --root "$store/storage" --runroot "$store/run" --storage-driver vfs)
staging=$cache/staging
tag=localhost/$name:$PREVIOUS_RELEASE-previous-amd64
rm -rf "$staging" && mkdir -p "$staging"
cp "$binary" "$staging/$name"
cp /etc/ssl/certs/ca-certificates.crt "$staging/"
cp "$src/hack/image/passwd" "$src/hack/image/group" "$staging/"
"${buildah[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
"${buildah[@]}" build --quiet --isolation chroot --layers=false --platform linux/amd64 \
  --timestamp "$epoch" \
  --label "org.opencontainers.image.version=$PREVIOUS_RELEASE" \
  --label "org.opencontainers.image.revision=$PREVIOUS_COMMIT" \
  -f "$src/hack/image/Containerfile" -t "$tag" "$staging" >/dev/null
rm -rf "$layout"
"${buildah[@]}" push --quiet "$tag" "oci:$layout:$PREVIOUS_RELEASE" >/dev/null
"${buildah[@]}" rmi -f "$tag" >/dev/null
rm -rf "$staging"
echo "build-previous.sh: image $PREVIOUS_RELEASE (linux/amd64) -> $layout" >&2

echo "$stamp" >"$cache/.stamp"
report
