"""Who may use which store, and which namespace a credential may be read from.

The operator holds read access to Secrets in many namespaces; these rules make sure it never becomes a
way around RBAC:

- a ManagedSecret/ConfigBundle reaches a SecretStore only in its own namespace;
- it reaches a ClusterSecretStore only when one of the store's ``conditions`` admits its namespace
  (no conditions admit nobody: the CRD requires at least one, and an explicit ``namespaceSelector: {}``
  is how a platform team says "everyone");
- a SecretStore's credential references always resolve in the store's own namespace;
- objects never name a Secret/ConfigMap of another namespace (their schema has no namespace field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..spec.managedsecret import StoreRef


class IsolationError(Exception):
    """A reference the isolation rules refuse. The message says which rule and is safe to show."""


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics: matchLabels AND every matchExpression; {} matches all."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # unknown operators never admit
    return True


def _condition_admits(cond: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> bool:
    has_any = False
    if "namespaces" in cond:
        has_any = True
        if namespace not in (cond.get("namespaces") or []):
            return False
    if "namespaceRegexes" in cond:
        has_any = True
        patterns: Sequence[str] = cond.get("namespaceRegexes") or []
        if not any(_full_match(p, namespace) for p in patterns):
            return False
    if "namespaceSelector" in cond:
        has_any = True
        if not selector_matches(cond.get("namespaceSelector") or {}, labels):
            return False
    return has_any


def _full_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False  # a broken pattern admits nobody


def cluster_store_admits(store_spec: Mapping[str, Any], namespace: str, ns_labels: Mapping[str, str]) -> bool:
    """True when any of the ClusterSecretStore's conditions admits ``namespace`` (none: nobody)."""
    conditions = store_spec.get("conditions") or []
    return any(_condition_admits(c, namespace, ns_labels) for c in conditions if isinstance(c, Mapping))


def check_store_access(
    ref: StoreRef,
    *,
    namespace: str,
    store_spec: Mapping[str, Any] | None,
    ns_labels: Mapping[str, str] | None,
) -> None:
    """Raise IsolationError unless an object in ``namespace`` may use the store ``ref`` resolves to."""
    if ref.kind == "SecretStore":
        return  # resolved in the caller's namespace only, by construction
    if store_spec is None:
        return  # a missing store is reported as StoreNotReady by the caller
    if ns_labels is None:
        raise IsolationError(f"namespace {namespace!r} is unknown to the operator")
    if not cluster_store_admits(store_spec, namespace, ns_labels):
        raise IsolationError(
            f"ClusterSecretStore {ref.name!r} does not admit namespace {namespace!r} (spec.conditions)"
        )


def credential_namespace(store_kind: str, store_namespace: str | None, ref: Mapping[str, Any], field: str) -> str:
    """The namespace a credential reference resolves in.

    SecretStore: always its own namespace (a ``namespace`` field is refused, not silently ignored).
    ClusterSecretStore: the reference must name its namespace.
    """
    named = ref.get("namespace")
    if store_kind == "SecretStore":
        if named and named != store_namespace:
            raise IsolationError(f"{field}.namespace: a SecretStore may only reference its own namespace")
        assert store_namespace is not None
        return store_namespace
    if not named:
        raise IsolationError(f"{field}.namespace: a ClusterSecretStore reference must name a namespace")
    return str(named)
