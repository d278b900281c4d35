"""``configmanager migrate eso``: External Secrets Operator manifests converted to ours, or told why not.

Why it exists: teams move over with a Git repository full of ESO manifests. Most fields carry over by
name (our API follows ESO's where the concept is the same), but a silent half-conversion is worse than
none: a store that admits more namespaces than before, a template function dropped, a policy we lack.
So every field is either converted, dropped because its value is ESO's default and means what ours
does (listed as a note), or reported as a problem naming the object and the field; an object with a
problem is not written out. Documents that are not ESO's pass through unchanged.

    configmanager migrate eso -f FILE|-  [--admit-all-namespaces]

Output: the converted YAML stream on stdout; notes and problems on stderr. Exit codes: 0 everything
converted, 1 some objects could not be converted (the others are written), 2 the input is not YAML.
Values are never read: ESO manifests hold references, and so do ours.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..k8s.write.template.functions import FUNCTIONS, LACKING
from ..k8s.write.template.golang import translate
from ..k8s.write.template.lexer import Action, SyntaxProblem, split
from .errors import FAILED, USAGE, CliError

ESO_GROUP = "external-secrets.io"
OURS = "configmanager.io/v1alpha1"
#: Our minimum refresh intervals (the CRDs' rules): ManagedSecret, store re-validation.
MIN_REFRESH_SECONDS = 5.0
MIN_STORE_REFRESH_SECONDS = 10.0
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class Report:
    """What happened to one document."""

    where: str
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def note(self, path: str, text: str) -> None:
        self.notes.append(f"{self.where}: {path}: {text}")

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{self.where}: {path}: {text}")


class Fields:
    """Read a mapping field by field; whatever is left unread at the end is reported as not convertible."""

    def __init__(self, value: Any, path: str, report: Report) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            report.problem(path, f"expected an object, got {type(value).__name__}")
            value = {}
        self.left = dict(value)
        self.path = path
        self.report = report

    def take(self, name: str) -> Any:
        return self.left.pop(name, None)

    def default(self, name: str, *defaults: Any) -> None:
        """ESO's default value means what ours does: dropped with a note; any other value is a problem."""
        if name in self.left:
            value = self.left.pop(name)
            if value in defaults:
                self.report.note(f"{self.path}.{name}", f"{value!r} is the behaviour here too; dropped")
            else:
                self.report.problem(f"{self.path}.{name}", f"{value!r} is not available (only {defaults[0]!r})")

    def done(self, reasons: Mapping[str, str] | None = None) -> None:
        for name in self.left:
            why = (reasons or {}).get(name, "not available in config-manager")
            self.report.problem(f"{self.path}.{name}", why)


def _copy_keys(src: Fields, dst: dict[str, Any], *names: str) -> None:
    for name in names:
        value = src.take(name)
        if value is not None:
            dst[name] = value


def _seconds(text: str) -> float | None:
    if text == "0":
        return 0.0
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text))


# ------------------------------------------------------------------------------------------------ stores


def _reference(value: Any, path: str, report: Report, *, keys: tuple[str, ...], cluster: bool,
               store_ns: str | None) -> dict[str, Any]:
    """A reference to an object (Secret key, CA, ServiceAccount); ``namespace`` only where ours has it
    (ClusterSecretStore): in a SecretStore the store's own namespace is dropped, another is refused."""
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, *keys)
    ns = f.take("namespace")
    if ns is not None:
        if cluster:
            out["namespace"] = ns
        elif ns == store_ns:
            report.note(f"{path}.namespace", "the store's own namespace; dropped (a SecretStore reads only its own)")
        else:
            report.problem(f"{path}.namespace", f"a SecretStore never reads another namespace ({ns!r}); use a ClusterSecretStore")
    f.done()
    return out


def _selector(value: Any, path: str, report: Report, *, cluster: bool, store_ns: str | None) -> dict[str, Any]:
    """A Secret key selector."""
    return _reference(value, path, report, keys=("name", "key"), cluster=cluster, store_ns=store_ns)


def _service_account(value: Any, path: str, report: Report, *, cluster: bool, store_ns: str | None) -> dict[str, Any]:
    return _reference(value, path, report, keys=("name", "audiences"), cluster=cluster, store_ns=store_ns)


def _vault(value: Any, path: str, report: Report, cluster: bool, store_ns: str | None) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, "server", "path", "version", "namespace", "caBundle")
    ca = f.take("caProvider")
    if ca is not None:
        out["caProvider"] = _reference(ca, f"{path}.caProvider", report, keys=("type", "name", "key"),
                                       cluster=cluster, store_ns=store_ns)
    auth = Fields(f.take("auth"), f"{path}.auth", report)
    out["auth"] = {}
    token = auth.take("tokenSecretRef")
    if token is not None:
        out["auth"]["tokenSecretRef"] = _selector(token, f"{path}.auth.tokenSecretRef", report, cluster=cluster, store_ns=store_ns)
    approle = auth.take("appRole")
    if approle is not None:
        af = Fields(approle, f"{path}.auth.appRole", report)
        role: dict[str, Any] = {}
        _copy_keys(af, role, "path", "roleId")
        secret_ref = af.take("secretRef")
        if secret_ref is not None:
            role["secretRef"] = _selector(secret_ref, f"{path}.auth.appRole.secretRef", report, cluster=cluster, store_ns=store_ns)
        af.done({"roleRef": "a roleId read from a Secret is not available; give roleId itself"})
        out["auth"]["appRole"] = role
    kube = auth.take("kubernetes")
    if kube is not None:
        kf = Fields(kube, f"{path}.auth.kubernetes", report)
        k8s: dict[str, Any] = {}
        _copy_keys(kf, k8s, "mountPath", "role")
        sa = kf.take("serviceAccountRef")
        if sa is None:
            report.problem(f"{path}.auth.kubernetes.serviceAccountRef",
                           "required here: ESO falls back to its own ServiceAccount, config-manager never lends its own identity")
        else:
            k8s["serviceAccountRef"] = _service_account(sa, f"{path}.auth.kubernetes.serviceAccountRef", report,
                                                        cluster=cluster, store_ns=store_ns)
        kf.done({"secretRef": "a long-lived ServiceAccount token Secret is not used; the operator requests a short-lived token (serviceAccountRef)"})
        out["auth"]["kubernetes"] = k8s
    jwt = auth.take("jwt")
    if jwt is not None:
        out["auth"]["jwt"] = _vault_jwt(jwt, f"{path}.auth.jwt", report, cluster, store_ns)
    userpass = auth.take("userPass")
    if userpass is not None:
        uf = Fields(userpass, f"{path}.auth.userPass", report)
        user: dict[str, Any] = {}
        _copy_keys(uf, user, "path", "username")
        secret_ref = uf.take("secretRef")
        if secret_ref is not None:
            user["secretRef"] = _selector(secret_ref, f"{path}.auth.userPass.secretRef", report, cluster=cluster, store_ns=store_ns)
        uf.done()
        out["auth"]["userPass"] = user
    cert = auth.take("cert")
    if cert is not None:
        cf = Fields(cert, f"{path}.auth.cert", report)
        out["auth"]["cert"] = {}
        _copy_keys(cf, out["auth"]["cert"], "path")
        for name in ("clientCert", "secretRef"):
            ref = cf.take(name)
            if ref is not None:
                out["auth"]["cert"][name] = _selector(ref, f"{path}.auth.cert.{name}", report, cluster=cluster, store_ns=store_ns)
        cf.done()
    auth.done({m: f"Vault auth method {m!r} is not available (token, appRole, kubernetes, jwt, userPass, cert are)"
               for m in ("ldap", "iam", "gcp", "namespace")})
    f.default("readYourWrites", False)
    f.default("forwardInconsistent", False)
    f.done()
    return out


def _vault_jwt(value: Any, path: str, report: Report, cluster: bool, store_ns: str | None) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, "path", "role")
    secret_ref = f.take("secretRef")
    if secret_ref is not None:
        out["secretRef"] = _selector(secret_ref, f"{path}.secretRef", report, cluster=cluster, store_ns=store_ns)
    token = f.take("kubernetesServiceAccountToken")
    if token is not None:
        tf = Fields(token, f"{path}.kubernetesServiceAccountToken", report)
        sa = _service_account(tf.take("serviceAccountRef"), f"{path}.kubernetesServiceAccountToken.serviceAccountRef", report,
                              cluster=cluster, store_ns=store_ns)
        audiences = tf.take("audiences")
        if audiences is not None:  # ESO's audiences beside the reference win over the reference's own
            sa["audiences"] = audiences
        if tf.take("expirationSeconds") is not None:
            report.note(f"{path}.kubernetesServiceAccountToken.expirationSeconds", "tokens last 1h here and are renewed; dropped")
        tf.done()
        out["kubernetesServiceAccountToken"] = {"serviceAccountRef": sa}
    f.done()
    return out


def _azure(value: Any, path: str, report: Report, cluster: bool, store_ns: str | None) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, "vaultUrl", "tenantId", "authType", "identityId", "environmentType", "customCloudConfig")
    secrets = f.take("authSecretRef")
    if secrets is not None:
        sf = Fields(secrets, f"{path}.authSecretRef", report)
        out["authSecretRef"] = {}
        for name in ("clientId", "clientSecret"):
            ref = sf.take(name)
            if ref is not None:
                out["authSecretRef"][name] = _selector(ref, f"{path}.authSecretRef.{name}", report, cluster=cluster, store_ns=store_ns)
        sf.done({"clientCertificate": "certificate credentials are not available (client secret only)"})
    sa = f.take("serviceAccountRef")
    if sa is not None:
        out["serviceAccountRef"] = _service_account(sa, f"{path}.serviceAccountRef", report, cluster=cluster, store_ns=store_ns)
    if out.get("authType", "ServicePrincipal") == "WorkloadIdentity" and not out.get("identityId"):
        report.problem(f"{path}.identityId", "WorkloadIdentity needs the application's client id here "
                       "(ESO can read it from the ServiceAccount's annotation)")
    f.done()
    return out


PROVIDERS: dict[str, tuple[str, Callable[[Any, str, Report, bool, str | None], dict[str, Any]]]] = {
    "vault": ("vault", _vault),
    "azurekv": ("azure", _azure),
}


def convert_store(doc: Mapping[str, Any], report: Report, *, admit_all: bool) -> dict[str, Any]:
    cluster = doc.get("kind") == "ClusterSecretStore"
    meta = dict(doc.get("metadata") or {})
    spec = Fields(doc.get("spec"), "spec", report)
    out_spec: dict[str, Any] = {}
    provider = Fields(spec.take("provider"), "spec.provider", report)
    for eso_name in list(provider.left):
        if eso_name in PROVIDERS:
            ours, convert = PROVIDERS[eso_name]
            out_spec["provider"] = {ours: convert(provider.take(eso_name), f"spec.provider.{eso_name}", report, cluster, meta.get("namespace"))}
    provider.done({name: f"provider {name!r} is not available (vault, azurekv are; or use our local store)" for name in provider.left})
    if "provider" not in out_spec and not report.problems:
        report.problem("spec.provider", "no provider set")
    interval = spec.take("refreshInterval")
    if interval is not None:  # ESO: whole seconds; ours: a duration of at least 10s, or "0"
        text = f"{int(interval)}s" if str(interval).isdigit() else str(interval)
        seconds = _seconds(text)
        if seconds is None or 0 < seconds < MIN_STORE_REFRESH_SECONDS:
            report.problem("spec.refreshInterval", f"{interval!r}: a store is re-validated at most every {MIN_STORE_REFRESH_SECONDS:g}s here")
        out_spec["refreshInterval"] = "0" if seconds == 0 else text
    conditions = spec.take("conditions")
    if cluster:
        if conditions:
            out_spec["conditions"] = conditions
        elif admit_all:
            out_spec["conditions"] = [{"namespaceSelector": {}}]
            report.note("spec.conditions", "none in ESO (every namespace); written as namespaceSelector {} (--admit-all-namespaces)")
        else:
            report.problem("spec.conditions", "ESO admits every namespace when there are none; config-manager requires them: "
                           "add conditions, or pass --admit-all-namespaces to say so explicitly")
    elif conditions is not None:
        report.problem("spec.conditions", "only a ClusterSecretStore has conditions")
    spec.default("controller", "", None)
    if spec.take("retrySettings") is not None:
        report.note("spec.retrySettings", "retries are bounded and shared per store here; dropped")
    spec.done()
    return {"apiVersion": OURS, "kind": doc["kind"], "metadata": meta, "spec": out_spec}


# ----------------------------------------------------------------------------------------- ExternalSecret


#: Words of the Go template grammar that are not functions.
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue", "and", "or", "define", "template", "block"})


def check_template(text: str, path: str, report: Report) -> None:
    """Report, by name, each function of an ESO template our engine lacks, then any syntax it cannot read."""
    try:
        pieces = split(text)
    except SyntaxProblem as exc:
        report.problem(path, f"template cannot be read: {exc}")
        return
    lacking = sorted({t.text for p in pieces if isinstance(p, Action) for t in p.tokens
                      if t.kind == "ident" and t.text not in _KEYWORDS and t.text not in FUNCTIONS})
    for name in lacking:
        report.problem(path, f"template function {name!r} is not available ({LACKING.get(name, 'not in our function table')})")
    if lacking:
        return
    try:
        translate(text)
    except SyntaxProblem as exc:
        report.problem(path, f"template is not supported: {exc}")


def _template_from(value: Any, path: str, report: Report) -> list[Any]:
    """templateFrom: the same fields here; literal templates are checked, ConfigMap / Secret ones cannot be."""
    out: list[Any] = []
    for i, entry in enumerate(value if isinstance(value, list) else []):
        where = f"{path}[{i}]"
        if isinstance(entry, Mapping) and entry.get("literal") is not None:
            check_template(str(entry["literal"]), f"{where}.literal", report)
        elif isinstance(entry, Mapping) and (entry.get("configMap") or entry.get("secret")):
            report.note(where, "the templates in the referenced object are not checked here; they must be in the same namespace")
        out.append(entry)
    if not isinstance(value, list):
        report.problem(path, "expected a list")
    return out


def _remote(value: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, "key", "property", "version")
    f.default("conversionStrategy", "Default")
    f.default("decodingStrategy", "None")
    f.default("metadataPolicy", "None")
    f.done()
    return out


def _template(value: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    _copy_keys(f, out, "type", "mergePolicy", "metadata")
    data = f.take("data")
    if data is not None:
        out["data"] = data
        for key, text in (data or {}).items():
            check_template(str(text), f"{path}.data.{key}", report)
    meta = out.get("metadata") if isinstance(out.get("metadata"), Mapping) else {}
    for kind in ("labels", "annotations"):
        for key, text in ((meta or {}).get(kind) or {}).items():
            check_template(str(text), f"{path}.metadata.{kind}.{key}", report)
    template_from = f.take("templateFrom")
    if template_from is not None:
        out["templateFrom"] = _template_from(template_from, f"{path}.templateFrom", report)
    f.default("engineVersion", "v2")
    f.done()
    return out


def _strategies(src: Fields, dst: dict[str, Any]) -> None:
    """conversionStrategy / decodingStrategy of a dataFrom extract or find (the same values here)."""
    for name, allowed in (("conversionStrategy", ("Default", "Unicode")), ("decodingStrategy", ("None", "Base64", "Base64URL", "Auto"))):
        value = src.take(name)
        if value is None:
            continue
        if value in allowed:
            dst[name] = value
        else:
            src.report.problem(f"{src.path}.{name}", f"{value!r} is not available ({', '.join(allowed)})")


def _find(value: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    name = Fields(f.take("name"), f"{path}.name", report)
    regexp = name.take("regexp")
    if regexp is not None:
        out["name"] = {"regexp": regexp}
    name.done()
    _copy_keys(f, out, "tags", "path")
    _strategies(f, out)
    f.done()
    return out


def _rewrite(value: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    regexp = f.take("regexp")
    if regexp is not None:
        rx = Fields(regexp, f"{path}.regexp", report)
        out["regexp"] = {}
        _copy_keys(rx, out["regexp"], "source", "target")
        rx.done()
    transform = f.take("transform")
    if transform is not None:
        tf = Fields(transform, f"{path}.transform", report)
        template = tf.take("template")
        out["transform"] = {"template": template}
        check_template(str(template), f"{path}.transform.template", report)
        tf.done()
    f.done({"merge": "rewrite.merge is not available (regexp and transform are)"})
    return out


def _generator_ref(value: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(value, path, report)
    out: dict[str, Any] = {}
    f.take("apiVersion")  # ours is configmanager.io/v1alpha1, the generator's kind says the rest
    kind = f.take("kind")
    if kind in GENERATOR_KINDS:
        out["kind"] = kind
    else:
        report.problem(f"{path}.kind", f"generator {kind!r} is not available ({', '.join(GENERATOR_KINDS)} are)")
    _copy_keys(f, out, "name")
    f.done()
    return out


def _data_from(item: Any, path: str, report: Report) -> dict[str, Any]:
    f = Fields(item, path, report)
    out: dict[str, Any] = {}
    extract = f.take("extract")
    if extract is not None:
        ef = Fields(extract, f"{path}.extract", report)
        out["extract"] = {}
        _copy_keys(ef, out["extract"], "key", "property", "version")
        _strategies(ef, out["extract"])
        ef.default("metadataPolicy", "None")
        ef.done()
    find = f.take("find")
    if find is not None:
        out["find"] = _find(find, f"{path}.find", report)
    source = f.take("sourceRef")
    if source is not None:
        sf = Fields(source, f"{path}.sourceRef", report)
        generator = sf.take("generatorRef")
        if generator is not None:
            out["sourceRef"] = {"generatorRef": _generator_ref(generator, f"{path}.sourceRef.generatorRef", report)}
        sf.done({"storeRef": "a store per dataFrom entry is not available (one spec.storeRef per ManagedSecret)"})
    rewrite = f.take("rewrite")
    if rewrite is not None:
        out["rewrite"] = [_rewrite(step, f"{path}.rewrite[{j}]", report) for j, step in enumerate(rewrite or [])]
    f.done()
    return out


#: ESO generator kinds we have, and the spec fields each carries over unchanged.
GENERATOR_FIELDS: dict[str, tuple[str, ...]] = {
    "Password": ("length", "digits", "symbols", "symbolCharacters", "noUpper", "allowRepeat"),
    "SSHKey": ("keyType", "keySize", "comment"),
    "UUID": (),
}
GENERATOR_KINDS = tuple(GENERATOR_FIELDS)


def convert_generator(doc: Mapping[str, Any], report: Report) -> dict[str, Any]:
    """A generators.external-secrets.io Password / SSHKey / UUID as our generator of the same kind."""
    kind = str(doc.get("kind"))
    spec = Fields(doc.get("spec"), "spec", report)
    out: dict[str, Any] = {}
    _copy_keys(spec, out, *GENERATOR_FIELDS[kind])
    spec.done({"encoding": "encoding is not available (the value is written as text)",
               "secretKeys": "secretKeys is not available (the keys are named as External Secrets names them by default)"})
    return {"apiVersion": OURS, "kind": kind, "metadata": dict(doc.get("metadata") or {}), "spec": out}


def convert_external_secret(doc: Mapping[str, Any], report: Report) -> dict[str, Any]:
    spec = Fields(doc.get("spec"), "spec", report)
    out: dict[str, Any] = {}
    ref = Fields(spec.take("secretStoreRef"), "spec.secretStoreRef", report)
    out["storeRef"] = {}
    _copy_keys(ref, out["storeRef"], "name", "kind")
    ref.done()
    interval = spec.take("refreshInterval")
    if interval is not None:
        seconds = _seconds(str(interval))
        if seconds is None:
            report.problem("spec.refreshInterval", f"{interval!r} is not a duration")
        elif 0 < seconds < MIN_REFRESH_SECONDS:
            report.problem("spec.refreshInterval", f"{interval!r} is below the minimum of {MIN_REFRESH_SECONDS:g}s here")
        out["refreshInterval"] = str(interval)
    policy = spec.take("refreshPolicy")
    if policy is not None:
        if policy in ("Periodic", "OnChange", "CreatedOnce"):
            out["refreshPolicy"] = policy
        else:
            report.problem("spec.refreshPolicy", f"{policy!r} is not available (Periodic, OnChange, CreatedOnce)")
    target = Fields(spec.take("target"), "spec.target", report)
    out_target: dict[str, Any] = {}
    _copy_keys(target, out_target, "name", "immutable")
    creation = target.take("creationPolicy")
    if creation is not None:
        if creation in ("Owner", "Merge", "Orphan"):
            out_target["creationPolicy"] = creation
        else:
            report.problem("spec.target.creationPolicy", f"{creation!r} is not available (Owner, Merge, Orphan)")
    deletion = target.take("deletionPolicy")
    if deletion is not None:
        if deletion in ("Delete", "Retain"):
            out_target["deletionPolicy"] = deletion
        else:
            report.problem("spec.target.deletionPolicy", f"{deletion!r} is not available (Delete, Retain)")
    template = target.take("template")
    if template is not None:
        out_target["template"] = _template(template, "spec.target.template", report)
    target.done()
    if out_target:
        out["target"] = out_target
    data = spec.take("data")
    if data is not None:
        out["data"] = []
        for i, item in enumerate(data or []):
            f = Fields(item, f"spec.data[{i}]", report)
            entry: dict[str, Any] = {"secretKey": f.take("secretKey"), "remoteRef": _remote(f.take("remoteRef"), f"spec.data[{i}].remoteRef", report)}
            f.done({"sourceRef": "sourceRef (generators, other stores per key) is not available"})
            out["data"].append(entry)
    data_from = spec.take("dataFrom")
    if data_from is not None:
        out["dataFrom"] = [_data_from(item, f"spec.dataFrom[{i}]", report) for i, item in enumerate(data_from or [])]
    if not out["storeRef"].get("name"):
        report.problem("spec.secretStoreRef", "a ManagedSecret needs a store, even when every source is a generator; add secretStoreRef")
    spec.done()
    meta = dict(doc.get("metadata") or {})
    return {"apiVersion": OURS, "kind": "ManagedSecret", "metadata": meta, "spec": out}


NOT_AVAILABLE = {
    "ClusterExternalSecret": "not available yet: create one ManagedSecret per namespace",
    "PushSecret": "not available yet",
}


def convert(doc: Any, *, admit_all: bool = False) -> tuple[Any, Report]:
    """One document: (the converted document, or None when it has problems; the report)."""
    api_version = str(doc.get("apiVersion", "")) if isinstance(doc, Mapping) else ""
    if not isinstance(doc, Mapping) or not api_version.startswith((f"{ESO_GROUP}/", f"generators.{ESO_GROUP}/")):
        return doc, Report("(not an External Secrets document)")
    kind = str(doc.get("kind", ""))
    meta = doc.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    where = f"{kind} {namespace}{meta.get('name', '?')}"
    report = Report(where)
    meta = dict(meta)
    for noisy in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"):
        meta.pop(noisy, None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    doc = {**doc, "metadata": meta}
    if kind in ("SecretStore", "ClusterSecretStore"):
        out = convert_store(doc, report, admit_all=admit_all)
    elif kind == "ExternalSecret":
        out = convert_external_secret(doc, report)
    elif kind in GENERATOR_FIELDS and api_version.startswith(f"generators.{ESO_GROUP}/"):
        out = convert_generator(doc, report)
    else:
        report.problem("kind", NOT_AVAILABLE.get(kind, "not available in config-manager"))
        out = None
    return (None if report.problems else out), report


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise CliError(f"{args.file}: not YAML ({type(exc).__name__} at {getattr(exc, 'problem_mark', '?')})", USAGE) from None
    converted: list[Any] = []
    failed = 0
    for doc in docs:
        out, report = convert(doc, admit_all=args.admit_all_namespaces)
        for line in report.notes:
            print(f"note: {line}", file=sys.stderr)
        for line in report.problems:
            print(f"cannot convert: {line}", file=sys.stderr)
        if out is None:
            failed += 1
        else:
            converted.append(out)
    if converted:
        sys.stdout.write(yaml.safe_dump_all(converted, sort_keys=False, default_flow_style=False))
    print(f"migrate: {len(converted)} of {len(docs)} documents written, {failed} not converted", file=sys.stderr)
    return FAILED if failed else 0


def register(subparsers: Any) -> None:
    mig = subparsers.add_parser("migrate", help="convert manifests of another operator to config-manager's")
    which = mig.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = which.add_parser("eso", help="External Secrets Operator: SecretStore, ClusterSecretStore, ExternalSecret",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--file", required=True, help="a YAML file of ESO manifests, or - for stdin")
    p.add_argument("--admit-all-namespaces", action="store_true",
                   help="a ClusterSecretStore without conditions admits every namespace (as in ESO), written explicitly")
    p.set_defaults(func=run)
