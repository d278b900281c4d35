"""Pure logic of rotation: cadence (interval and cron), generator options, trigger decisions, the intent
state machine, debounce, per-key usage and hashing, the rotation spec, and the signed notification."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from config_manager.errors import ConfigurationError
from config_manager.k8s.rotation import plan, restarts
from config_manager.k8s.rotation.notify import SIGNATURE_HEADER, send, sign
from config_manager.k8s.spec.managedsecret import InvalidSpecError, parse_managed_secret
from config_manager.k8s.spec.rotation import parse_rotation, sync_spec
from config_manager.k8s.watch.triggers import due_delay
from config_manager.secrets.generators import generator_from_spec
from config_manager.secrets.rotation import Cadence, RotationSchedule

T0 = datetime(2024, 5, 6, 10, 0, 0, tzinfo=timezone.utc)


# -- cadence and the library schedule -------------------------------------------------------------------

def test_interval_and_cron_cadence() -> None:
    assert Cadence(interval=timedelta(hours=168)).next_after(T0) == T0 + timedelta(days=7)
    assert Cadence(cron="0 3 * * 0").next_after(T0) == datetime(2024, 5, 12, 3, 0, tzinfo=timezone.utc)
    assert Cadence(cron="*/15 * * * *").next_after(T0) == T0 + timedelta(minutes=15)
    assert Cadence(cron="0 3 * * *").typical_gap(T0) == timedelta(days=1)
    with pytest.raises(ConfigurationError):
        Cadence(cron="not a cron")
    with pytest.raises(ConfigurationError):
        Cadence(interval=timedelta(hours=1), cron="* * * * *")


def test_library_schedule_follows_cron() -> None:
    schedule = RotationSchedule()
    job = schedule.schedule("k", "p", timedelta(days=1), lambda: "v", now=T0, exists=True, current_since=T0, cron="0 3 * * *")
    assert job.next_due == datetime(2024, 5, 7, 3, 0, tzinfo=timezone.utc)
    assert schedule.due(T0 + timedelta(hours=16)) == []
    assert [j.key for j in schedule.due(T0 + timedelta(hours=17))] == ["k"]
    schedule.succeeded(job, datetime(2024, 5, 7, 3, 0, 5, tzinfo=timezone.utc))
    assert schedule.get("k", "p").next_due == datetime(2024, 5, 8, 3, 0, tzinfo=timezone.utc)  # type: ignore[union-attr]


def test_generator_options_in_crd_spelling() -> None:
    assert len(generator_from_spec({"type": "token", "length": 40})()) == 40
    assert len(generator_from_spec({"type": "hex", "length": 15})()) == 15
    digits = generator_from_spec({"type": "password", "length": 16, "characterClasses": ["digits"]})()
    assert digits.isdigit() and len(digits) == 16
    assert generator_from_spec({"type": "rsa", "length": 2048})().startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ConfigurationError):
        generator_from_spec({"type": "rsa", "length": 1024})
    with pytest.raises(ConfigurationError):
        generator_from_spec({"type": "uuid", "characterClasses": ["digits"]})


# -- triggers -----------------------------------------------------------------------------------------------

def decide(status: dict[str, Any], *, annotation: str | None = None, missing: bool = False, enabled: bool = True,
           now: datetime = T0) -> str | None:
    return plan.decide_trigger(status, annotation=annotation, missing=missing, enabled=enabled,
                               cadence=Cadence(interval=timedelta(hours=1)), created=T0 - timedelta(minutes=30), now=now)


def test_trigger_decisions() -> None:
    assert decide({}) is None, "30 minutes after creation, an hourly rotation is not due"
    assert decide({}, now=T0 + timedelta(minutes=30)) == "schedule"
    assert decide({"lastRotationTime": plan.iso(T0)}, now=T0 + timedelta(minutes=59)) is None
    assert decide({"lastRotationTime": plan.iso(T0)}, now=T0 + timedelta(minutes=60)) == "schedule"
    assert decide({}, now=T0 + timedelta(hours=5), enabled=False) is None, "disabled: no schedule"
    assert decide({}, annotation="x") == "annotation"
    assert decide({"manualTrigger": "x"}, annotation="x") is None, "an honoured value never fires again"
    assert decide({}, missing=True) == "initial"


def test_due_delay_for_the_work_queue() -> None:
    body = {"spec": {"rotation": {}}, "status": {"rotation": {"nextRotationTime": plan.iso(T0 + timedelta(seconds=30))}}}
    assert due_delay(body, now=T0) == 30
    body["status"]["rotation"]["pending"] = {"id": "x"}
    assert due_delay(body, now=T0) == 0
    assert due_delay({"spec": {}}, now=T0) is None
    assert due_delay({"spec": {"rotation": {}}, "metadata": {"annotations": {"configmanager.io/rotate": "1"}}}, now=T0) == 0


# -- the intent state machine --------------------------------------------------------------------------------

def test_intent_records_versions_never_values() -> None:
    paths = {"db/pw": plan.path_state("r1", exists=True, version="3", value="s3cret-value"),
             "new": plan.path_state("r1", exists=False, version=None, value=None),
             "kv1": plan.path_state("r1", exists=True, version=None, value="s3cret-value")}
    intent = plan.new_intent("r1", "annotation", annotation="go", keys=["pw"], paths=paths, now=T0)
    text = json.dumps(intent)
    assert "s3cret-value" not in text and hashlib.sha256(b"s3cret-value").hexdigest()[:16] not in text
    assert intent["paths"]["db/pw"] == {"from": "3"} and intent["paths"]["new"] == {"missing": True}
    assert intent["annotation"] == "go"


def test_recovery_tells_whether_the_store_write_landed() -> None:
    assert not plan.store_written("r1", {"from": "3"}, exists=True, version="3", value="old")
    assert plan.store_written("r1", {"from": "3"}, exists=True, version="4", value="new")
    assert not plan.store_written("r1", {"missing": True}, exists=False, version=None, value=None)
    assert plan.store_written("r1", {"missing": True}, exists=True, version="1", value="new")
    fp = plan.path_state("r1", exists=True, version=None, value="old")
    assert not plan.store_written("r1", fp, exists=True, version=None, value="old")
    assert plan.store_written("r1", fp, exists=True, version=None, value="new")


def test_completion_counts_once_and_bounds_history() -> None:
    status: dict[str, Any] = {"count": 12, "history": [{"id": str(i)} for i in range(plan.HISTORY_LIMIT)],
                              "pending": {"id": "r"}, "lastError": "StoreWriteFailed: x"}
    intent = {"id": "r", "trigger": "annotation", "annotation": "go", "keys": ["pw"]}
    done = plan.completed(status, intent, versions=["7"], cadence=Cadence(interval=timedelta(hours=1)), enabled=True, now=T0)
    assert done["count"] == 13 and "pending" not in done and "lastError" not in done
    assert len(done["history"]) == plan.HISTORY_LIMIT and done["history"][-1] == {
        "time": plan.iso(T0), "trigger": "annotation", "id": "r", "version": "7", "keys": ["pw"]}
    assert done["manualTrigger"] == "go" and done["nextRotationTime"] == plan.iso(T0 + timedelta(hours=1))


def test_debounce_trailing_edge_with_a_cap() -> None:
    first = plan.debounce(None, now=T0, window=10, keys=["a"])
    assert first["due"] == plan.iso(T0 + timedelta(seconds=10)) and not plan.restart_due(first, T0 + timedelta(seconds=9))
    second = plan.debounce(first, now=T0 + timedelta(seconds=8), window=10, keys=["b"])
    assert second["due"] == plan.iso(T0 + timedelta(seconds=18)) and second["keys"] == ["a", "b"] and second["changes"] == 2
    late = second
    for step in range(1, 20):
        late = plan.debounce(late, now=T0 + timedelta(seconds=8 * step), window=10, keys=["a"])
    assert late["due"] == plan.iso(T0 + timedelta(seconds=50)), "a stream of changes cannot postpone forever"
    assert plan.restart_due(plan.debounce(None, now=T0, window=0, keys=["a"]), T0)


# -- per-key restarts ----------------------------------------------------------------------------------------

def workload(containers: list[dict[str, Any]], volumes: list[dict[str, Any]] | None = None,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "w", "namespace": "ns"},
            "spec": {"template": {"metadata": {"annotations": annotations or {}},
                                  "spec": {"containers": containers, "volumes": volumes or []}}}}


DATA = {"password": "cHc=", "token": "dG9r", "password_previous": "b2xk"}


def test_used_keys_per_reference_kind() -> None:
    env = workload([{"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
                             {"name": "O", "valueFrom": {"secretKeyRef": {"name": "other", "key": "token"}}}]}])
    assert restarts.used_keys(env, "s", DATA) == {"password"}
    assert restarts.used_keys(workload([{"envFrom": [{"secretRef": {"name": "s"}}]}]), "s", DATA) == set(DATA)
    items = workload([{}], [{"name": "v", "secret": {"secretName": "s", "items": [{"key": "token", "path": "t"}]}}])
    assert restarts.used_keys(items, "s", DATA) == {"token"}
    projected = workload([{}], [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}])
    assert restarts.used_keys(projected, "s", DATA) == set(DATA)
    assert restarts.used_keys(workload([{}]), "s", DATA) == set()


def test_hash_covers_only_used_keys_and_is_keyed() -> None:
    h = restarts.keys_hash("uid-1", DATA, ["password"])
    assert h == restarts.keys_hash("uid-1", {**DATA, "token": "Y2hhbmdlZA=="}, ["password"]), "other keys do not matter"
    assert h != restarts.keys_hash("uid-1", {**DATA, "password": "bmV3"}, ["password"])
    assert h != restarts.keys_hash("uid-2", DATA, ["password"]), "keyed with the Secret's uid"
    assert hashlib.sha256(b"cHc=").hexdigest()[:32] != h


def test_restart_decisions() -> None:
    uses_pw = [{"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]}]
    fresh = restarts.decide(workload(uses_pw), "s", "uid", DATA, ["password"])
    assert fresh.restart
    assert not restarts.decide(workload(uses_pw), "s", "uid", DATA, ["token"]).restart, "unused key changed"
    done = workload(uses_pw, annotations={restarts.annotation_key("s"): fresh.hash})
    assert not restarts.decide(done, "s", "uid", DATA, ["password"]).restart, "already restarted: never twice"
    stale = workload(uses_pw, annotations={restarts.annotation_key("s"): "old"})
    assert restarts.decide(stale, "s", "uid", DATA, []).restart
    assert not restarts.decide(workload([{}]), "s", "uid", DATA, ["*"]).restart
    assert restarts.decide(workload([{}]), "s", "uid", DATA, ["*"], explicit=True).restart


def test_annotation_key_fits_the_name_limit() -> None:
    assert restarts.annotation_key("db") == "checksum.configmanager.io/db"
    long = restarts.annotation_key("a" * 200)
    assert len(long.split("/", 1)[1]) <= 63 and long != restarts.annotation_key("a" * 199)


# -- the spec --------------------------------------------------------------------------------------------------

def ms_spec(rotation: dict[str, Any], data: dict[str, str] | None = None) -> Any:
    raw: dict[str, Any] = {"storeRef": {"name": "s"}, "rotation": rotation}
    if data:
        raw["data"] = [{"secretKey": k, "remoteRef": {"key": v}} for k, v in data.items()]
    return parse_managed_secret("x", raw), raw["rotation"]


def test_rotation_spec_and_implied_sync_spec() -> None:
    spec, raw = ms_spec({"keys": ["pw", "gen"], "keepPrevious": True, "interval": "1m",
                         "generators": {"gen": {"type": "uuid"}}}, {"pw": "db/pw", "other": "db/other"})
    rotation = parse_rotation(raw, spec, interval_scale=0.5)
    assert rotation.cadence == Cadence(interval=timedelta(seconds=30))
    assert [(k.secret_key, k.remote.key, k.previous.key if k.previous else None) for k in rotation.keys] == [
        ("pw", "db/pw", "db/pw_previous"), ("gen", "gen", "gen_previous")]
    synced = sync_spec(spec, rotation)
    assert {d.secret_key: d.remote.key for d in synced.data} == {
        "pw": "db/pw", "other": "db/other", "gen": "gen", "pw_previous": "db/pw_previous", "gen_previous": "gen_previous"}


@pytest.mark.parametrize("rotation,field", [
    ({"writeBack": False}, "spec.rotation.writeBack"),
    ({"generator": {"type": "nope"}}, "spec.rotation.generator"),
    ({"generators": {"missing": {"type": "uuid"}}}, "spec.rotation.generators[missing]"),
    ({"schedule": "61 * * * *"}, "spec.rotation.schedule"),
    ({"restartWorkloads": {"mode": "Explicit"}}, "spec.rotation.restartWorkloads.targets"),
])
def test_bad_rotation_specs_name_the_field(rotation: dict[str, Any], field: str) -> None:
    spec, raw = ms_spec(rotation, {"pw": "db/pw"})
    with pytest.raises(InvalidSpecError) as info:
        parse_rotation(raw, spec)
    assert info.value.field == field


# -- notification ------------------------------------------------------------------------------------------------

def test_notification_is_signed_and_carries_no_value() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Api:
        def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
            import base64
            return {"data": {"key": base64.b64encode(b"hmac-key").decode()}}

    spec, raw = ms_spec({"notify": {"url": f"http://127.0.0.1:{server.server_port}/hook",
                                    "hmacSecretRef": {"name": "hook", "key": "key"}}}, {"pw": "db/pw"})
    rotation = parse_rotation(raw, spec)
    try:
        status = send(Api(), "ns", rotation, {"name": "x", "versions": ["4"], "keys": ["pw"]})  # type: ignore[arg-type]
    finally:
        server.shutdown()
    assert status == 204
    headers, body = received[0]
    expected = "sha256=" + hmac.new(b"hmac-key", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected == sign(b"hmac-key", body)
    assert json.loads(body) == {"keys": ["pw"], "name": "x", "versions": ["4"]}


# -- ConfigBundle: the per-kind adapter, previous-value paths, the CRD schema, the CLI's kind ----------------------

def bundle(rotation: dict[str, Any], secrets: list[dict[str, Any]], store: str | None = "s") -> dict[str, Any]:
    spec: dict[str, Any] = {"rotation": rotation, "secrets": secrets}
    if store:
        spec["storeRef"] = {"name": store}
    return spec


def test_bundle_subject_rotates_spec_secrets_paths_and_changes_the_one_document_key() -> None:
    from config_manager.k8s.rotation.subjects import config_bundle_subject
    from config_manager.k8s.spec.managedsecret import RemoteRef, StoreRef
    from config_manager.k8s.spec.rotation import bundle_previous_items

    spec = bundle({"keepPrevious": True, "generators": {"api.token": {"type": "token", "length": 40}}},
                  [{"path": "db.password", "remoteRef": {"key": "db/pw"}},
                   {"path": "api.token", "remoteRef": {"key": "api", "property": "token"}}])
    subject = config_bundle_subject(spec["rotation"], spec, secret_name="b-secret", secret_key="config.json")
    assert (subject.kind, subject.plural, subject.secret_name) == ("ConfigBundle", "configbundles", "b-secret")
    assert subject.store == StoreRef("s") and subject.changed_keys == ("config.json",)
    assert subject.rotation.key_names == ["db.password", "api.token"], "all spec.secrets paths when keys is absent"
    assert len(subject.rotation.keys[1].generator()) == 40
    assert bundle_previous_items(subject.rotation, ["db.password", "api.token"]) == [
        ("db.password_previous", RemoteRef(key="db/pw_previous")),
        ("api.token_previous", RemoteRef(key="api", property="token_previous"))]
    assert bundle_previous_items(subject.rotation, ["db.password_previous"]) == [
        ("api.token_previous", RemoteRef(key="api", property="token_previous"))], "a path the bundle maps itself wins"
    only = config_bundle_subject({"keys": ["api.token"]}, spec, secret_name="x", secret_key="k")
    assert only.rotation.key_names == ["api.token"] and bundle_previous_items(only.rotation, []) == []


@pytest.mark.parametrize("rotation,secrets,store,field", [
    ({"keys": ["nope"]}, [{"path": "a", "remoteRef": {"key": "a"}}], "s", "spec.rotation.keys"),
    ({}, [{"path": "a", "remoteRef": {"key": "a"}}, {"path": "b", "remoteRef": {"key": "b"}, "storeRef": {"name": "t"}}],
     "s", "spec.rotation.keys"),
    ({}, [{"path": "a", "remoteRef": {"key": "a", "version": "3"}}], "s", "spec.rotation.keys"),
    ({}, [{"path": "a", "remoteRef": {"key": "a"}}], None, "spec.secrets[0].storeRef"),
    ({}, [], "s", "spec.rotation.keys"),
    ({"generators": {"b": {"type": "uuid"}}}, [{"path": "a", "remoteRef": {"key": "a"}}], "s", "spec.rotation.generators[b]"),
])
def test_bad_bundle_rotation_specs_name_the_field(rotation: dict[str, Any], secrets: list[dict[str, Any]], store: str | None,
                                                  field: str) -> None:
    from config_manager.k8s.rotation.subjects import config_bundle_subject

    spec = bundle(rotation, secrets, store)
    with pytest.raises(InvalidSpecError) as info:
        config_bundle_subject(spec["rotation"], spec, secret_name="x", secret_key="k")
    assert info.value.field == field


def test_bundle_paths_in_two_stores_rotate_when_keys_pick_one_store() -> None:
    from config_manager.k8s.rotation.subjects import config_bundle_subject
    from config_manager.k8s.spec.managedsecret import StoreRef

    spec = bundle({"keys": ["b"]}, [{"path": "a", "remoteRef": {"key": "a"}},
                                    {"path": "b", "remoteRef": {"key": "b"}, "storeRef": {"name": "t", "kind": "ClusterSecretStore"}}])
    assert config_bundle_subject(spec["rotation"], spec, secret_name="x", secret_key="k").store == StoreRef("t", "ClusterSecretStore")


def test_managed_secret_subject_changes_rotated_and_previous_keys() -> None:
    from config_manager.k8s.rotation.subjects import managed_secret_subject

    spec, raw = ms_spec({"keys": ["pw"], "keepPrevious": True}, {"pw": "db/pw", "other": "o"})
    subject = managed_secret_subject(raw, spec)
    assert (subject.kind, subject.plural, subject.secret_name, subject.changed_keys) == (
        "ManagedSecret", "managedsecrets", "x", ("pw", "pw_previous"))


def test_bundle_rotation_schema_is_the_managed_secret_one_apart_from_descriptions_and_path_length() -> None:
    from pathlib import Path

    import yaml

    def schema(crd: str, part: str) -> dict[str, Any]:
        doc = yaml.safe_load((Path(__file__).resolve().parents[3] / "crds" / crd).read_text())
        props = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        return dict(props[part]["properties"]["rotation"])

    def shape(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: shape(v) for k, v in node.items()
                    if k not in ("description", "maxLength") and not (k == "x-kubernetes-validations" and "keepPrevious" in str(v))}
        return [shape(v) for v in node] if isinstance(node, list) else node

    for part in ("spec", "status"):
        assert shape(schema("configbundle.yaml", part)) == shape(schema("managedsecret.yaml", part)), part


def test_cli_rotate_kind_detection_order_and_aliases() -> None:
    from config_manager.cli.errors import CliError
    from config_manager.cli.rotate import parse_kind

    assert parse_kind(None) == ["ManagedSecret", "ConfigBundle"]
    assert parse_kind("cb") == parse_kind("ConfigBundle") == ["ConfigBundle"]
    assert parse_kind("ms") == ["ManagedSecret"]
    with pytest.raises(CliError):
        parse_kind("Deployment")
