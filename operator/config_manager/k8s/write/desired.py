"""The Secret and masked ConfigMap a ManagedSecret asks for, given the values fetched: pure, no I/O.

Templates (``template.apply``) render over the fetched values; the masked ConfigMap shows every key as
``[MASKED]`` with the non-secret metadata beside it (``_meta.tier``, ``_meta.owner``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.resources import LABEL_TIER, MASK
from ..spec.managedsecret import ManagedSecretSpec
from .template.apply import Sources, apply_template
from .values import b64
from .writer import Desired


def desired_secret(body: Mapping[str, Any], spec: ManagedSecretSpec, data: Mapping[str, bytes],
                   sources: Sources | None = None) -> Desired:
    """The Secret this spec asks for, given the fetched data and the ``templateFrom`` objects' keys."""
    target = spec.target
    values = dict(data)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if target.template is not None:
        rendered = apply_template(target.template, data, sources or {})
        values = rendered.data
        labels.update(rendered.labels)
        annotations.update(rendered.annotations)
    meta_labels = spec.metadata.get("labels") or {}
    labels.update({str(k): str(v) for k, v in meta_labels.items()})
    if spec.metadata.get("tier"):
        labels[LABEL_TIER] = str(spec.metadata["tier"])
    return Desired(
        kind="Secret",
        namespace=body["metadata"]["namespace"],
        name=target.name,
        data=b64(values),
        owner=body,
        policy=target.creation_policy,
        owner_reference=target.creation_policy == "Owner" and target.deletion_policy == "Delete",
        type=target.type,
        labels=labels,
        annotations=annotations,
        immutable=target.immutable,
    )


def desired_masked_configmap(body: Mapping[str, Any], spec: ManagedSecretSpec, keys: list[str]) -> Desired:
    """The masked ConfigMap view: every key shown as [MASKED], plus the non-secret metadata."""
    assert spec.target.masked_configmap
    data = {k: MASK for k in keys}
    for field in ("tier", "owner", "description"):
        if spec.metadata.get(field):
            data[f"_meta.{field}"] = str(spec.metadata[field])
    data["_meta.secret"] = spec.target.name
    return Desired(
        kind="ConfigMap",
        namespace=body["metadata"]["namespace"],
        name=spec.target.masked_configmap,
        data=data,
        owner=body,
        policy="Owner",
        owner_reference=spec.target.deletion_policy == "Delete",
        labels={LABEL_TIER: str(spec.metadata["tier"])} if spec.metadata.get("tier") else {},
    )
