#!/usr/bin/env bash
# Installs what the image build and the node-backed cluster need from Debian's packages, when
# missing: buildah (hack/image/build.sh), containerd, runc and the CNI plugins (the launcher's
# --node mode). Needs root, as on the test machines and in CI; prints what it installs.
set -euo pipefail

needed=()
command -v buildah >/dev/null || needed+=(buildah)
command -v containerd >/dev/null || needed+=(containerd)
command -v runc >/dev/null || needed+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || needed+=(containernetworking-plugins)
((${#needed[@]} == 0)) && exit 0

if [[ $(id -u) != 0 ]]; then
  echo "hack/node/install.sh: missing ${needed[*]}; install them as root: apt-get install ${needed[*]}" >&2
  exit 1
fi
echo "hack/node/install.sh: installing ${needed[*]} from Debian's packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
