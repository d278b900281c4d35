"""The optional HTTP notification after a rotation: a signed JSON POST with names and versions only.

The URL comes from ``spec.rotation.notify.url`` or a key of a Secret in the ManagedSecret's namespace; the
body is signed with HMAC-SHA256 using a key from another Secret, sent as
``X-ConfigManager-Signature: sha256=<hex>`` (the receiver recomputes it over the raw body). The body never
holds a value: namespace, names, keys, rotation id, trigger, store versions, restarted workloads, time.
Delivery is best effort (one attempt, 5 s timeout); a failure becomes a Warning Event, never a retry storm.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..api.client import KubeApi
from ..spec.rotation import RotationSpec, SecretKeyRef
from ..stores.credentials import StoreNotReadyError, read_key

SIGNATURE_HEADER = "X-ConfigManager-Signature"


class NotifyError(Exception):
    """The notification could not be sent (message names the cause, never a value or the URL's secrets)."""


def _secret_key(api: KubeApi, namespace: str, ref: SecretKeyRef, field: str) -> bytes:
    try:
        return read_key(api, "Secret", namespace, ref.name, ref.key, field)
    except StoreNotReadyError:
        raise NotifyError(f"{field}: Secret {ref.name!r} key {ref.key!r} not found") from None


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def send(api: KubeApi, namespace: str, spec: RotationSpec, payload: Mapping[str, Any], timeout: float = 5.0) -> int:
    """POST ``payload``; returns the HTTP status. Raises NotifyError."""
    if spec.notify_url:
        url = spec.notify_url
    elif spec.notify_url_ref is not None:
        url = _secret_key(api, namespace, spec.notify_url_ref, "spec.rotation.notify.urlSecretRef").decode().strip()
    else:
        raise NotifyError("no notification URL")
    if not url.startswith(("http://", "https://")):
        raise NotifyError("notification URL must be http(s)")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "config-manager"}
    if spec.notify_hmac_ref is not None:
        headers[SIGNATURE_HEADER] = sign(_secret_key(api, namespace, spec.notify_hmac_ref, "spec.rotation.notify.hmacSecretRef"), body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"receiver answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotifyError(f"cannot reach the receiver: {type(reason).__name__}") from None
