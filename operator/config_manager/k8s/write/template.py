"""Target templates: ``{{ .key }}`` placeholders with a few filters, rendered without evaluating code.

A deliberately small subset of the Go templates External Secrets uses: enough to build connection
strings and config files from fetched keys, with no way to run code or read anything but the fetched
values. Errors name the template key and the placeholder, never a value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping

from ..spec.managedsecret import InvalidSpecError

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_REF = re.compile(r"^\.([A-Za-z0-9_.-]+)$|^index\s+\.\s+\"([^\"]+)\"$")


def _b64dec(s: str) -> str:
    return base64.b64decode(s.encode()).decode()


FILTERS: dict[str, Callable[[str], str]] = {
    "b64enc": lambda s: base64.b64encode(s.encode()).decode(),
    "b64dec": _b64dec,
    "upper": str.upper,
    "lower": str.lower,
    "trim": str.strip,
    "quote": lambda s: json.dumps(s),
}


def render(template: str, values: Mapping[str, str], *, field: str) -> str:
    """Replace each ``{{ .name | filter | ... }}`` in ``template`` with the filtered value of ``name``."""

    def substitute(match: re.Match[str]) -> str:
        parts = [p.strip() for p in match.group(1).split("|")]
        ref = _REF.match(parts[0])
        if not ref:
            raise InvalidSpecError(field, f"unsupported placeholder {{{{ {parts[0]} }}}} (use {{{{ .key }}}})")
        name = ref.group(1) or ref.group(2)
        if name not in values:
            raise InvalidSpecError(field, f"refers to {name!r}, which was not fetched")
        result = values[name]
        for flt in parts[1:]:
            fn = FILTERS.get(flt)
            if fn is None:
                raise InvalidSpecError(field, f"unknown filter {flt!r}; known: {', '.join(sorted(FILTERS))}")
            try:
                result = fn(result)
            except (ValueError, UnicodeDecodeError):
                raise InvalidSpecError(field, f"filter {flt!r} failed on {name!r}") from None
        return result

    return _PLACEHOLDER.sub(substitute, template)


def render_all(templates: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """Render every template; errors name ``spec.target.template.data[<key>]``."""
    return {
        key: render(text, values, field=f"spec.target.template.data[{key}]") for key, text in templates.items()
    }
