"""What an operations team sees of a running operator: its Prometheus metrics and its JSON logs.

One operator of the test's own (namespaced, JSON logs at DEBUG) serves the test namespace; the session
operator is stopped meanwhile so the counters hold only this test's work.

- /metrics: every documented family is exported, and syncs, provider latency, managed objects and API
  requests move when a ManagedSecret and a ConfigBundle are synced; a missing key counts as a sync error
  with its reason; no label carries a namespace or object name.
- Logs: every line is one JSON object with level, logger and message (kopf's per-object lines name the
  object); secret values planted through a ManagedSecret (data and dataFrom) and a ConfigBundle (store
  reference and a Secret source) appear in no line, plain or base64 (test_managedsecret.py checks the
  text format; this one the JSON format and ConfigBundles).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import API, managed_secret, secret_data, wait_ready

pytestmark = pytest.mark.cluster

FAMILIES = {
    "configmanager_api_requests_total": "counter",
    "configmanager_syncs_total": "counter",
    "configmanager_sync_errors_total": "counter",
    "configmanager_provider_request_duration_seconds": "histogram",
    "configmanager_provider_errors_total": "counter",
    "configmanager_rotations_total": "counter",
    "configmanager_workload_restarts_total": "counter",
    "configmanager_managed_objects": "gauge",
    "configmanager_leader": "gauge",
    "configmanager_leader_acquisitions_total": "counter",
    "configmanager_workqueue_depth": "gauge",
}


def scrape(proc: OperatorProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent); labels must match exactly those given."""
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


@pytest.fixture()
def json_operator(no_background_operator: None, crds: None, cluster: object, namespace: str,
                  tmp_path: Path) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        kubeconfig=Path(cluster.kubeconfig), log_path=tmp_path / "json.log",
        args=(f"--namespace={namespace}", "--log-level=debug", "--log-format=json", "--startup-spread=0",
              "--read-cache-ttl=1", "--backoff-base=1", "--backoff-cap=4", "--stats-flush=3600", "--workers=4"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def bundle(name: str, *sources: dict[str, object], secrets: list[dict[str, object]]) -> dict[str, object]:
    return {"apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": name},
            "spec": {"storeRef": {"name": "local"}, "sources": list(sources), "secrets": secrets,
                     "output": {"format": "json"}}}


def test_metrics_are_exported_and_move_after_a_sync(kube: KubeApi, namespace: str, json_operator: OperatorProcess) -> None:
    before = scrape(json_operator)
    for family, type_ in FAMILIES.items():
        assert f"# TYPE {family} {type_}" in before, family
    assert sample(before, "configmanager_leader") == 1, "without leader election the process always leads"
    assert sample(before, "configmanager_managed_objects", kind="ManagedSecret") == 0

    make_local_store(kube, namespace, values={"a": "alpha", "db": "pw"})
    kube.create("managedsecrets", namespace, managed_secret("m1", data={"v": "a"}))
    kube.create("managedsecrets", namespace, managed_secret("m2", data={"v": "missing-key"}))
    kube.create("configbundles", namespace, bundle("b1", {"inline": {"x": 1}},
                                                  secrets=[{"path": "db.password", "remoteRef": {"key": "db"}}]))
    wait_ready(kube, namespace, "m1")
    wait_ready(kube, namespace, "m2", status="False", reason="ProviderError")
    wait_ready(kube, namespace, "b1", plural="configbundles")
    def bundle_counted() -> str:
        text = scrape(json_operator)
        counted = (sample(text, "configmanager_syncs_total", kind="ConfigBundle", result="success") >= 1
                   and sample(text, "configmanager_syncs_total", kind="SecretStore", result="success") >= 1)
        return text if counted else ""

    after = wait_for(bundle_counted, what="bundle and store syncs counted")

    assert sample(after, "configmanager_syncs_total", kind="ManagedSecret", result="success") >= 1
    assert sample(after, "configmanager_syncs_total", kind="ManagedSecret", result="error") >= 1
    assert sample(after, "configmanager_sync_errors_total", kind="ManagedSecret", reason="ProviderError") >= 1
    assert sample(after, "configmanager_syncs_total", kind="SecretStore", result="success") >= 1
    assert sample(after, "configmanager_managed_objects", kind="ManagedSecret") == 2
    assert sample(after, "configmanager_managed_objects", kind="ConfigBundle") == 1
    assert sample(after, "configmanager_managed_objects", kind="SecretStore") == 1
    reads = sample(after, "configmanager_provider_request_duration_seconds_count", provider="local", operation="get")
    assert reads >= 3, "m1, m2 (not found) and b1 read the local store"
    assert sample(after, "configmanager_provider_errors_total", provider="local", operation="get") >= 1
    assert sample(after, "configmanager_provider_request_duration_seconds_count", provider="local", operation="validate") >= 1
    assert sample(after, "configmanager_api_requests_total", verb="create", resource="secrets") == 2  # m1, b1's Secret
    # low cardinality: no label names an object, a namespace or a remote key
    assert namespace not in after and "m1" not in after and "missing-key" not in after


def test_json_logs_at_debug_carry_no_secret_value(kube: KubeApi, namespace: str, json_operator: OperatorProcess) -> None:
    planted = {name: f"{name}-{uuid.uuid4().hex}" for name in ("direct", "extracted", "bundled", "source")}
    make_local_store(kube, namespace, values={"direct": planted["direct"], "j": {"inner": planted["extracted"]},
                                              "db": planted["bundled"]})
    kube.create("managedsecrets", namespace, managed_secret("leak", data={"d": "direct"},
                                                           dataFrom=[{"extract": {"key": "j"}}]))
    kube.create("secrets", namespace, {"metadata": {"name": "src"}, "data": {
        "app.json": base64.b64encode(json.dumps({"api": {"key": planted["source"]}}).encode()).decode()}})
    kube.create("configbundles", namespace, bundle("leakb", {"secret": {"name": "src", "key": "app.json"}},
                                                  secrets=[{"path": "db.password", "remoteRef": {"key": "db"}}]))
    wait_ready(kube, namespace, "leak")
    wait_ready(kube, namespace, "leakb", plural="configbundles")
    kube.patch("secrets", namespace, "leak", {"data": {"d": base64.b64encode(b"x").decode()}})  # drift: more logging
    wait_for(lambda: (secret_data(kube, namespace, "leak") or {}).get("d") == planted["direct"], what="drift repaired")

    lines = [line for line in json_operator.log_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert {"DEBUG", "INFO"} <= {r["level"] for r in records}, "ran at DEBUG"
    assert any(r.get("object", {}).get("name") == "leak" and r["object"].get("namespace") == namespace
               for r in records), "kopf's per-object lines name the object"
    text = "\n".join(lines)
    for value in planted.values():
        assert value not in text and base64.b64encode(value.encode()).decode() not in text, value
