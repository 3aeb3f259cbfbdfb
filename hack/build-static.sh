#!/usr/bin/env bash
# Builds the operator as one fully static release binary, the way the
# Dockerfile does, and checks it:
#
#   hack/build-static.sh [TARGET_TRIPLE]     (default: the host's, e.g. x86_64-unknown-linux-gnu;
#                                             also aarch64-unknown-linux-gnu from an x86_64 host)
#
# -> target/<triple>/release/appflow-connector-operator
#
# How: glibc's static C runtime (`-C target-feature=+crt-static`) on the
# *-linux-gnu target, so no musl toolchain or extra Rust target is needed.
# The dependencies allow it: TLS is rustls on aws-lc-rs (C, compiled in by
# aws-lc-sys), no OpenSSL, no dlopen. glibc's name resolution works static
# too: since glibc 2.34 the `files` and `dns` NSS modules are part of libc.
# An explicit --target keeps RUSTFLAGS away from build scripts and proc
# macros (they stay dynamic host binaries) and the output out of
# target/release.
#
# The other architecture is cross-compiled with Debian's cross toolchain (gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross: hack/release/install.sh): aws-lc-sys compiles its C and assembly with
# the target's gcc, and the same gcc links against the arm64 glibc's static archives. Debian's
# toolchain rather than zig: it comes from the same package archive as the rest of the machine,
# and glibc's static archive for arm64 ships with it. Its checks run the binary under
# qemu-aarch64-static (user-mode emulation, no binfmt registration).
#
# `--version` names the commit and a build date, the commit's time (build.rs), so both
# architectures' binaries of one commit say the same.
#
# Checks: the ELF header's machine is the target's, no ELF interpreter and no shared-library dependencies (readelf;
# file and ldd too where installed), `--version` and `crd` (compared with crds/), then - as root or
# where user namespaces are allowed - the binary alone in an otherwise empty
# root directory, as user 65532, describes a connector from the AppFlow
# emulator through `localhost`: a distroless/static container in miniature.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

host=$(rustc -vV | sed -n 's/^host: //p')
triple=${1:-$host}
# run: how this host runs the target's binary; machine: readelf -h's name for its architecture.
case $triple in
  x86_64-unknown-linux-gnu) machine='Advanced Micro Devices X86-64' ;;
  aarch64-unknown-linux-gnu) machine='AArch64' ;;
  *) echo "build-static.sh: expected x86_64- or aarch64-unknown-linux-gnu, got $triple" >&2; exit 2 ;;
esac
run=()
if [[ $triple != "$host" ]]; then
  arch=${triple%%-*}
  command -v "$arch-linux-gnu-gcc" >/dev/null \
    || { echo "build-static.sh: $arch-linux-gnu-gcc not found: run hack/release/install.sh" >&2; exit 1; }
  command -v "qemu-$arch-static" >/dev/null \
    || { echo "build-static.sh: qemu-$arch-static not found: run hack/release/install.sh" >&2; exit 1; }
  rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple"
  env_triple=${triple//-/_}
  export "CC_$env_triple=$arch-linux-gnu-gcc" "AR_$env_triple=$arch-linux-gnu-ar"
  export "CARGO_TARGET_${env_triple^^}_LINKER=$arch-linux-gnu-gcc"
  run=("qemu-$arch-static")
fi
bin=target/$triple/release/appflow-connector-operator
commit=${APPFLOW_BUILD_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

echo "build-static.sh: cargo build --release --target $triple (crt-static)" >&2
# getrandom (hash seeds, TLS) finds glibc's getrandom() with dlsym(), which a static binary
# does not have, and then falls back to /dev/urandom: linked directly, the binary needs no /dev.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
  cargo build --release --locked --target "$triple" --bin appflow-connector-operator

fail() { echo "build-static.sh: FAIL: $*" >&2; exit 1; }

readelf -hW "$bin" | grep -q "Machine: *$machine\$" || fail "$bin is not for $machine: $(readelf -hW "$bin" | grep Machine)"
echo "readelf: ELF machine $machine"
# Static: no program interpreter, no DT_NEEDED entries.
readelf -lW "$bin" | grep -q 'Requesting program interpreter' && fail "$bin has an ELF interpreter"
readelf -dW "$bin" | grep -q '(NEEDED)' && fail "$bin needs shared libraries: $(readelf -dW "$bin" | grep NEEDED)"
echo "readelf: no interpreter, no NEEDED libraries"
# file and ldd say the same in words (where installed).
if command -v file >/dev/null; then
  file_out=$(file -b "$bin")
  [[ $file_out == *"static"* ]] || fail "file does not call it static: $file_out"
  echo "file: $file_out"
fi
if command -v ldd >/dev/null; then
  ldd_out=$(ldd "$bin" 2>&1 || true)
  [[ $ldd_out == *"not a dynamic executable"* || $ldd_out == *"statically linked"* ]] \
    || fail "ldd lists libraries: $ldd_out"
  echo "ldd: $(xargs <<<"$ldd_out")"
fi

version_line=$("${run[@]}" "$bin" --version)
echo "$version_line"
[[ $version_line =~ ^appflow-connector-operator\ $version\ \(commit\ $commit,\ built\ [0-9T:-]+Z\)$ ]] \
  || fail "--version should name $version, commit $commit and a build date: $version_line"
for crd in connectorinfos appflowaccounts; do
  diff -u "crds/$crd.appflow.connectorinfo.dev.yaml" <("${run[@]}" "$bin" crd "$crd") >/dev/null \
    || fail "'$bin crd $crd' differs from crds/$crd.appflow.connectorinfo.dev.yaml"
  echo "crd:  matches crds/$crd.appflow.connectorinfo.dev.yaml"
done

# The binary alone in an empty root, as the image's user 65532.
# Absolute paths: the check runs under `env -i`, without PATH.
chroot=$(command -v chroot || true)
if [[ ${#run[@]} -gt 0 ]]; then
  enter=()
  echo "empty root: skipped for $triple (hack/release/compare-arches.sh runs it against the host's binary)"
elif [[ -n $chroot && $EUID -eq 0 ]]; then
  enter=("$chroot" --userspec=65532:65532)
elif [[ -n $chroot ]] && unshare -r true 2>/dev/null; then
  enter=("$(command -v unshare)" -r "$chroot")
else
  enter=()
  echo "empty root: skipped (needs root or user namespaces)"
fi
if [[ ${#enter[@]} -gt 0 ]]; then
  root=$(mktemp -d)
  chmod 0755 "$root"
  emulator_pid=
  cleanup() { [[ -n $emulator_pid ]] && kill "$emulator_pid" 2>/dev/null; rm -rf "$root"; }
  trap cleanup EXIT
  mkdir -p "$root/etc"
  cp "$bin" "$root/operator"
  # The kubelet mounts an /etc/hosts into every container.
  echo "127.0.0.1 localhost" >"$root/etc/hosts"
  cargo build --quiet -p appflow-emulator
  coproc EMU { exec target/debug/appflow-emulator --listen 127.0.0.1:0 2>/dev/null; }
  emulator_pid=$EMU_PID
  read -r -t 20 line <&"${EMU[0]}" || fail "emulator did not start"
  port=${line##*:}
  out=$(env -i AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
    "${enter[@]}" "$root" /operator describe --connector-type Salesforce \
    --region us-east-1 --endpoint-url "http://localhost:$port" -o json) \
    || fail "describe in the empty root failed: $out"
  [[ $out == *'"type": "Ready"'* && $out == *'"reason": "Described"'* ]] \
    || fail "unexpected describe output in the empty root: $out"
  echo "empty root: describe via http://localhost:$port as uid 65532 -> Ready/Described"
fi

size=$(stat -c %s "$bin")
echo "size: $size bytes ($(( (size + 524288) / 1048576 )) MiB) $bin"
# The release's size budget (docs/releasing.md): 20 MiB a binary.
(( size <= 20 * 1048576 )) || fail "$bin is $size bytes, over the 20 MiB budget"
