"""The library's Vault JWT/OIDC and userpass logins against the real Vault server: a projected
ServiceAccount token of our apiserver (TokenRequest) checked by Vault's jwt auth against the apiserver's
own issuer keys, and a username/password; refusals are AuthenticationError without the credential."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from config_manager.errors import AuthenticationError
from config_manager.k8s.api.client import KubeApi
from config_manager.providers.vault import HashiCorpVaultSecrets, JwtAuth, UserpassAuth
from tests.helpers.vault_server import VaultServer

pytestmark = [pytest.mark.vault]


def _b64int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _pem(jwk: dict[str, Any]) -> str:
    """A JWK (RSA or EC P-256, as the apiserver publishes) as a PEM public key, which Vault's jwt auth takes."""
    if jwk["kty"] == "RSA":
        key: Any = rsa.RSAPublicNumbers(_b64int(jwk["e"]), _b64int(jwk["n"])).public_key()
    else:
        key = ec.EllipticCurvePublicNumbers(_b64int(jwk["x"]), _b64int(jwk["y"]), ec.SECP256R1()).public_key()
    pem: bytes = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def _token(kube: KubeApi, ns: str, sa: str, audience: str) -> str:
    answer = kube.request("create", "POST", "serviceaccounts", kube.path("serviceaccounts", ns, sa, "token"),
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"audiences": [audience], "expirationSeconds": 600}})
    return str(answer["status"]["token"])


def trust_the_apiserver(vault_server: VaultServer, kube: KubeApi, subject: str) -> str:
    """A new jwt auth mount that trusts our apiserver's issuer keys, with a role "app" for ``subject``
    (audience "vault", policy app-read); returns the mount path."""
    admin = vault_server.admin
    mount = f"jwt-{uuid.uuid4().hex[:6]}"
    admin.sys.enable_auth_method("jwt", path=mount)
    issuer = json.loads(kube.get_text("/.well-known/openid-configuration"))["issuer"]
    keys = [_pem(k) for k in json.loads(kube.get_text("/openid/v1/jwks"))["keys"]]
    admin.auth.jwt.configure(jwt_validation_pubkeys=keys, bound_issuer=issuer, path=mount)
    admin.auth.jwt.create_role("app", allowed_redirect_uris=[], role_type="jwt", bound_audiences=["vault"], user_claim="sub",
                               bound_subject=subject, token_policies=["app-read"], token_ttl="10m", path=mount)
    return mount


@pytest.mark.cluster
def test_jwt_login_with_a_service_account_token_checked_against_the_apiserver_keys(
        kube: KubeApi, namespace: str, vault_server: VaultServer) -> None:
    admin = vault_server.admin
    mount = trust_the_apiserver(vault_server, kube, f"system:serviceaccount:{namespace}:app")
    path = f"app/{uuid.uuid4().hex[:8]}"
    admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "via-jwt"}, mount_point="secret")
    for sa in ("app", "other"):
        kube.create("serviceaccounts", namespace, {"metadata": {"name": sa}})

    good = JwtAuth(role="app", jwt=_token(kube, namespace, "app", "vault"), mount_point=mount)
    with HashiCorpVaultSecrets(vault_server.url, auth=good, verify=str(vault_server.ca_file)) as vault:
        assert vault.get(path).value == {"k": "via-jwt"}

    for wrong in (JwtAuth(role="app", jwt=_token(kube, namespace, "other", "vault"), mount_point=mount),  # other subject
                  JwtAuth(role="app", jwt=_token(kube, namespace, "app", "not-vault"), mount_point=mount)):  # other audience
        with HashiCorpVaultSecrets(vault_server.url, auth=wrong, verify=str(vault_server.ca_file)) as vault:
            with pytest.raises(AuthenticationError) as caught:
                vault.get(path)
            assert str(wrong.jwt) not in str(caught.value)


def test_userpass_login_and_a_wrong_password(vault_server: VaultServer, tmp_path: Any) -> None:
    admin = vault_server.admin
    mount = f"userpass-{uuid.uuid4().hex[:6]}"
    admin.sys.enable_auth_method("userpass", path=mount)
    password = "up-" + uuid.uuid4().hex
    admin.auth.userpass.create_or_update_user("svc", password, policies=["app-read"], mount_point=mount)
    path = f"app/{uuid.uuid4().hex[:8]}"
    admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "via-userpass"}, mount_point="secret")

    auth = {"userpass": {"username": "svc", "password": password, "mountPath": mount}}  # as plain configuration
    with HashiCorpVaultSecrets(vault_server.url, auth=auth, verify=str(vault_server.ca_file)) as vault:
        assert vault.get(path).value == {"k": "via-userpass"}
        assert password not in repr(vault)
    wrong = UserpassAuth("svc", "not-" + password, mount_point=mount)
    with HashiCorpVaultSecrets(vault_server.url, auth=wrong, verify=str(vault_server.ca_file)) as vault:
        with pytest.raises(AuthenticationError) as caught:
            vault.get(path)
        assert "not-" + password not in str(caught.value)


def _client_certificate(common_name: str) -> tuple[str, str, str]:
    """(CA PEM, client certificate PEM signed by it, client key PEM), made for the test."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test client CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return (ca.public_bytes(Encoding.PEM).decode(), cert.public_bytes(Encoding.PEM).decode(), key_pem.decode())


def test_tls_certificate_login_and_a_certificate_of_another_ca(vault_server: VaultServer) -> None:
    from config_manager.providers.vault import CertAuth

    admin = vault_server.admin
    mount = f"cert-{uuid.uuid4().hex[:6]}"
    admin.sys.enable_auth_method("cert", path=mount)
    ca_pem, cert_pem, key_pem = _client_certificate("app.example")
    admin.auth.cert.create_ca_certificate_role("app", certificate=ca_pem, token_policies=["app-read"], token_ttl=600, mount_point=mount)
    path = f"app/{uuid.uuid4().hex[:8]}"
    admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "via-cert"}, mount_point="secret")

    good = CertAuth(cert_pem=cert_pem, key_pem=key_pem, role="app", mount_point=mount)
    with HashiCorpVaultSecrets(vault_server.url, auth=good, verify=str(vault_server.ca_file)) as vault:
        assert vault.get(path).value == {"k": "via-cert"}
        assert "PRIVATE KEY" not in repr(vault)
    _, other_cert, other_key = _client_certificate("app.example")  # same name, another CA
    with HashiCorpVaultSecrets(vault_server.url, auth=CertAuth(other_cert, other_key, role="app", mount_point=mount),
                               verify=str(vault_server.ca_file)) as vault:
        with pytest.raises(AuthenticationError) as caught:
            vault.get(path)
        assert "PRIVATE KEY" not in str(caught.value)
