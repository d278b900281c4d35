"""Target templates: the Go-template syntax External Secrets users write, run in Jinja2's sandbox.

``golang`` turns a Go template (``{{ .key | b64enc }}``, ``{{ range $k, $v := . }}``, Sprig calls) into
Jinja source that contains no user text at all: every literal and every piece of plain text becomes an
index into a constants tuple, every function a name from our table (``functions``, ``certs``), every field
access a call of our lookup. ``sandbox`` compiles that in a ``SandboxedEnvironment`` with no globals but
ours, renders under a budget (output size, loop iterations, bytes the functions touch) and maps every
failure to ``TemplateError``, which names the template key and the function, never a value. ``apply``
builds a Secret's data, labels and annotations from ``spec.target.template`` (``data``, ``metadata``,
``templateFrom``, ``mergePolicy``).

Importing this package needs only the standard library; jinja2 (the ``operator`` extra) is imported when
the first template is compiled, so ``configmanager migrate`` can read the function table without it.
"""

from __future__ import annotations

from .errors import TemplateError
from .sandbox import render, render_all

__all__ = ["TemplateError", "render", "render_all"]
