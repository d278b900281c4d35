"""Unit tests of the certificate functions of templates, on real keys and certificates made here with
``cryptography`` (a CA from the dev cluster's PKI helper, a leaf it signs): PEM filtering, PKCS#12 to PEM
and back, JWK to PEM."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from config_manager.devcluster.pki import CertificateAuthority
from config_manager.k8s.write.template import TemplateError, render

PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(folder)
    files = ca.issue("leaf", "app.example")
    key = serialization.load_pem_private_key(files.key.read_bytes(), None)
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    root = x509.load_pem_x509_certificate(ca.cert_pem)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    p12 = pkcs12.serialize_key_and_certificates(b"app", key, leaf, [root], serialization.NoEncryption())
    p12_pass = pkcs12.serialize_key_and_certificates(b"app", key, leaf, [root], serialization.BestAvailableEncryption(b"pfx-pw"))
    return {"key": key, "leaf": leaf, "root": root, "p12": base64.b64encode(p12).decode(),
            "p12pass": base64.b64encode(p12_pass).decode(),
            "leaf_pem": leaf.public_bytes(PEM).decode(), "root_pem": root.public_bytes(PEM).decode(),
            "key_pem": key.private_bytes(PEM, PKCS8, serialization.NoEncryption()).decode()}


def r(template: str, values: dict[str, str]) -> str:
    return render(template, values, field="spec.target.template.data[k]")


def test_pkcs12_to_pem_key_and_certificate_chain(chain: dict[str, Any]) -> None:
    values = {"p12": chain["p12"], "p12pass": chain["p12pass"], "pw": "pfx-pw"}
    assert r("{{ .p12 | b64dec | pkcs12key }}", values) == chain["key_pem"]
    assert r("{{ .p12 | b64dec | pkcs12cert }}", values) == chain["leaf_pem"] + chain["root_pem"]
    assert r("{{ .p12pass | b64dec | pkcs12keyPass .pw }}", values) == chain["key_pem"]
    assert r("{{ pkcs12certPass .pw (.p12pass | b64dec) }}", values) == chain["leaf_pem"] + chain["root_pem"]
    with pytest.raises(TemplateError, match="function 'pkcs12keyPass' failed") as err:
        r('{{ .p12pass | b64dec | pkcs12keyPass "wrong" }}', values)
    assert "pfx-pw" not in str(err.value)


def test_pem_to_pkcs12_and_back(chain: dict[str, Any]) -> None:
    values = {"crt": chain["leaf_pem"] + chain["root_pem"], "key": chain["key_pem"], "pw": "out-pw"}
    plain = base64.b64decode(r("{{ pemToPkcs12 .crt .key }}", values))
    loaded = pkcs12.load_pkcs12(plain, None)
    assert loaded.cert is not None and loaded.cert.certificate == chain["leaf"] and not loaded.additional_certs
    full = pkcs12.load_pkcs12(base64.b64decode(r("{{ fullPemToPkcs12Pass .crt .key .pw }}", values)), b"out-pw")
    assert [c.certificate for c in full.additional_certs] == [chain["root"]]
    assert r("{{ fullPemToPkcs12 .crt .key | b64dec | pkcs12cert }}", values) == values["crt"]


def test_filter_pem_and_cert_chain(chain: dict[str, Any]) -> None:
    bundle = chain["key_pem"] + chain["leaf_pem"] + "junk between blocks\n" + chain["root_pem"]
    values = {"bundle": bundle}
    assert r('{{ .bundle | filterPEM "CERTIFICATE" }}', values) == chain["leaf_pem"] + chain["root_pem"]
    assert r('{{ .bundle | filterPEM "PRIVATE KEY" }}', values) == chain["key_pem"]
    certs = {"certs": chain["leaf_pem"] + chain["root_pem"]}
    assert r('{{ .certs | filterCertChain "leaf" }}', certs) == chain["leaf_pem"]
    assert r('{{ .certs | filterCertChain "root" }}', certs) == chain["root_pem"]
    assert r('{{ .certs | filterCertChain "intermediate" }}', certs) == ""
    with pytest.raises(TemplateError, match="function 'filterCertChain' failed"):
        r('{{ .certs | filterCertChain "middle" }}', certs)


def _b64url(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwks() -> list[tuple[dict[str, str], Any]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = rsa_key.private_numbers()
    rsa_jwk = {"kty": "RSA", "n": _b64url(n.public_numbers.n), "e": _b64url(n.public_numbers.e), "d": _b64url(n.d),
               "p": _b64url(n.p), "q": _b64url(n.q), "dp": _b64url(n.dmp1), "dq": _b64url(n.dmq1), "qi": _b64url(n.iqmp)}
    ec_key = ec.generate_private_key(ec.SECP256R1())
    e = ec_key.private_numbers()
    ec_jwk = {"kty": "EC", "crv": "P-256", "x": _b64url(e.public_numbers.x, 32), "y": _b64url(e.public_numbers.y, 32),
              "d": _b64url(e.private_value, 32)}
    ed_key = ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    ed_jwk = {"kty": "OKP", "crv": "Ed25519",
              "x": base64.urlsafe_b64encode(ed_key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)).rstrip(b"=").decode(),
              "d": base64.urlsafe_b64encode(ed_key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())).rstrip(b"=").decode()}
    return [(rsa_jwk, rsa_key), (ec_jwk, ec_key), (ed_jwk, ed_key)]


def test_jwk_to_pem() -> None:
    for jwk, key in _jwks():
        values = {"jwk": json.dumps(jwk)}
        public = key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        assert r("{{ .jwk | jwkPublicKeyPem }}", values) == public, jwk["kty"]
        assert r("{{ .jwk | jwkPrivateKeyPem }}", values) == key.private_bytes(PEM, PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(TemplateError, match="function 'jwkPublicKeyPem' failed"):
        r("{{ .jwk | jwkPublicKeyPem }}", {"jwk": '{"kty": "oct", "k": "c2VjcmV0"}'})


def test_the_templates_example_renders(chain: dict[str, Any]) -> None:
    import yaml

    from config_manager.k8s.spec.managedsecret import parse_managed_secret
    from config_manager.k8s.write.template.apply import apply_template

    docs = list(yaml.safe_load_all((Path(__file__).resolve().parents[3] / "examples" / "managedsecret-templates.yaml").read_text()))
    configmap, ms = docs
    spec = parse_managed_secret("billing", ms["spec"])
    assert spec.target.template is not None and spec.target.template.sources() == [("ConfigMap", "billing-templates")]
    data = {"username": b"billing", "password": b"p@ss word", "team": b"Billing", "api_key": b"k-1", "api_url": b"https://api",
            "bundle": chain["p12"].encode()}
    out = apply_template(spec.target.template, data, {("ConfigMap", "billing-templates"): configmap["data"]})
    assert out.data["app.ini"].decode() == ("[database]\nurl = postgres://billing:p%40ss+word@db.billing.svc:5432/billing\n"
                                            "; get: a key that was not fetched is empty (.pool would be an error), so default applies\n"
                                            "pool = 10\n")
    assert out.data["API_KEY"] == b"k-1" and out.data["API_URL"] == b"https://api"
    assert out.data["tls.crt"].decode() == chain["leaf_pem"] and out.data["tls.key"].decode() == chain["key_pem"]
    assert json.loads(out.data["config.json"]) == {"user": "billing", "password": "p@ss word"}
    assert out.labels == {"team": "billing"}
    assert out.annotations["billing/user"] == "billing" and len(out.annotations["checksum/password"]) == 64
