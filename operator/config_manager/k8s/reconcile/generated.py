"""Generated values are made once and kept: a refresh must not hand a workload a new password.

External Secrets generates again at every refresh; we generate a ``dataFrom[].sourceRef.generatorRef``'s
keys only when they are not there yet (first sync, or a Secret that lost them), on a force-sync, or when
asked to (rotation). What was made is kept where it lives anyway, in the target Secret: this process
remembers it in memory (so a hand edit of the Secret is repaired like any drift), and after a restart
it reads the target Secret once (by GET, memoised by resourceVersion) to take the values back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

from ..api.resources import SECRETS
from ..context import Context, GeneratedKey
from ..spec.generators import GeneratorSpec, parse_generator
from ..spec.managedsecret import GeneratorRef, InvalidSpecError
from .base import TemporaryError


def generator_spec(ctx: Context, namespace: str, ref: GeneratorRef, field: str) -> GeneratorSpec:
    """The generator object named by ``ref`` in ``namespace``, from the watch cache, parsed."""
    with ctx.cache.lock:
        body = ctx.cache.generators.get((ref.kind, namespace, ref.name))
    if body is None:
        raise TemporaryError("GeneratorNotFound", f"{field}: {ref.kind} {ref.name!r} not found in namespace {namespace!r}", 30.0)
    try:
        return parse_generator(ref.kind, body)
    except InvalidSpecError as exc:
        raise InvalidSpecError(field, str(exc)) from None


def _secret_text(ctx: Context, namespace: str, name: str) -> dict[str, str] | None:
    """The target Secret's values as text (memoised by resourceVersion), or None when it is absent."""
    info = ctx.cache.get_object("Secret", namespace, name)
    if info is None:
        return None
    memo = ctx.sources.get(namespace, "Secret", name, info.resource_version)
    if memo is not None:
        return memo
    body = ctx.api.get(SECRETS, namespace, name)
    if body is None:
        return None
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("data") or {}).items()}
    ctx.sources.put(namespace, "Secret", name, str(body["metadata"].get("resourceVersion")), data)
    return data


def kept_or_new(ctx: Context, namespace: str, name: str, target: str, index: int, ref: GeneratorRef,
                final_keys: Callable[[Mapping[str, str]], dict[str, str]], *, regenerate: bool) -> dict[str, bytes]:
    """The generator's keys for ``spec.dataFrom[index]``: kept ones, or newly made ones.

    ``final_keys`` maps each generated key to the Secret key it becomes (the entry's rewrites), so the
    values can be found in the target Secret after a restart."""
    field = f"spec.dataFrom[{index}].sourceRef.generatorRef"
    spec = generator_spec(ctx, namespace, ref, field)
    memo = ctx.generated
    key: GeneratedKey = (namespace, name, index, ref.kind, ref.name)
    values = None if regenerate else memo.get(key)
    if values is None and not regenerate:
        current = None
        info = ctx.cache.get_object("Secret", namespace, target)
        names = final_keys({k: k for k in spec.keys})
        if info is not None and all(final in info.keys for final in names.values()):
            current = _secret_text(ctx, namespace, target)
        if current is not None and all(final in current for final in names.values()):
            values = {raw: current[final] for raw, final in names.items()}
    if values is None:
        values = spec.generate()
    memo.put(key, values)
    return {k: v.encode() for k, v in values.items()}
