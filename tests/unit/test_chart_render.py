"""The Helm chart, rendered with the real helm binary for its main value combinations.

Why: a chart is code whose output is what matters. These tests render it (``helm template``), lint it,
and assert on the objects: the Pod Security Standards "restricted" fields, least-privilege RBAC (no
wildcards; in namespaced scope nothing on Secrets outside the listed namespaces), probes wired to the
operator's health endpoint, leader election (a Lease in the release namespace), the metrics Service and the
ServiceMonitor, the values schema rejecting bad input, and the chart's CRDs being byte-identical to the
repository's crds/ (one source of truth; tools/sync-chart-crds.sh copies them).

helm comes from ``config_manager.devcluster.binaries.find_component("helm")`` (built from the Go module
proxy on first use); when it cannot be found or built the tests fail with a message naming helm. They
are never skipped.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_manager.devcluster.binaries import MissingBinaryError, find_component

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "config-manager"
CRDS = REPO / "crds"
CHART_ONLY_CRDS: set[str] = set()  # the chart ships exactly the repository's CRDs
RELEASE, NAMESPACE = "rel", "cm-system"

COMBINATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespaced": {"rbac": {"scope": "namespaced", "namespaces": ["team-a", "team-b"]}},
    "replicas2": {"replicaCount": 2},
    "servicemonitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}},
    "sharded": {"replicaCount": 3, "shards": 2},
    "namespaced-ha": {"replicaCount": 3, "rbac": {"scope": "namespaced", "namespaces": ["team-a"]}},
    "webhook-dashboards": {"webhook": {"enabled": True, "auth": {"secretName": "hook-auth", "hmacKey": "hmac"},
                                       "tls": {"secretName": "hook-tls"},
                                       "ingress": {"enabled": True, "className": "nginx", "host": "hooks.example.com",
                                                   "tls": [{"hosts": ["hooks.example.com"], "secretName": "hooks-tls"}]}},
                           "dashboards": {"enabled": True}},
}


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return find_component("helm")
    except MissingBinaryError as exc:
        pytest.fail(f"helm is required for the chart tests and could not be found or built: {exc}")


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def render(helm: Path, values: dict[str, Any], tmp_path: Path, *, crds: bool = False) -> list[dict[str, Any]]:
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", str(values_file)]
    if crds:
        args.append("--include-crds")
    out = run_helm(helm, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = the(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def allows(rules: list[dict[str, Any]], verb: str, group: str, resource: str, name: str | None = None) -> bool:
    """Whether RBAC rules grant ``verb`` on ``group/resource`` (optionally a named object), as the
    apiserver's authorizer evaluates them (wildcards included, though the chart must not use them)."""
    for rule in rules:
        if not ({verb, "*"} & set(rule.get("verbs", []))):
            continue
        if not ({group, "*"} & set(rule.get("apiGroups", []))):
            continue
        if not ({resource, "*"} & set(rule.get("resources", []))):
            continue
        names = rule.get("resourceNames")
        if names and (name is None or name not in names):
            continue
        return True
    return False


@pytest.fixture(scope="module", params=list(COMBINATIONS))
def combination(request: pytest.FixtureRequest, helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    name: str = request.param
    yield name, render(helm, COMBINATIONS[name], tmp_path_factory.mktemp(name))


# ------------------------------------------------------------------------------------------------ lint

@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_helm_lint_is_clean(helm: Path, name: str, tmp_path: Path) -> None:
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(COMBINATIONS[name]))
    result = run_helm(helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, "-f", str(values_file), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# ------------------------------------------------------------------------------ pod security (restricted)

def test_pod_meets_pod_security_standard_restricted(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    for forbidden in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        assert not pod.get(forbidden), forbidden
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "projected", "downwardAPI",
                                          "persistentVolumeClaim", "ephemeral", "csi"}, volume
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc.get("privileged", False) is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert not sc["capabilities"].get("add")
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert all("hostPort" not in p for p in c.get("ports", []))


def test_read_only_root_has_a_writable_tmp(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path)
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    assert "/tmp" in mounts
    volume = next(v for v in pod["volumes"] if v["name"] == mounts["/tmp"])
    assert volume["emptyDir"]["sizeLimit"] == "64Mi"


def test_resources_have_requests_and_a_memory_limit(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    resources = container(objects)["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_runs_the_operator_entry_point_as_the_charts_service_account(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    deployment = the(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    sa = the(objects, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"] == f"{RELEASE}-config-manager"
    assert sa["metadata"]["namespace"] == NAMESPACE
    assert container(objects)["command"] == ["python", "-m", "config_manager.k8s"]
    assert container(objects)["image"] == "config-manager:0.1.0"
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # the Lease identity


# ------------------------------------------------------------------------------------------------ probes

def test_probes_use_the_operators_health_endpoint(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    c = container(objects)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": 8080}, probe
        assert c[probe]["periodSeconds"] > 0
    assert "--liveness=http://0.0.0.0:8080/healthz" in c["args"]
    assert c["ports"][0] == {"name": "http", "containerPort": 8080, "protocol": "TCP"}


def test_one_port_setting_moves_probes_server_and_metrics_together(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {"health": {"port": 9090, "path": "/live"}}, tmp_path)
    c = container(objects)
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": 9090}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9090}
    assert c["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    assert "--liveness=http://0.0.0.0:9090/live" in c["args"]
    assert the(objects, "Service")["spec"]["ports"][0]["targetPort"] == "http"


# -------------------------------------------------------------------------------------------------- RBAC

def test_no_wildcards_anywhere_in_rbac(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    roles = by_kind(objects, "ClusterRole") + by_kind(objects, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
                assert not any("*" in item for item in rule.get(field, [])), (role["metadata"]["name"], rule)


def test_no_role_grants_escalation_verbs(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
        for rule in role["rules"]:
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule
            assert not {"roles", "clusterroles", "rolebindings", "clusterrolebindings", "serviceaccounts/token",
                        "pods/exec", "nodes", "certificatesigningrequests"} & set(rule["resources"]), rule


SECRET_VERBS = {"get", "list", "watch", "create", "patch", "delete"}


def test_cluster_scope_grants_exactly_what_the_operator_uses(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path)
    role = the(objects, "ClusterRole")
    rules = role["rules"]
    # Secrets and ConfigMaps: written (targets, masked ConfigMaps, local stores), read (credentials,
    # sources) and watched (the operator's value-free cache). Nothing the code does not issue (no update).
    for resource in ("secrets", "configmaps"):
        granted = {v for v in ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
                   if allows(rules, v, "", resource)}
        assert granted == SECRET_VERBS, (resource, granted)
    # Our CRDs: read and watched; only their status is written.
    for plural in ("configbundles", "secretstores", "clustersecretstores", "clustermanagedsecrets"):
        assert allows(rules, "watch", "configmanager.io", plural)
        assert allows(rules, "patch", "configmanager.io", f"{plural}/status")
        assert not allows(rules, "patch", "configmanager.io", plural), plural
        assert not allows(rules, "update", "configmanager.io", plural), plural
        assert not allows(rules, "delete", "configmanager.io", plural), plural
    # ManagedSecrets are also placed by ClusterManagedSecrets (create / update / delete, never patch);
    # PushSecrets are patched only for the finalizer of deletionPolicy Delete, never updated or deleted.
    assert all(allows(rules, v, "configmanager.io", "managedsecrets") for v in ("watch", "create", "update", "delete"))
    assert not allows(rules, "patch", "configmanager.io", "managedsecrets")
    assert allows(rules, "patch", "configmanager.io", "pushsecrets") and allows(rules, "patch", "configmanager.io", "pushsecrets/status")
    assert not allows(rules, "update", "configmanager.io", "pushsecrets") and not allows(rules, "delete", "configmanager.io", "pushsecrets")
    # VaultDynamicSecrets: patched for their lease-revoking finalizer (metadata), never updated or deleted.
    assert allows(rules, "watch", "configmanager.io", "vaultdynamicsecrets")
    assert allows(rules, "patch", "configmanager.io", "vaultdynamicsecrets/status")
    assert allows(rules, "patch", "configmanager.io", "vaultdynamicsecrets")
    assert not allows(rules, "update", "configmanager.io", "vaultdynamicsecrets")
    assert not allows(rules, "delete", "configmanager.io", "vaultdynamicsecrets")
    # Workload tracking reads; rotation restarts patch workloads (on by default), never Pods.
    assert allows(rules, "watch", "", "pods") and allows(rules, "watch", "apps", "deployments")
    assert not allows(rules, "get", "", "pods")
    assert allows(rules, "patch", "apps", "deployments") and allows(rules, "get", "apps", "deployments")
    assert not allows(rules, "update", "apps", "deployments") and not allows(rules, "delete", "apps", "deployments")
    assert not allows(rules, "delete", "", "pods")
    assert allows(rules, "create", "", "events") and not allows(rules, "delete", "", "events")
    assert allows(rules, "watch", "", "namespaces") and not allows(rules, "patch", "", "namespaces")
    # Nothing on the cluster's RBAC, CRD definitions (read-only), or other credentials.
    assert not allows(rules, "create", "apiextensions.k8s.io", "customresourcedefinitions")
    assert not allows(rules, "create", "", "serviceaccounts/token")
    # No kopf peering objects (replicas coordinate through a Lease, granted by a Role of its own).
    assert not allows(rules, "patch", "kopf.dev", "clusterkopfpeerings", "config-manager")
    assert not allows(rules, "update", "coordination.k8s.io", "leases", f"{RELEASE}-config-manager")
    binding = the(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-config-manager", "namespace": NAMESPACE}]


def test_namespaced_scope_grants_nothing_on_secrets_cluster_wide(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, COMBINATIONS["namespaced"], tmp_path)
    cluster_role = the(objects, "ClusterRole")
    rules = cluster_role["rules"]
    namespaced_kinds = [("", "secrets"), ("", "configmaps"), ("", "pods"), ("configmanager.io", "managedsecrets"),
                        ("configmanager.io", "configbundles"), ("configmanager.io", "secretstores")]
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        for group, resource in namespaced_kinds:
            assert not allows(rules, verb, group, resource), (verb, resource)
    assert not allows(rules, "watch", "apps", "deployments")
    # Only the cluster-scoped kinds kopf watches cluster-wide whatever the namespaces: ClusterSecretStores
    # and Namespaces (names and labels).
    assert allows(rules, "watch", "configmanager.io", "clustersecretstores")
    assert allows(rules, "watch", "", "namespaces")
    assert the(objects, "ClusterRoleBinding")["roleRef"]["name"] == cluster_role["metadata"]["name"]
    roles = [r for r in by_kind(objects, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert {v for v in ("get", "list", "watch", "create", "update", "patch", "delete")
                if allows(role["rules"], v, "", "secrets")} == SECRET_VERBS
        assert not allows(role["rules"], "watch", "configmanager.io", "clustersecretstores")
    bindings = [b for b in by_kind(objects, "RoleBinding") if not b["metadata"]["name"].endswith("-leader-election")]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-config-manager", "namespace": NAMESPACE}]
    args = container(objects)["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--all-namespaces" not in args


def test_workload_rights_follow_the_values(helm: Path, tmp_path: Path) -> None:
    rules = the(render(helm, {"rbac": {"restartWorkloads": True}}, tmp_path), "ClusterRole")["rules"]
    assert allows(rules, "patch", "apps", "deployments") and allows(rules, "patch", "apps", "statefulsets")
    assert not allows(rules, "patch", "", "pods")
    rules = the(render(helm, {"rbac": {"restartWorkloads": False}}, tmp_path), "ClusterRole")["rules"]
    assert not allows(rules, "patch", "apps", "deployments")
    objects = render(helm, {"rbac": {"trackWorkloads": False}}, tmp_path)
    rules = the(objects, "ClusterRole")["rules"]
    assert not allows(rules, "watch", "", "pods") and not allows(rules, "watch", "apps", "deployments")
    assert "--no-workload-tracking" in container(objects)["args"]  # the operator must not watch them either
    assert "--no-workload-tracking" not in container(render(helm, {}, tmp_path))["args"]


def test_service_account_tokens_only_when_asked(helm: Path, tmp_path: Path) -> None:
    assert not allows(the(render(helm, {}, tmp_path), "ClusterRole")["rules"], "create", "", "serviceaccounts/token")
    rules = the(render(helm, {"rbac": {"serviceAccountTokens": True}}, tmp_path), "ClusterRole")["rules"]
    assert allows(rules, "create", "", "serviceaccounts/token")
    assert not allows(rules, "get", "", "serviceaccounts/token")
    objects = render(helm, {**COMBINATIONS["namespaced"], "rbac": {**COMBINATIONS["namespaced"]["rbac"], "serviceAccountTokens": True}},
                     tmp_path)
    assert not allows(the(objects, "ClusterRole")["rules"], "create", "", "serviceaccounts/token")
    roles = [r for r in by_kind(objects, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    assert roles and all(allows(r["rules"], "create", "", "serviceaccounts/token") for r in roles)


def test_rbac_can_be_left_to_the_user(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {"rbac": {"create": False}}, tmp_path)
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")]


# ---------------------------------------------------------------------------------------------------- HA

def lease_role(objects: list[dict[str, Any]]) -> dict[str, Any]:
    roles = [r for r in by_kind(objects, "Role") if r["metadata"]["name"] == f"{RELEASE}-config-manager-leader-election"]
    assert len(roles) == 1, [r["metadata"]["name"] for r in by_kind(objects, "Role")]
    return roles[0]


def test_leader_election_is_on_by_default_even_with_one_replica(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path)
    assert the(objects, "Deployment")["spec"]["replicas"] == 1
    args = container(objects)["args"]
    assert "--leader-election" in args and "--standalone" not in args
    assert f"--leader-election-namespace={NAMESPACE}" in args and f"--leader-election-id={RELEASE}-config-manager" in args
    assert not by_kind(objects, "PodDisruptionBudget")
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container(objects)["env"]}
    assert env["POD_NAME"] == "metadata.name" and env["POD_NAMESPACE"] == "metadata.namespace"
    assert env["POD_UID"] == "metadata.uid", "the owner of a member Lease with shards"


def test_the_chart_owns_the_lease_so_uninstall_removes_it(helm: Path, tmp_path: Path) -> None:
    """The operator fills in the Lease's spec; the chart creates it (metadata only), so helm deletes it."""
    lease = the(render(helm, {}, tmp_path), "Lease")
    assert lease["metadata"]["name"] == f"{RELEASE}-config-manager" and lease["metadata"]["namespace"] == NAMESPACE
    assert "spec" not in lease, "the chart must not own the holder fields the operator writes"
    assert not by_kind(render(helm, {"leaderElection": {"enabled": False}}, tmp_path), "Lease")


def test_leader_election_can_be_turned_off_for_a_single_replica(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {"leaderElection": {"enabled": False}}, tmp_path)
    args = container(objects)["args"]
    assert "--standalone" in args and not [a for a in args if a.startswith("--leader-election")]
    assert not [r for r in by_kind(objects, "Role") if "leader-election" in r["metadata"]["name"]]
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", "replicaCount=2",
                      "--set", "leaderElection.enabled=false", check=False)
    assert result.returncode != 0 and "leaderElection.enabled" in result.stderr


def test_replicas_share_one_lease_so_only_one_works(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, COMBINATIONS["replicas2"], tmp_path)
    deployment = the(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    args = container(objects)["args"]
    assert "--leader-election" in args and "--lease-duration=15" in args and "--lease-renew-period=5" in args
    assert not [a for a in args if a.startswith("--peering")]
    assert not by_kind(objects, "ClusterKopfPeering") and not by_kind(objects, "KopfPeering")
    role = lease_role(objects)
    assert role["metadata"]["namespace"] == NAMESPACE
    lease = f"{RELEASE}-config-manager"
    assert allows(role["rules"], "get", "coordination.k8s.io", "leases", lease)
    assert allows(role["rules"], "update", "coordination.k8s.io", "leases", lease)
    assert allows(role["rules"], "create", "coordination.k8s.io", "leases")
    assert not allows(role["rules"], "update", "coordination.k8s.io", "leases", "kube-controller-manager")
    assert not allows(role["rules"], "delete", "coordination.k8s.io", "leases", lease)
    assert allows(role["rules"], "list", "coordination.k8s.io", "leases"), "to see shard Leases before leading"
    assert not allows(role["rules"], "get", "coordination.k8s.io", "leases", f"{lease}-member-0123456789ab")
    binding = [b for b in by_kind(objects, "RoleBinding") if b["metadata"]["name"] == role["metadata"]["name"]]
    assert binding and binding[0]["roleRef"]["name"] == role["metadata"]["name"]
    assert binding[0]["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-config-manager", "namespace": NAMESPACE}]
    assert not allows(the(objects, "ClusterRole")["rules"], "update", "coordination.k8s.io", "leases")
    assert the(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_shards_split_the_namespaces_across_replicas_each_through_its_lease(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, COMBINATIONS["sharded"], tmp_path)
    args = container(objects)["args"]
    assert "--shards=2" in args and "--leader-election" in args
    lease = f"{RELEASE}-config-manager"
    shard_leases = sorted(x["metadata"]["name"] for x in by_kind(objects, "Lease") if "shard" in x["metadata"]["name"])
    assert shard_leases == [f"{lease}-shard-0", f"{lease}-shard-1"]
    for x in by_kind(objects, "Lease"):
        assert "spec" not in x and x["metadata"]["namespace"] == NAMESPACE
        if "shard" in x["metadata"]["name"]:
            assert x["metadata"]["labels"]["configmanager.io/lease-group"] == lease
            assert x["metadata"]["labels"]["configmanager.io/lease-role"] == "shard"
    role = lease_role(objects)
    for verb in ("get", "update", "delete"):  # member Leases are named after each pod
        assert allows(role["rules"], verb, "coordination.k8s.io", "leases", f"{lease}-member-0123456789ab")
    assert allows(role["rules"], "list", "coordination.k8s.io", "leases")
    assert not allows(the(objects, "ClusterRole")["rules"], "update", "coordination.k8s.io", "leases")
    assert "--shards=1" not in container(render(helm, {}, tmp_path))["args"]
    assert not [a for a in container(render(helm, {}, tmp_path))["args"] if a.startswith("--shards")]
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", "shards=2",
                      "--set", "leaderElection.enabled=false", check=False)
    assert result.returncode != 0 and "leaderElection.enabled" in result.stderr


def test_namespaced_replicas_keep_their_lease_in_the_release_namespace(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {**COMBINATIONS["namespaced-ha"], "leaderElection": {"leaseName": "team-a-cm", "leaseDuration": 30}},
                     tmp_path)
    role = lease_role(objects)
    assert role["metadata"]["namespace"] == NAMESPACE
    assert allows(role["rules"], "update", "coordination.k8s.io", "leases", "team-a-cm")
    args = container(objects)["args"]
    assert "--leader-election-id=team-a-cm" in args and "--lease-duration=30" in args
    served = [r for r in by_kind(objects, "Role") if r is not role]
    assert [r["metadata"]["namespace"] for r in served] == ["team-a"]
    assert not allows(served[0]["rules"], "update", "coordination.k8s.io", "leases")


# ----------------------------------------------------------------------------------------------- metrics

def test_metrics_service_targets_the_metrics_port(combination: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = combination
    service = the([o for o in objects if not o["metadata"]["name"].endswith("-webhook")], "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_service_monitor_scrapes_the_metrics_service(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, COMBINATIONS["servicemonitor"], tmp_path)
    monitor = the(objects, "ServiceMonitor")
    service = the(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert not by_kind(render(helm, {}, tmp_path), "ServiceMonitor")


# ------------------------------------------------------------------------------------------------ schema

@pytest.mark.parametrize("values, complaint", [
    ({"rbac": {"scope": "namespaced"}}, "namespaces"),
    ({"rbac": {"scope": "namespaced", "namespaces": []}}, "namespaces"),
    ({"rbac": {"scope": "everything"}}, "scope"),
    ({"replicaCount": 0}, "replicaCount"),
    ({"replicas": 2}, "replicas"),
    ({"image": {"digest": "latest"}}, "digest"),
    ({"operator": {"logLevel": "verbose"}}, "logLevel"),
    ({"rbac": {"scope": "namespaced", "namespaces": ["Not_A_Namespace"]}}, "namespaces"),
    ({"ha": {"peeringName": "config-manager"}}, "ha"),
    ({"leaderElection": {"leaseName": "Not A Name"}}, "leaseName"),
    ({"leaderElection": {"leaseDuration": 1}}, "leaseDuration"),
    ({"webhook": {"maxBodyBytes": 10}}, "maxBodyBytes"),
    ({"webhook": {"ingress": {"path": "events"}}}, "path"),
    ({"expiry": {"warningLeadTime": "7d"}}, "warningLeadTime"),
])
def test_values_schema_rejects_bad_values(helm: Path, tmp_path: Path, values: dict[str, Any], complaint: str) -> None:
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    result = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(values_file), check=False)
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


# ------------------------------------------------------------------------------- webhook and dashboard

def test_webhook_is_opt_in(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path)
    assert not [o for o in objects if o["metadata"]["name"].endswith("-webhook")]
    assert not by_kind(objects, "Ingress")
    c = container(objects)
    assert not [a for a in c["args"] if a.startswith("--webhook")]
    assert "--expiry-warning=168h" in c["args"]
    assert [p["name"] for p in c["ports"]] == ["http"]


def test_webhook_service_ingress_and_credentials(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, COMBINATIONS["webhook-dashboards"], tmp_path)
    c = container(objects)
    port = next(p for p in c["ports"] if p["name"] == "webhook")
    assert port["containerPort"] == 8443
    args = c["args"]
    assert "--webhook-address=0.0.0.0:8443" in args
    assert "--webhook-token-file=/etc/config-manager/webhook-auth/token" in args  # tokenKey defaults to "token"
    assert "--webhook-hmac-key-file=/etc/config-manager/webhook-auth/hmac" in args
    assert "--webhook-tls-cert-file=/etc/config-manager/webhook-tls/tls.crt" in args
    volumes = {v["name"]: v for v in the(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["webhook-auth"]["secret"] == {"secretName": "hook-auth", "defaultMode": 0o400}
    assert volumes["webhook-tls"]["secret"]["secretName"] == "hook-tls"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["webhook-auth"]["readOnly"] and mounts["webhook-tls"]["readOnly"]
    service = next(s for s in by_kind(objects, "Service") if s["metadata"]["name"].endswith("-webhook"))
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 8443, "targetPort": "webhook", "protocol": "TCP"}]
    ingress = the(objects, "Ingress")
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "hooks.example.com" and ingress["spec"]["ingressClassName"] == "nginx"
    assert rule["http"]["paths"][0]["path"] == "/events"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "webhook"}}
    assert ingress["spec"]["tls"] == [{"hosts": ["hooks.example.com"], "secretName": "hooks-tls"}]


@pytest.mark.parametrize("webhook, complaint", [
    ({"enabled": True}, "webhook.auth.secretName"),
    ({"enabled": True, "auth": {"secretName": "s", "tokenKey": "", "hmacKey": ""}}, "tokenKey or webhook.auth.hmacKey"),
])
def test_webhook_refuses_to_run_without_authentication(helm: Path, tmp_path: Path, webhook: dict[str, Any], complaint: str) -> None:
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps({"webhook": webhook}))
    result = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(values_file), check=False)
    assert result.returncode != 0 and complaint in result.stderr, result.stderr


def test_dashboard_configmap_for_the_grafana_sidecar(helm: Path, tmp_path: Path) -> None:
    assert not [o for o in by_kind(render(helm, {}, tmp_path), "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]
    objects = render(helm, {"dashboards": {"enabled": True, "namespace": "monitoring",
                                           "annotations": {"grafana_folder": "Platform"}}}, tmp_path)
    cm = the(objects, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring" and cm["metadata"]["annotations"] == {"grafana_folder": "Platform"}
    dashboard = json.loads(cm["data"]["config-manager.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "config-manager.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    documented = (REPO / "docs" / "metrics.md").read_text()
    for metric in ("configmanager_syncs_total", "configmanager_sync_errors_total", "configmanager_provider_request_duration_seconds",
                   "configmanager_rotations_total", "configmanager_workload_restarts_total", "configmanager_workqueue_depth",
                   "configmanager_secret_expiry_timestamp_seconds", "configmanager_webhook_requests_total"):
        assert metric in exprs and metric in documented, metric


def test_image_digest_pins_the_image(helm: Path, tmp_path: Path) -> None:
    digest = "sha256:" + "a" * 64
    c = container(render(helm, {"image": {"digest": digest}}, tmp_path))
    assert c["image"] == f"config-manager@{digest}"


# -------------------------------------------------------------------------------------------------- CRDs

def test_chart_crds_are_identical_to_the_repository_crds() -> None:
    sources = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml") if p.name not in CHART_ONLY_CRDS}
    assert sources, "no CRDs in crds/"
    assert sorted(copies) == sorted(sources), "run tools/sync-chart-crds.sh"
    for name, data in sources.items():
        assert copies[name] == data, f"charts/config-manager/crds/{name} differs from crds/{name}: run tools/sync-chart-crds.sh"


def test_sync_script_reports_a_stale_copy(tmp_path: Path) -> None:
    result = subprocess.run([str(REPO / "tools" / "sync-chart-crds.sh"), "--check"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_rendered_crds_are_exactly_the_repository_crds(helm: Path, tmp_path: Path) -> None:
    objects = render(helm, {}, tmp_path, crds=True)
    rendered = {o["metadata"]["name"] for o in by_kind(objects, "CustomResourceDefinition")}
    expected = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in CRDS.glob("*.yaml")}
    assert rendered == expected
    assert {"managedsecrets.configmanager.io", "configbundles.configmanager.io", "secretstores.configmanager.io",
            "clustersecretstores.configmanager.io"} <= rendered


def test_everything_namespaced_lands_in_the_release_namespace(combination: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = combination
    served = set(COMBINATIONS[name].get("rbac", {}).get("namespaces", []))
    for obj in objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] in ("Role", "RoleBinding") and obj["metadata"]["name"].endswith("-leader-election"):
            assert obj["metadata"]["namespace"] == NAMESPACE  # the Lease lives with the operator
        elif obj["kind"] in ("Role", "RoleBinding"):
            assert obj["metadata"]["namespace"] in served
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]
