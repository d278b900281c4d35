"""External Secrets' certificate functions, on ``cryptography``: PEM filtering, PKCS#12 to and from PEM, JWK.

As in External Secrets: ``pkcs12key`` / ``pkcs12cert`` take the PKCS#12 bytes (``| b64dec`` first when the
store holds base64) and give PEM (the key as PKCS#8 ``PRIVATE KEY``, the certificate then its chain);
``pemToPkcs12`` / ``fullPemToPkcs12`` give the PKCS#12 file base64-encoded (``fullPem`` keeps the chain);
the ``...Pass`` forms take the password first. ``filterPEM "CERTIFICATE"`` keeps the blocks of one type;
``filterCertChain "leaf|intermediate|root"`` the certificates of one place in a chain.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .gofmt import as_bytes, text

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
_PEM = serialization.Encoding.PEM
_PKCS8 = serialization.PrivateFormat.PKCS8
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def f_filterPEM(pem_type: Any, src: Any) -> str:  # noqa: N802 - ESO's name
    wanted = text(pem_type)
    return "".join(m.group(0) + "\n" for m in _BLOCK.finditer(text(src)) if m.group(1) == wanted)


def _certs(src: Any) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(as_bytes(src))


def _pem_certs(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(_PEM).decode() for c in certs)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def f_filterCertChain(kind: Any, src: Any) -> str:  # noqa: N802 - ESO's name
    place = text(kind)
    if place not in ("leaf", "intermediate", "root"):
        raise ValueError("certificate type must be leaf, intermediate or root")

    def where(cert: x509.Certificate) -> str:
        if not _is_ca(cert):
            return "leaf"
        return "root" if cert.subject == cert.issuer else "intermediate"

    return _pem_certs([c for c in _certs(src) if where(c) == place])


def _load(password: Any, src: Any) -> pkcs12.PKCS12KeyAndCertificates:
    secret = as_bytes(password) if password not in (None, "") else None
    return pkcs12.load_pkcs12(as_bytes(src), secret)


def f_pkcs12keyPass(password: Any, src: Any) -> str:  # noqa: N802 - ESO's name
    key = _load(password, src).key
    if key is None:
        raise ValueError("no private key in the PKCS#12 file")
    return key.private_bytes(_PEM, _PKCS8, serialization.NoEncryption()).decode()


def f_pkcs12certPass(password: Any, src: Any) -> str:  # noqa: N802 - ESO's name
    bundle = _load(password, src)
    certs = ([bundle.cert.certificate] if bundle.cert else []) + [c.certificate for c in bundle.additional_certs]
    return _pem_certs(certs)


def _to_pkcs12(cert: Any, key: Any, password: Any, *, chain: bool) -> str:
    certs = _certs(cert)
    private = serialization.load_pem_private_key(as_bytes(key), None)
    if not isinstance(private, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError("unsupported key type")
    secret = as_bytes(password) if password not in (None, "") else b""
    encryption = serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    blob = pkcs12.serialize_key_and_certificates(None, private, certs[0], certs[1:] if chain else None, encryption)
    return base64.b64encode(blob).decode()


def _b64url(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def _jwk_private(jwk: dict[str, Any]) -> Any:
    kty = jwk.get("kty")
    if kty == "RSA":
        public = rsa.RSAPublicNumbers(_b64url(jwk["e"]), _b64url(jwk["n"]))
        return rsa.RSAPrivateNumbers(_b64url(jwk["p"]), _b64url(jwk["q"]), _b64url(jwk["d"]), _b64url(jwk["dp"]),
                                     _b64url(jwk["dq"]), _b64url(jwk["qi"]), public).private_key()
    if kty == "EC":
        return ec.derive_private_key(_b64url(jwk["d"]), _CURVES[jwk["crv"]]())
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        raw = base64.urlsafe_b64decode(jwk["d"] + "=" * (-len(jwk["d"]) % 4))
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    raise ValueError("unsupported JWK key type")


def _jwk_public(jwk: dict[str, Any]) -> Any:
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_b64url(jwk["e"]), _b64url(jwk["n"])).public_key()
    if kty == "EC":
        return ec.EllipticCurvePublicNumbers(_b64url(jwk["x"]), _b64url(jwk["y"]), _CURVES[jwk["crv"]]()).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)))
    raise ValueError("unsupported JWK key type")


def _jwk(src: Any) -> dict[str, Any]:
    jwk = json.loads(text(src))
    if not isinstance(jwk, dict):
        raise ValueError("a JWK is a JSON object")
    return jwk


CERTS: dict[str, Callable[..., Any]] = {
    "filterPEM": f_filterPEM,
    "filterCertChain": f_filterCertChain,
    "pkcs12key": lambda src: f_pkcs12keyPass("", src),
    "pkcs12keyPass": f_pkcs12keyPass,
    "pkcs12cert": lambda src: f_pkcs12certPass("", src),
    "pkcs12certPass": f_pkcs12certPass,
    "pemToPkcs12": lambda cert, key: _to_pkcs12(cert, key, "", chain=False),
    "pemToPkcs12Pass": lambda cert, key, pw: _to_pkcs12(cert, key, pw, chain=False),
    "fullPemToPkcs12": lambda cert, key: _to_pkcs12(cert, key, "", chain=True),
    "fullPemToPkcs12Pass": lambda cert, key, pw: _to_pkcs12(cert, key, pw, chain=True),
    "jwkPublicKeyPem": lambda src: _jwk_public(_jwk(src)).public_bytes(_PEM, _SPKI).decode(),
    "jwkPrivateKeyPem": lambda src: _jwk_private(_jwk(src)).private_bytes(_PEM, _PKCS8, serialization.NoEncryption()).decode(),
}
