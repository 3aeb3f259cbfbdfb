#!/usr/bin/env bash
# Builds the operator as one fully static release binary, the way the
# Dockerfile does, and checks it:
#
#   hack/build-static.sh [TARGET_TRIPLE]     (default: the host's, e.g. x86_64-unknown-linux-gnu)
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
# Checks: no ELF interpreter and no shared-library dependencies (readelf;
# file and ldd too where installed), `--version` and `crd` (compared with crds/), then - as root or
# where user namespaces are allowed - the binary alone in an otherwise empty
# root directory, as user 65532, describes a connector from the AppFlow
# emulator through `localhost`: a distroless/static container in miniature.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

triple=${1:-$(rustc -vV | sed -n 's/^host: //p')}
case $triple in
  *-linux-gnu*) ;;
  *) echo "build-static.sh: expected a *-linux-gnu target, got $triple" >&2; exit 2 ;;
esac
bin=target/$triple/release/appflow-connector-operator

echo "build-static.sh: cargo build --release --target $triple (crt-static)" >&2
# getrandom (hash seeds, TLS) finds glibc's getrandom() with dlsym(), which a static binary
# does not have, and then falls back to /dev/urandom: linked directly, the binary needs no /dev.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
  cargo build --release --locked --target "$triple" --bin appflow-connector-operator

fail() { echo "build-static.sh: FAIL: $*" >&2; exit 1; }

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

"$bin" --version
for crd in connectorinfos appflowaccounts; do
  diff -u "crds/$crd.appflow.connectorinfo.dev.yaml" <("$bin" crd "$crd") >/dev/null \
    || fail "'$bin crd $crd' differs from crds/$crd.appflow.connectorinfo.dev.yaml"
  echo "crd:  matches crds/$crd.appflow.connectorinfo.dev.yaml"
done

# The binary alone in an empty root, as the image's user 65532.
# Absolute paths: the check runs under `env -i`, without PATH.
chroot=$(command -v chroot || true)
if [[ -n $chroot && $EUID -eq 0 ]]; then
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
