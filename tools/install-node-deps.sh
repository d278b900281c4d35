#!/usr/bin/env bash
# Installs the Debian packages a local node needs (tests/helpers/node.py, config_manager.devcluster.node):
# the container runtime (containerd + runc), CNI plugins, iptables/conntrack for Service routing,
# busybox-static (the workload image), mmdebstrap (the operator image's base root filesystem) and gcc
# (the static pause binary). A no-op when everything is there; needs root and apt-get.
#
#   tools/install-node-deps.sh          (run by `make node-deps`, a prerequisite of `make test`)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"

# The runtime at the versions pinned in versions.env; the rest as Debian bookworm has them.
declare -A pinned=([containerd]="$CONTAINERD_DEBIAN_VERSION" [runc]="$RUNC_DEBIAN_VERSION"
                   [containernetworking-plugins]="$CNI_PLUGINS_DEBIAN_VERSION")
packages=(containerd runc containernetworking-plugins iptables conntrack busybox-static mmdebstrap
          gcc libc6-dev iproute2 kmod)
missing=()
for p in "${packages[@]}"; do
  installed="$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null || true)"
  want="${pinned[$p]:-}"
  if ! echo "$installed" | grep -q "install ok installed" || { [ -n "$want" ] && [ "${installed##* }" != "$want" ]; }; then
    missing+=("$p${want:+=$want}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-node-deps: missing Debian packages: ${missing[*]}; run this script as root (apt-get install)" >&2
  exit 2
fi
command -v apt-get >/dev/null || { echo "install-node-deps: no apt-get; install by hand: ${missing[*]}" >&2; exit 2; }
echo "install-node-deps: installing ${missing[*]}" >&2
# Another apt-get may hold the lock for a while: wait for it rather than failing.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -qq || { echo "install-node-deps: apt-get update failed" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "install-node-deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
# The Debian package starts a system containerd; the harness runs its own, so leave the system one off.
if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi
