#!/usr/bin/env bash
# Copies the CRDs from the repository's top-level crds/ (the one source of truth) into the Helm chart's
# crds/ folder, byte for byte, and removes chart copies whose source is gone.
#
#   tools/sync-chart-crds.sh          copy
#   tools/sync-chart-crds.sh --check  exit 1 (listing the differences) when the chart is out of date
#
# tests/unit/test_chart_render.py runs the same comparison, so a forgotten sync fails the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/crds"
dst="$root/charts/config-manager/crds"
check=0
[ "${1:-}" = "--check" ] && check=1

shopt -s nullglob
sources=("$src"/*.yaml)
[ ${#sources[@]} -gt 0 ] || { echo "sync-chart-crds: no CRDs in $src" >&2; exit 2; }
mkdir -p "$dst"
stale=0
for f in "${sources[@]}"; do
  name="$(basename "$f")"
  if ! cmp -s "$f" "$dst/$name"; then
    stale=1
    if [ $check -eq 1 ]; then echo "out of date: charts/config-manager/crds/$name" >&2; else cp "$f" "$dst/$name"; echo "synced $name"; fi
  fi
done
for f in "$dst"/*.yaml; do
  name="$(basename "$f")"
  if [ ! -e "$src/$name" ]; then
    stale=1
    if [ $check -eq 1 ]; then echo "no source for: charts/config-manager/crds/$name" >&2; else rm "$f"; echo "removed $name"; fi
  fi
done
if [ $check -eq 1 ] && [ $stale -eq 1 ]; then
  echo "sync-chart-crds: run tools/sync-chart-crds.sh" >&2
  exit 1
fi
exit 0
