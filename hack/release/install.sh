#!/usr/bin/env bash
# Installs what the release pipeline needs besides its Go tools (hack/release/tools/build.sh),
# when missing:
#   - Debian's cross toolchain for the aarch64 binary (gcc-aarch64-linux-gnu with
#     libc6-dev-arm64-cross) and qemu-user-static, which runs that binary in the checks (only
#     when RELEASE_PLATFORMS, default "amd64 arm64", names arm64; `make test` leaves it out);
#   - shellcheck, for the workflows' shell steps (through actionlint) and the release scripts;
#   - (the same) the Rust standard library for aarch64-unknown-linux-gnu (rustup);
#   - cargo-cyclonedx from crates.io, which writes the SBOM (into .cache/cargo-tools).
# Needs root for the Debian packages, as on the test machines and in CI; prints what it installs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cyclonedx_version=0.5.9

# RELEASE_PLATFORMS=amd64 (`make test`'s share of the release) needs no cross toolchain.
arm64=false
[[ " ${RELEASE_PLATFORMS:-amd64 arm64} " == *" arm64 "* ]] && arm64=true
needed=()
if $arm64; then
  command -v aarch64-linux-gnu-gcc >/dev/null || needed+=(gcc-aarch64-linux-gnu)
  [[ -f /usr/aarch64-linux-gnu/lib/libc.a ]] || needed+=(libc6-dev-arm64-cross)
  command -v qemu-aarch64-static >/dev/null || needed+=(qemu-user-static)
fi
# actionlint checks the workflows' shell steps with it; `make lint` checks the release scripts.
command -v shellcheck >/dev/null || needed+=(shellcheck)
if ((${#needed[@]} > 0)); then
  if [[ $(id -u) != 0 ]]; then
    echo "hack/release/install.sh: missing ${needed[*]}; install them as root: apt-get install ${needed[*]}" >&2
    exit 1
  fi
  echo "hack/release/install.sh: installing ${needed[*]} from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi

if $arm64; then
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
fi

tools=$repo/.cache/cargo-tools
if [[ $("$tools/bin/cargo-cyclonedx" cyclonedx --version 2>/dev/null) != *" $cyclonedx_version" ]]; then
  echo "hack/release/install.sh: installing cargo-cyclonedx $cyclonedx_version into $tools" >&2
  cargo install --quiet --locked --root "$tools" "cargo-cyclonedx@$cyclonedx_version"
fi
