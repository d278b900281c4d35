#!/usr/bin/env bash
# Fetches the Lowkey Vault Azure Key Vault emulator (a Spring Boot jar) from Maven Central, once per
# version, into the same cache as tools/build-binaries.sh, and checks it against Maven Central's SHA-1
# (and against LOWKEY_VAULT_SHA1 from tools/versions.env when that is pinned).
#
#   tools/fetch-lowkey-vault.sh [--strict]     prints the jar's path on stdout
#
# Cache: ${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}/bin/lowkey-vault-<version>.jar
# A jar obtained elsewhere can be used instead: LOWKEY_VAULT_JAR=/path/to/lowkey-vault-app.jar.
#
# Exit codes: 0 ok; 1 download or checksum failure; 3 the repository does not serve the artifact.
# Without --strict, "not served" (HTTP 404) prints a warning, records the reason next to where the jar
# would be (lowkey-vault-<version>.unavailable, read by tests/helpers/azure_server.py) and exits 0, so
# that `make binaries` still succeeds on a machine whose Maven mirror lacks the jar.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"
strict=0
[ "${1:-}" = "--strict" ] && strict=1

if [ -n "${LOWKEY_VAULT_JAR:-}" ]; then
  [ -f "$LOWKEY_VAULT_JAR" ] || { echo "fetch-lowkey-vault: LOWKEY_VAULT_JAR=$LOWKEY_VAULT_JAR does not exist" >&2; exit 1; }
  echo "$LOWKEY_VAULT_JAR"; exit 0
fi

version="$LOWKEY_VAULT_VERSION"
cache="${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}"
bindir="$cache/bin"
out="$bindir/lowkey-vault-$version.jar"
marker="$bindir/lowkey-vault-$version.unavailable"
mkdir -p "$bindir"
if [ -f "$out" ]; then echo "$out"; exit 0; fi

repo="${MAVEN_CENTRAL_URL:-https://repo1.maven.org/maven2}"
url="$repo/com/github/nagyesta/lowkey-vault/lowkey-vault-app/$version/lowkey-vault-app-$version.jar"
command -v curl >/dev/null || { echo "fetch-lowkey-vault: 'curl' is not on PATH" >&2; exit 1; }

echo "fetch-lowkey-vault: downloading lowkey-vault-app $version (first time only; cached in $bindir)" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status="$(curl -sS -L --retry 2 --connect-timeout 20 --max-time 600 -o "$tmp/app.jar" -w '%{http_code}' "$url" || echo 000)"
if [ "$status" = "404" ]; then
  reason="lowkey-vault-app $version is not served by $repo (HTTP 404 for $url)"
  echo "$reason" > "$marker"
  echo "fetch-lowkey-vault: WARNING: $reason; the azure tests cannot start their emulator" >&2
  [ "$strict" = 1 ] && exit 3
  exit 0
fi
if [ "$status" != "200" ]; then
  echo "fetch-lowkey-vault: FAILED to download $url (HTTP $status)" >&2; exit 1
fi
sha_status="$(curl -sS -L --connect-timeout 20 --max-time 60 -o "$tmp/app.jar.sha1" -w '%{http_code}' "$url.sha1" || echo 000)"
[ "$sha_status" = "200" ] || { echo "fetch-lowkey-vault: FAILED to download $url.sha1 (HTTP $sha_status)" >&2; exit 1; }
expected="$(cut -c1-40 "$tmp/app.jar.sha1" | tr 'A-F' 'a-f')"
actual="$(sha1sum "$tmp/app.jar" | cut -c1-40)"
if [ "$expected" != "$actual" ]; then
  echo "fetch-lowkey-vault: checksum mismatch for $url: Maven Central says $expected, got $actual" >&2; exit 1
fi
if [ -n "${LOWKEY_VAULT_SHA1:-}" ] && [ "$LOWKEY_VAULT_SHA1" != "$actual" ]; then
  echo "fetch-lowkey-vault: checksum mismatch: tools/versions.env pins $LOWKEY_VAULT_SHA1, got $actual" >&2; exit 1
fi
mv "$tmp/app.jar" "$out"
rm -f "$marker"
echo "fetch-lowkey-vault: fetched lowkey-vault-app $version (sha1 $actual)" >&2
echo "$out"
