#!/usr/bin/env bash
# Builds the real components the tests and the demo run (kube-apiserver, kube-controller-manager, etcd,
# helm, Vault, our Key Vault test server; and for the local node kube-scheduler, kubelet, kube-proxy)
# from the Go module proxy, once per version, into a cache outside the work tree, and reuses them.
#
#   tools/build-binaries.sh [component ...]     (default: all; prints the bin folder on stdout)
#
# Cache: ${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}/bin/<name>-<version>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/versions.env"
cache="${CONFIG_MANAGER_CACHE:-$HOME/.cache/config-manager}"
bindir="$cache/bin"
mkdir -p "$bindir"

command -v go >/dev/null || { echo "build-binaries: 'go' is not on PATH; Go 1.26 is needed to build the control plane" >&2; exit 2; }

build() {  # build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]
  local name="$1" version="$2" dir="$3" pkg="$4" ldflags="${5:-}"
  local out="$bindir/$name-$version"
  if [ -x "$out" ]; then return 0; fi
  echo "build-binaries: building $name $version (first time only; cached in $bindir)" >&2
  local start=$SECONDS
  ( cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg" ) \
    || { echo "build-binaries: FAILED to build $name $version from $pkg (module tools/$dir)" >&2; rm -f "$out.tmp"; exit 1; }
  mv "$out.tmp" "$out"
  echo "build-binaries: built $name in $((SECONDS - start))s" >&2
}

kube_ldflags() {
  local v="$KUBERNETES_VERSION" minor
  minor="$(echo "$v" | cut -d. -f2)"
  local f=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "$f"
}

# Our own Go programs are versioned by their source: a hash of go.mod, go.sum and the *.go files in name
# order (tests/helpers/azure_server.py computes the same tag to find the binary).
source_hash() {
  ( cd "$here/$1" && cat go.mod go.sum $(ls -- *.go | LC_ALL=C sort) ) | sha256sum | cut -c1-12
}

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(etcd kube-apiserver kube-controller-manager helm vault azure-keyvault kube-scheduler kubelet)
for c in "${want[@]}"; do
  case "$c" in
    etcd) build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 ;;
    kube-apiserver) build kube-apiserver "$KUBERNETES_VERSION" kube k8s.io/kubernetes/cmd/kube-apiserver "$(kube_ldflags)" ;;
    kube-controller-manager) build kube-controller-manager "$KUBERNETES_VERSION" kube k8s.io/kubernetes/cmd/kube-controller-manager "$(kube_ldflags)" ;;
    # The local node (tests/helpers/node_cluster.py): scheduler and kubelet from the same module; kube-proxy
    # builds too but is not used (the node routes the one Service Pods need itself, devcluster/network.py).
    kube-scheduler) build kube-scheduler "$KUBERNETES_VERSION" kube k8s.io/kubernetes/cmd/kube-scheduler "$(kube_ldflags)" ;;
    kubelet) build kubelet "$KUBERNETES_VERSION" kube k8s.io/kubernetes/cmd/kubelet "$(kube_ldflags)" ;;
    kube-proxy) build kube-proxy "$KUBERNETES_VERSION" kube k8s.io/kubernetes/cmd/kube-proxy "$(kube_ldflags)" ;;
    helm) build helm "$HELM_VERSION" helm helm.sh/helm/v4/cmd/helm ;;
    # The Vault-compatible server for the vault tests: HashiCorp Vault (MPL) while the proxy refuses OpenBao.
    # prepare-build.sh patches one sdk check that Vault 1.14 predates (see there) and gives a -modfile;
    # -checklinkname=0: some of Vault's dependencies reach into the runtime the way Go >= 1.23 forbids.
    vault|bao) [ -x "$bindir/vault-$VAULT_VERSION" ] || vault_flags="$("$here/vault/prepare-build.sh" "$cache/src/vault-$VAULT_VERSION")"
               GOFLAGS="$(go env GOFLAGS) ${vault_flags:-}" \
                 build vault "$VAULT_VERSION" vault github.com/hashicorp/vault "-checklinkname=0" ;;
    # The Key Vault test server (ours, on the Azure SDK for Go's azsecrets/fake; see tools/azure-keyvault).
    azure-keyvault) build azure-keyvault "src-$(source_hash azure-keyvault)" azure-keyvault . ;;
    *) echo "build-binaries: unknown component '$c'" >&2; exit 2 ;;
  esac
done
echo "$bindir"
