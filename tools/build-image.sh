#!/usr/bin/env bash
# Builds the operator image (operator/Dockerfile) and prints the path of a docker-archive tarball.
#
#   tools/build-image.sh [--tag config-manager:0.1.0] [--import SOCKET]
#
# With Docker (docker on PATH, CONFIG_MANAGER_IMAGE_BUILDER unset or "docker"): `docker build` of
# operator/Dockerfile, then `docker save`. Without Docker (these machines; CONFIG_MANAGER_IMAGE_BUILDER=rootfs)
# the same two stages are done by hand, as root:
#   base   Debian bookworm (Python 3.11) from mmdebstrap: the packages of python:3.11-slim that the
#          operator needs, cached by a hash of the package list and the apt sources;
#   venv   the package and its [all] extras as wheels, fetched by this machine's pip as it is configured,
#          installed offline into /opt/venv inside the base (chroot), pip/setuptools removed, compiled;
#   image  two layers (base, venv + the 65532 user), config from the Dockerfile (USER, ENV, ENTRYPOINT),
#          written by config_manager.devcluster.images as a docker-archive.
# --import loads the archive into the containerd at SOCKET (namespace k8s.io), as the test node does.
# Cache: ${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}/images/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=/dev/null
source "$here/versions.env"
suite="$IMAGE_BASE_SUITE"
cache="${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}/images"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)"
tag="config-manager:$version"
socket=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --import) socket="$2"; shift 2 ;;
    *) echo "build-image: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$cache"
say() { echo "build-image: $*" >&2; }
fail() { echo "build-image: FAILED: $*" >&2; exit 1; }
start=$SECONDS

builder="${CONFIG_MANAGER_IMAGE_BUILDER:-}"
if [ -z "$builder" ]; then docker info >/dev/null 2>&1 && builder=docker || builder=rootfs; fi

if [ "$builder" = docker ]; then
  out="$cache/${tag//[:\/]/_}.docker.tar"
  say "docker build -f operator/Dockerfile -t $tag"
  docker build -f "$repo/operator/Dockerfile" -t "$tag" "$repo" >&2 || fail "docker build"
  docker save -o "$out" "$tag" || fail "docker save"
  say "built $tag in $((SECONDS - start))s"
  echo "$out"
  exit 0
fi
[ "$builder" = rootfs ] || fail "CONFIG_MANAGER_IMAGE_BUILDER=$builder (docker or rootfs)"

[ "$(id -u)" -eq 0 ] || fail "the rootfs builder needs root (mmdebstrap, chroot); or build with Docker"
command -v mmdebstrap >/dev/null || fail "mmdebstrap not found (tools/install-node-deps.sh installs it)"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || fail "no Python with config_manager at $python (run make venv, or set PYTHON)"

# ---- base: Debian bookworm with Python 3.11, cached by what goes into it
base_packages="python3,python3-venv,ca-certificates"
sources="$(mktemp)"; trap 'rm -f "$sources"' EXIT
# The machine's own apt sources (deb822), so the base comes from wherever apt-get is configured to fetch.
cat /etc/apt/sources.list.d/*.sources 2>/dev/null > "$sources" || true
[ -s "$sources" ] || grep -h '^deb ' /etc/apt/sources.list > "$sources" 2>/dev/null || fail "no apt sources found in /etc/apt"
case "$(head -c 5 "$sources")" in deb\ *) src_ext=list ;; *) src_ext=sources ;; esac
mv "$sources" "$sources.$src_ext"; sources="$sources.$src_ext"; trap 'rm -f "$sources"' EXIT
base_key="$( { echo "$suite essential $base_packages v1"; cat "$sources"; } | sha256sum | cut -c1-16)"
base="$cache/base-$suite-$base_key.tar"
if [ ! -s "$base" ]; then
  say "making the base root filesystem (mmdebstrap $suite: $base_packages; first time only)"
  t=$SECONDS
  mmdebstrap --quiet --format=tar --variant=essential --include="$base_packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --skip=output/dev \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "$suite" "$base.tmp" "$sources" >&2 || { rm -f "$base.tmp"; fail "mmdebstrap $suite"; }
  mv "$base.tmp" "$base"
  say "base made in $((SECONDS - t))s"
fi

# ---- the image, cached by the base and the package's sources
src_key="$( { echo "$base_key $tag v1"; cd "$repo" && cat pyproject.toml README.md operator/Dockerfile \
  && find operator/config_manager -name '*.py' -o -name '*.json' -o -name '*.yaml' | LC_ALL=C sort | xargs cat; } \
  | sha256sum | cut -c1-16)"
out="$cache/config-manager-$src_key.tar"
if [ ! -s "$out" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/cm-image-XXXXXX")"
  trap 'rm -rf "$work"; rm -f "$sources"' EXIT
  say "wheels of configmanagelib[all] (pip, as configured on this machine)"
  "$python" -m pip wheel --quiet --wheel-dir "$work/wheels" "$repo[all]" >&2 || fail "pip wheel of $repo[all]"
  mkdir "$work/rootfs"
  tar -C "$work/rootfs" -xf "$base" || fail "unpacking the base"
  cp -r "$work/wheels" "$work/rootfs/tmp/wheels"
  say "installing into /opt/venv (offline, in a chroot of the base)"
  # A private mount namespace: /proc and /dev mounted for the chroot vanish with it.
  # Inside, only a plain environment: this machine's pip settings (find-links, index) are not the image's.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare --mount --propagation private sh -euc '
    root="$1"; mkdir -p "$root/proc" "$root/dev"
    mount -t proc proc "$root/proc"; mount --rbind /dev "$root/dev"
    chroot "$root" /usr/bin/python3 -m venv /opt/venv
    chroot "$root" /opt/venv/bin/pip install --quiet --no-index --no-cache-dir --find-links /tmp/wheels "configmanagelib[all]"
    chroot "$root" /opt/venv/bin/pip uninstall --quiet --yes pip setuptools
    # The kubernetes client ships an asyncio copy of itself (68 MB) that nothing here imports.
    rm -rf "$root"/opt/venv/lib/python3.*/site-packages/kubernetes/aio
    chroot "$root" /opt/venv/bin/python -m compileall -q /opt/venv/lib
  ' sh "$work/rootfs" >&2 || fail "installing the package into the image (chroot)"
  # The user the chart runs as (the essential variant has no useradd; these two lines are what it writes).
  echo "configmanager:x:65532:65532::/nonexistent:/usr/sbin/nologin" >> "$work/rootfs/etc/passwd"
  echo "configmanager:x:65532:" >> "$work/rootfs/etc/group"
  tar -C "$work/rootfs" -cf "$work/app.tar" opt/venv etc/passwd etc/group \
    || fail "packing the venv layer"
  config='{"entrypoint": ["python", "-m", "config_manager.k8s"], "user": "65532:65532",
    "env": ["PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "HOME=/tmp"],
    "exposed_ports": ["8080/tcp"],
    "labels": {"org.opencontainers.image.title": "config-manager", "org.opencontainers.image.licenses": "Apache-2.0"}}'
  "$python" -c "import sys; from config_manager.devcluster.images import main; main(sys.argv[1:])" \
    "$out" "$tag" "$base" "$work/app.tar" --config "$config" \
    || fail "writing the docker-archive"
  say "built $tag in $((SECONDS - start))s: $(du -m "$out" | cut -f1) MB uncompressed"
  # Keep only this build of the operator image (each source change makes a new one).
  find "$cache" -maxdepth 1 -name 'config-manager-*.tar' ! -path "$out" -delete
fi
if [ -n "$socket" ]; then
  ctr --address "$socket" --namespace k8s.io images import "$out" >&2 || fail "ctr images import into $socket"
fi
echo "$out"
