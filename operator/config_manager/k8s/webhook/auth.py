"""Who may send change events: a bearer token or an HMAC-SHA256 signature over the raw body.

The secret (token or HMAC key) is read from a file mounted from a Kubernetes Secret, and read again when
the file changes (a rotated Secret is picked up without a restart). Every comparison is constant-time
(``hmac.compare_digest``); a refusal never says which part was wrong beyond "missing" vs "invalid".
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

#: The header carrying ``sha256=<hex>`` of HMAC-SHA256(key, body), as GitHub and many CI systems send it.
SIGNATURE_HEADER = "X-Signature-256"


@dataclass
class SecretFile:
    """The stripped content of a file, re-read when its modification time or size changes."""

    path: Path
    _stamp: tuple[float, int] | None = None
    _value: bytes = b""

    def value(self) -> bytes:
        try:
            st = os.stat(self.path)
        except OSError:
            return b""  # a missing file authenticates nobody
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            self._value = self.path.read_bytes().strip()
            self._stamp = stamp
        return self._value


@dataclass
class Authenticator:
    """Checks a request's ``Authorization: Bearer`` token or its ``X-Signature-256`` HMAC."""

    token: SecretFile | None = None
    hmac_key: SecretFile | None = None
    _dummy: bytes = field(default=b"\0" * 32)

    @property
    def configured(self) -> bool:
        return self.token is not None or self.hmac_key is not None

    def check(self, authorization: str | None, signature: str | None, body: bytes) -> int:
        """200 when authenticated, 401 when no credential was presented, 403 when it was wrong."""
        presented = False
        ok = False
        if authorization and authorization[:7].lower() == "bearer ":
            presented = True
            expected = self.token.value() if self.token is not None else b""
            given = authorization[7:].strip().encode()
            # compare even without a configured token, so timing does not tell whether one is set
            ok = hmac.compare_digest(given, expected or self._dummy) and bool(expected)
        if not ok and signature:
            presented = True
            key = self.hmac_key.value() if self.hmac_key is not None else b""
            digest = hmac.new(key or self._dummy, body, hashlib.sha256).hexdigest()
            given_sig = signature.strip()
            if given_sig.lower().startswith("sha256="):
                given_sig = given_sig[7:]
            ok = hmac.compare_digest(given_sig.lower().encode(), digest.encode()) and bool(key)
        if ok:
            return 200
        return 403 if presented else 401


def sign(key: bytes, body: bytes) -> str:
    """The ``X-Signature-256`` value for ``body`` (for senders and tests)."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
