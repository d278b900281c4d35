"""Unit tests of the operator's pure logic: durations, hashing, spec validation, isolation, templates,
values, status diffing, backoff, usage discovery and log redaction."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_manager.errors import ConfigurationError, SecretNotFoundError
from config_manager.k8s.api.conditions import now_iso, parse_iso, set_condition
from config_manager.k8s.hashing import data_hash
from config_manager.k8s.logs import BodyRedactingFilter
from config_manager.k8s.reconcile.status import status_patch
from config_manager.k8s.spec.durations import format_duration, parse_duration
from config_manager.k8s.spec.managedsecret import InvalidSpecError, StoreRef, parse_managed_secret
from config_manager.k8s.stores.backoff import Backoff
from config_manager.k8s.stores.isolation import (
    IsolationError,
    check_store_access,
    cluster_store_admits,
    credential_namespace,
    selector_matches,
)
from config_manager.k8s.watch.cache import project
from config_manager.k8s.watch.usage import referenced_secrets
from config_manager.k8s.write.template import render, render_all
from config_manager.k8s.write.values import ValueShapeError, extract_property, spread, to_bytes

# -- durations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [("0", 0), ("30s", 30), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("168h", 604800)])
def test_durations_parse_like_go(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["often", "10", "1d", "-5s", "5 s"])
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(ConfigurationError, match="spec.refreshInterval"):
        parse_duration(text, "spec.refreshInterval")


@given(st.integers(min_value=1, max_value=10**7))
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_a_refused_duration_is_refused_again_and_names_each_field() -> None:
    """parse_duration is memoised: a refusal is raised every time, with the field of that call."""
    for field in ("spec.refreshInterval", "spec.rotation.interval", "spec.refreshInterval"):
        with pytest.raises(ConfigurationError, match=field.replace(".", r"\.")):
            parse_duration("often", field)


# -- timestamps ----------------------------------------------------------------------------------------


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_parse_iso_reads_what_now_iso_writes(moment: dt.datetime) -> None:
    aware = moment.replace(microsecond=0, tzinfo=dt.timezone.utc)
    text = now_iso(aware)
    assert parse_iso(text) == aware
    assert parse_iso(text) == dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text", ["2026-12-02T10:00:00.5Z", "2026-12-02T10:00:00", "2026-12-02", "2026-13-02T10:00:00Z",
                                  "2026-12-02T10:00:00+00:00", " 2026-12-02T10:00:00Z", "None", ""])
def test_parse_iso_refuses_other_forms_as_strptime_does(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)
    with pytest.raises(ValueError):
        dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


# -- hashing -------------------------------------------------------------------------------------------


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=16), max_size=6))
def test_data_hash_ignores_key_order(data: dict[str, str]) -> None:
    assert data_hash(data) == data_hash(dict(reversed(list(data.items()))))


def test_data_hash_changes_with_any_key_or_value() -> None:
    base = data_hash({"a": "1", "b": "2"})
    assert base != data_hash({"a": "1", "b": "3"})
    assert base != data_hash({"a": "1", "c": "2"})
    assert data_hash({"ab": "c"}) != data_hash({"a": "bc"}), "separators keep keys and values apart"


def test_projection_detects_drift_without_keeping_values() -> None:
    data = {"k": "dmFsdWU="}
    body = {"kind": "Secret", "metadata": {"name": "s", "namespace": "n", "resourceVersion": "1",
                                           "annotations": {"configmanager.io/data-hash": data_hash(data),
                                                           "kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
            "data": data}
    info = project(body)
    assert not info.drifted() and info.keys == ("k",)
    assert "kubectl.kubernetes.io/last-applied-configuration" not in info.annotations
    assert "dmFsdWU=" not in repr(info)
    body["data"] = {"k": "ZWRpdGVk"}
    assert project(body).drifted()


# -- spec ----------------------------------------------------------------------------------------------


def _spec(**over: object) -> dict[str, object]:
    spec: dict[str, object] = {"storeRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "r"}}]}
    spec.update(over)
    return spec


def test_spec_defaults() -> None:
    spec = parse_managed_secret("db", _spec())
    assert spec.store == StoreRef("s", "SecretStore")
    assert spec.refresh_seconds == 3600
    assert (spec.target.name, spec.target.type, spec.target.creation_policy, spec.target.deletion_policy) == ("db", "Opaque", "Owner", "Delete")


@pytest.mark.parametrize("over,field", [
    ({"storeRef": None}, "spec.storeRef"),
    ({"refreshInterval": "soon"}, "spec.refreshInterval"),
    ({"target": {"type": "kubernetes.io/service-account-token"}}, "spec.target.type"),
    ({"target": {"template": {"type": "bootstrap.kubernetes.io/token"}}}, "spec.target.type"),
    ({"target": {"creationPolicy": "Merge"}}, "spec.target.deletionPolicy"),
    ({"target": {"creationPolicy": "Adopt"}}, "spec.target.creationPolicy"),
    ({"data": [{"secretKey": "a b", "remoteRef": {"key": "r"}}]}, "spec.data[0].secretKey"),
    ({"data": [{"secretKey": "a", "remoteRef": {"key": "r"}}, {"secretKey": "a", "remoteRef": {"key": "q"}}]}, "spec.data[1].secretKey"),
    ({"data": [{"secretKey": "a", "remoteRef": {"key": " "}}]}, "spec.data[0].remoteRef.key"),
    ({"data": []}, "spec.data"),
    ({"target": {"template": {"metadata": {"annotations": {"configmanager.io/owner": "x"}}}}}, "annotations"),
])
def test_invalid_specs_name_the_field(over: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse_managed_secret("x", _spec(**over))
    assert field in str(err.value)


# -- isolation -----------------------------------------------------------------------------------------


def test_label_selector_semantics() -> None:
    labels = {"team": "a", "env": "prod"}
    assert selector_matches({}, labels)
    assert selector_matches({"matchLabels": {"team": "a"}}, labels)
    assert not selector_matches({"matchLabels": {"team": "b"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]}, labels)


def test_cluster_store_conditions() -> None:
    assert not cluster_store_admits({}, "ns", {}), "no conditions admit nobody"
    assert cluster_store_admits({"conditions": [{"namespaceSelector": {}}]}, "ns", {})
    assert cluster_store_admits({"conditions": [{"namespaces": ["a", "ns"]}]}, "ns", {})
    assert not cluster_store_admits({"conditions": [{"namespaces": ["a"]}]}, "ns", {})
    assert cluster_store_admits({"conditions": [{"namespaceRegexes": ["team-.*"]}]}, "team-x", {})
    assert not cluster_store_admits({"conditions": [{"namespaceRegexes": ["team"]}]}, "team-x", {}), "anchored"
    assert not cluster_store_admits({"conditions": [{"namespaceRegexes": ["("]}]}, "x", {}), "broken regex admits nobody"
    both = {"conditions": [{"namespaces": ["ns"], "namespaceSelector": {"matchLabels": {"t": "a"}}}]}
    assert not cluster_store_admits(both, "ns", {"t": "b"}), "every field of one condition must hold"
    assert cluster_store_admits(both, "ns", {"t": "a"})


def test_store_access_and_credential_namespaces() -> None:
    check_store_access(StoreRef("s"), namespace="a", store_spec={}, ns_labels={})
    with pytest.raises(IsolationError, match="does not admit"):
        check_store_access(StoreRef("c", "ClusterSecretStore"), namespace="a", store_spec={"conditions": [{"namespaces": ["b"]}]}, ns_labels={})
    assert credential_namespace("SecretStore", "a", {"name": "k"}, "f") == "a"
    with pytest.raises(IsolationError, match="own namespace"):
        credential_namespace("SecretStore", "a", {"name": "k", "namespace": "kube-system"}, "f")
    with pytest.raises(IsolationError, match="must name a namespace"):
        credential_namespace("ClusterSecretStore", None, {"name": "k"}, "f")
    assert credential_namespace("ClusterSecretStore", None, {"name": "k", "namespace": "ops"}, "f") == "ops"


# -- templates and values ------------------------------------------------------------------------------


def test_template_rendering_and_filters() -> None:
    values = {"user": "u", "pw": "p w", "b": "aGk="}
    assert render("postgres://{{ .user }}:{{ .pw | quote }}@db", values, field="f") == 'postgres://u:"p w"@db'
    assert render("{{ .b | b64dec | upper }}", values, field="f") == "HI"
    assert render('{{ index . "user" }}', values, field="f") == "u"
    assert render_all({"a": "{{.user}}"}, values) == {"a": "u"}


@pytest.mark.parametrize("template,message", [
    ("{{ .missing }}", "was not fetched"), ("{{ .user | shell }}", "unknown filter"),
    ("{{ exec \"rm\" }}", "unsupported placeholder"), ("{{ .user | b64dec }}", "failed"),
])
def test_template_errors_name_the_key_not_the_value(template: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        render_all({"url": template}, {"user": "secret-value"})
    assert message in str(err.value) and "spec.target.template.data[url]" in str(err.value)
    assert "secret-value" not in str(err.value)


def test_values_extraction() -> None:
    assert extract_property({"a": {"b": 1}}, "a.b", "k") == 1
    assert extract_property('{"a.b": 2}', "a.b", "k") == 2
    assert to_bytes({"z": 1, "a": True}) == b'{"a":true,"z":1}'
    assert spread('{"user": "u", "port": 5}', None, "k") == {"user": b"u", "port": b"5"}
    with pytest.raises(SecretNotFoundError):
        extract_property({"a": 1}, "b", "k")
    with pytest.raises(ValueShapeError):
        spread("plain", None, "k")
    with pytest.raises(ValueShapeError) as err:
        spread({"bad key": "secret-value"}, None, "k")
    assert "secret-value" not in str(err.value)


# -- status --------------------------------------------------------------------------------------------


def test_condition_transition_time_moves_only_on_status_change() -> None:
    c1 = set_condition([], type_="Ready", status="True", reason="A", message="m", generation=1, now="t1")
    c2 = set_condition(c1, type_="Ready", status="True", reason="B", message="m2", generation=2, now="t2")
    assert c2[0]["lastTransitionTime"] == "t1" and c2[0]["reason"] == "B"
    c3 = set_condition(c2, type_="Ready", status="False", reason="C", message="m", generation=2, now="t3")
    assert c3[0]["lastTransitionTime"] == "t3"


def test_status_patch_skips_volatile_only_changes() -> None:
    current = {"observedGeneration": 1, "refreshTime": "t1", "access": {"providerReads": 3, "usedByCount": 0}}
    idle = {"observedGeneration": 1, "refreshTime": "t2", "access": {"providerReads": 9, "usedByCount": 0}}
    assert status_patch(current, idle) is None
    assert status_patch(current, idle, flush_volatile=True) == {"refreshTime": "t2", "access": {"providerReads": 9, "usedByCount": 0}}
    changed = {**idle, "observedGeneration": 2}
    assert status_patch(current, changed) == {"observedGeneration": 2, "refreshTime": "t2", "access": {"providerReads": 9, "usedByCount": 0}}
    users = {**current, "access": {"providerReads": 3, "usedByCount": 1}}
    assert status_patch(current, users) is not None, "who uses the Secret is not volatile"


def test_status_patch_deletes_dropped_nested_keys() -> None:
    current = {"observedGeneration": 1, "access": {"consecutiveFailures": 2, "nextRetry": "t"}}
    desired = {"observedGeneration": 1, "access": {"consecutiveFailures": 0}}
    assert status_patch(current, desired) == {"access": {"consecutiveFailures": 0, "nextRetry": None}}


# -- backoff -------------------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped_and_resets() -> None:
    b = Backoff(base=1, cap=8, jitter=0)
    delays = [b.failure("s", now=t) for t in (0, 100, 200, 300, 400, 500)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert b.remaining("s", now=500) == 8
    b.success("s")
    assert b.remaining("s") == 0 and b.failures("s") == 0


def test_failures_inside_one_window_count_once() -> None:
    b = Backoff(base=1, cap=60, jitter=0)
    b.failure("s", now=0)
    b.failure("s", now=0.5)  # another object's read failed during the same window
    assert b.failures("s") == 1


# -- usage ---------------------------------------------------------------------------------------------


def test_referenced_secrets_from_pod_templates() -> None:
    pod_spec = {
        "volumes": [{"secret": {"secretName": "vol"}}, {"projected": {"sources": [{"secret": {"name": "proj"}}]}}],
        "initContainers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "init-env"}}}]}],
        "containers": [{"envFrom": [{"secretRef": {"name": "envfrom"}}, {"configMapRef": {"name": "cm"}}]}],
        "imagePullSecrets": [{"name": "pull"}],
    }
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": pod_spec}}}
    assert referenced_secrets(deployment) == {"vol", "proj", "init-env", "envfrom", "pull"}
    owned_pod = {"kind": "Pod", "metadata": {"ownerReferences": [{"controller": True}]}, "spec": pod_spec}
    assert referenced_secrets(owned_pod) == set(), "controller-owned Pods are represented by their controller"


# -- logging -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", [
    "Creation is in progress: {'spec': {'inline': {'password': 'hunter2'}}}",
    "Merge-patching the resource with: {'data': {'password': 'aHVudGVyMg=='}}",
    "Updating diff: (('change', ('spec',), 'hunter2', 'x'),)",
])
def test_kopf_body_logs_are_redacted(message: str) -> None:
    record = logging.LogRecord("kopf.objects", logging.DEBUG, __file__, 1, message, None, None)
    assert BodyRedactingFilter().filter(record)
    assert "hunter2" not in record.getMessage() and "aHVudGVyMg" not in record.getMessage()
    assert record.getMessage().endswith("<redacted>")


# -- ConfigBundle helpers ------------------------------------------------------------------------------


def test_env_style_source_strips_prefix_nests_and_lowercases() -> None:
    from config_manager.k8s.reconcile.sources import env_tree as _env_tree
    from config_manager.k8s.reconcile.sources import leaf_paths as _leaf_paths

    tree = _env_tree({"APP_DB__HOST": "h", "APP_DB__PASSWORD": "p", "APP_DEBUG": "1", "OTHER": "x"}, "APP_", "__")
    assert tree == {"db": {"host": "h", "password": "p"}, "debug": "1"}
    assert _leaf_paths(tree) == {"db.host", "db.password", "debug"}


def test_refresh_policy_is_parsed_and_an_unknown_one_names_the_field() -> None:
    base = {"storeRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}
    assert parse_managed_secret("x", base).refresh_policy == "Periodic"
    assert parse_managed_secret("x", {**base, "refreshPolicy": "CreatedOnce"}).refresh_policy == "CreatedOnce"
    with pytest.raises(InvalidSpecError, match="spec.refreshPolicy"):
        parse_managed_secret("x", {**base, "refreshPolicy": "Sometimes"})
