#!/usr/bin/env bash
# Installs the Debian packages the integration tests need besides the Go-built binaries: PostgreSQL 15
# (Debian bookworm's `postgresql`), started per test session by tests/helpers/postgres.py as a throw-away
# cluster on loopback for Vault's database secrets engine. A no-op when installed; needs root and apt-get.
#
#   tools/install-test-deps.sh          (run by `make test-deps`, a prerequisite of `make test`)
set -euo pipefail
packages=(postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing Debian packages: ${missing[*]}; run this script as root (apt-get install)" >&2
  exit 2
fi
command -v apt-get >/dev/null || { echo "install-test-deps: no apt-get; install by hand: ${missing[*]}" >&2; exit 2; }
echo "install-test-deps: installing ${missing[*]}" >&2
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -qq || { echo "install-test-deps: apt-get update failed" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "install-test-deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
# The package starts a system cluster on port 5432; the tests run their own, so leave the system one off.
if command -v systemctl >/dev/null && systemctl is-active --quiet postgresql 2>/dev/null; then
  systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
