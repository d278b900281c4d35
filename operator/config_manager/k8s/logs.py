"""Logging for the operator: every handler masks known secret values and drops kopf's object bodies.

kopf's DEBUG logs print whole bodies and patches ("... is in progress: {body!r}", "Patching with: ...");
``BodyRedactingFilter`` rewrites those records on every kopf logger. ``REDACTOR`` holds the values the
operator has fetched; any log line containing one is masked (defence in depth). ``--log-format json``
writes one JSON object per line (``JsonFormatter``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from .. import masking

#: Values the operator has fetched; any log line containing one is masked (defence in depth).
REDACTOR = masking.SecretRedactor()

_BODY_PATTERNS = re.compile(
    r"(is in progress: |diff: |Patching the resource with: |Patching the status with: |patching the resource with: |"
    r"patching the status with: |Merge-patching the resource with: |Merge-patching the status with: |"
    r"JSON-patching the resource with: |JSON-patching the status with: )(.*)$",
    re.DOTALL,
)


class BodyRedactingFilter(logging.Filter):
    """Drops object bodies, diffs and patches from kopf log records (they may hold secret values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is dropped rather than risked
            return False
        match = _BODY_PATTERNS.search(message)
        if match:
            record.msg = message[: match.start(2)] + "<redacted>"
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the object kopf names, exception text.

    kopf's per-object loggers attach ``k8s_ref`` (kind, namespace, name, ...) to their records; it is
    reported as ``object`` (our modules may pass the same ``extra={"k8s_ref": {...}}``). The redaction
    filters run on the handler before this formatter, so message and exception text are masked.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            entry["object"] = {k: ref[k] for k in ("kind", "namespace", "name") if ref.get(k)}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Root logging with the redaction filters on every handler (kopf's loggers included)."""
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(BodyRedactingFilter())
    for extra in _library_filters():
        handler.addFilter(extra)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "kubernetes", "asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # kopf logs "Handler ... succeeded" at INFO for every watch event of every Secret: keep that for DEBUG.
    if root.level > logging.DEBUG:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def _library_filters() -> list[logging.Filter]:
    """The package-wide filter that masks known secret values (the operator feeds ``REDACTOR``)."""
    return [masking.SecretMaskingFilter(REDACTOR)]
