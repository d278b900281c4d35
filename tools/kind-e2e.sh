#!/usr/bin/env bash
# e2e on kind, for machines with a Docker engine (these CI machines have none; there the same suite runs
# on the local node). Creates the kind cluster from kind-config.yaml, builds and loads the operator image,
# installs the CRDs, then runs the e2e suite against the cluster: tests/e2e/test_installed_chart.py
# installs the chart itself (helm on PATH or in the cache) with that image.
#
#   tools/kind-e2e.sh            env: KIND_NODE_IMAGE, KEEP_CLUSTER=1, IMAGE=config-manager:e2e
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cluster=config-manager
image="${IMAGE:-config-manager:e2e}"
for tool in docker kind helm kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: '$tool' not found on PATH (kind: go install sigs.k8s.io/kind@v0.33.0; helm: tools/build-binaries.sh helm)" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "kind-e2e: no Docker engine answers; kind needs one" >&2; exit 2; }

kubeconfig="$(mktemp)"
cleanup() { if [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi; rm -f "$kubeconfig"; }
trap cleanup EXIT

kind create cluster --name "$cluster" --config kind-config.yaml ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --kubeconfig "$kubeconfig" --wait 120s
docker build -t "$image" -f operator/Dockerfile .
kind load docker-image "$image" --name "$cluster"
kubectl --kubeconfig "$kubeconfig" apply --server-side -f crds/
kubectl --kubeconfig "$kubeconfig" wait --for condition=Established --timeout 60s crd --all
kind load docker-image busybox:1.36 --name "$cluster" 2>/dev/null || true  # the workload image, if pulled already
CONFIG_MANAGER_IMAGE="$image" CONFIG_MANAGER_WORKLOAD_IMAGE="${WORKLOAD_IMAGE:-busybox:1.36}" \
  .venv/bin/pytest tests/e2e --use-existing-cluster --kubeconfig "$kubeconfig"
