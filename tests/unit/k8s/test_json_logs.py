"""``--log-format json`` / ``--log-level``: one JSON object per record, even for quotes, non-ASCII text,
tracebacks and kopf's per-object records, with known secret values masked before formatting."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from config_manager.k8s.logs import REDACTOR, setup_logging


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    touched = {name: logging.getLogger(name).level for name in ("kopf.objects", "urllib3", "kubernetes", "asyncio", "aiohttp")}
    stream = io.StringIO()
    setup_logging("debug", json_format=True)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in touched.items():
            logging.getLogger(name).setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_level_logger_message(captured: io.StringIO) -> None:
    log = logging.getLogger("config_manager.k8s.test")
    log.info("it's a \"quoted\" %s", "wért")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed\non two lines")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    first, second = records(captured)
    assert first["level"] == "INFO" and first["logger"] == "config_manager.k8s.test"
    assert first["message"] == "it's a \"quoted\" wért"
    assert second["level"] == "ERROR" and "RuntimeError: boom" in str(second["exception"])
    assert "object" not in first


def test_kopf_object_reference_is_reported(captured: io.StringIO) -> None:
    ref = {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret", "name": "db", "namespace": "team-a", "uid": "u"}
    logging.getLogger("kopf.objects").warning("Handler failed", extra={"k8s_ref": ref, "k8s_skip": False})
    (entry,) = records(captured)
    assert entry["object"] == {"kind": "ManagedSecret", "namespace": "team-a", "name": "db"}


def test_known_values_are_masked_in_message_and_traceback(captured: io.StringIO) -> None:
    value = "s3cr3t-value-for-json-test"
    REDACTOR.add(value)
    log = logging.getLogger("config_manager.k8s.test")
    try:
        raise ValueError(f"bad {value}")
    except ValueError:
        log.exception("saw %s", value)
    assert value not in captured.getvalue()


def test_log_level_is_applied(captured: io.StringIO) -> None:
    setup_logging("warning", json_format=True)
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger("kopf.objects").level == logging.WARNING
