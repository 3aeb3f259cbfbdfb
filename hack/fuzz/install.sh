#!/usr/bin/env bash
# cargo-fuzz from crates.io into .cache/cargo-fuzz (a no-op when that version is there). The
# fuzz targets build with the nightly toolchain (`cargo +nightly fuzz`), which rustup provides.
set -euo pipefail
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
	echo "fuzzing needs Rust's nightly toolchain (rustup toolchain install nightly)" >&2
	exit 1
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=0.13.2
bin="$root/.cache/cargo-fuzz/bin/cargo-fuzz"
if [[ -x "$bin" ]] && [[ "$("$bin" --version)" == "cargo-fuzz $version" ]]; then
	exit 0
fi
# Its own build directory: not the operator's (shared) target directory.
env -u CARGO_TARGET_DIR -u CARGO_BUILD_BUILD_DIR \
	cargo install --quiet --locked --force --root "$root/.cache/cargo-fuzz" "cargo-fuzz@$version"
