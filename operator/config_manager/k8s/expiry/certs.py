"""The earliest notAfter among the X.509 certificates in a value (PEM, as tls.crt or a CA bundle holds).

Only ``-----BEGIN CERTIFICATE-----`` blocks are looked at (keys and other blocks are skipped unread);
anything that does not parse is ignored: a value is never refused for not being a certificate.
"""

from __future__ import annotations

import re
from datetime import datetime

from cryptography import x509

_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
MARKER = b"-----BEGIN CERTIFICATE-----"


def certificate_expiry(value: bytes | str) -> datetime | None:
    """The earliest notAfter (UTC) of the certificates in ``value``, or None when it holds none."""
    data = value.encode() if isinstance(value, str) else value
    if MARKER not in data:
        return None
    found: list[datetime] = []
    for block in _BLOCK.findall(data):
        try:
            found.append(x509.load_pem_x509_certificate(block).not_valid_after_utc)
        except ValueError:
            continue
    return min(found) if found else None
