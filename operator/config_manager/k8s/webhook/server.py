"""The receiver: one aiohttp application on its own port (``--webhook-address``), TLS optional.

A POST to ``/events`` is checked in this order, each refusal cheap and value-free:

1. size: more than ``--webhook-max-body`` bytes -> 413 (the body is never read past the limit);
2. authentication: ``Authorization: Bearer <token>`` or ``X-Signature-256: sha256=<hmac>`` -> 401 / 403;
3. content type: JSON (``application/json``, CloudEvents' ``+json`` types) -> else 415;
4. rate limit (authenticated requests only: refusing the others is cheaper than counting them) -> 429;
5. schema (``schemas``) -> 400 naming the field;

then the Event Grid validation handshake is answered, or every change signal is handed to the coalescer
and the answer is 202 with counts. The refresh itself runs when the coalescing window closes
(``targets.ChangeTargets``). Bodies are never logged; a log line names at most a store and a key.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Hashable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from .. import metrics
from ..config import OperatorConfig
from .auth import SIGNATURE_HEADER, Authenticator, SecretFile
from .limits import Coalescer, TokenBucket
from .schemas import SchemaError, StoreChange, VaultChange, parse
from .targets import ChangeTargets

log = logging.getLogger(__name__)
PATH = "/events"
JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")


class Receiver:
    """The webhook application and its state (authenticator, rate limit, coalescer)."""

    def __init__(self, config: OperatorConfig, targets: ChangeTargets) -> None:
        self.config = config
        self.targets = targets
        self.auth = Authenticator(
            token=SecretFile(Path(config.webhook_token_file)) if config.webhook_token_file else None,
            hmac_key=SecretFile(Path(config.webhook_hmac_key_file)) if config.webhook_hmac_key_file else None,
        )
        self.bucket = TokenBucket(config.webhook_rate, max(1.0, config.webhook_burst))
        self.coalescer = Coalescer(self._flush, window=config.webhook_coalesce)
        self._runner: web.AppRunner | None = None

    def _flush(self, signal: Hashable) -> None:
        if not isinstance(signal, (StoreChange, VaultChange)):
            return
        found = self.targets.find(signal)
        self.targets.refresh(found)
        metrics.WEBHOOK_REFRESHES.inc(len(found.objects))
        if isinstance(signal, StoreChange):
            log.info("change of key %r in %s %r: refreshing %d object(s)", signal.key, signal.store_kind,
                     signal.store_name, len(found.objects))
        else:
            log.info("Key Vault change of secret %r (%s): refreshing %d object(s)", signal.object_name,
                     signal.event_type.rsplit(".", 1)[-1], len(found.objects))

    @staticmethod
    def _answer(code: int, message: str, **extra: Any) -> web.Response:
        metrics.WEBHOOK_REQUESTS.labels(str(code)).inc()
        return web.json_response({"message": message, **extra}, status=code)

    async def events(self, request: web.Request) -> web.Response:
        limit = self.config.webhook_max_body
        if request.content_length is not None and request.content_length > limit:
            return self._answer(413, f"body larger than {limit} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._answer(413, f"body larger than {limit} bytes")
        verdict = self.auth.check(request.headers.get("Authorization"), request.headers.get(SIGNATURE_HEADER), body)
        if verdict != 200:
            return self._answer(verdict, "authentication required" if verdict == 401 else "invalid credentials")
        if request.content_type not in JSON_TYPES:
            return self._answer(415, f"content type must be one of {', '.join(JSON_TYPES)}")
        if not self.bucket.allow():
            metrics.WEBHOOK_REQUESTS.labels("429").inc()
            return web.json_response({"message": "rate limited"}, status=429, headers={"Retry-After": "1"})
        try:
            parsed = parse(body)
        except SchemaError as exc:
            return self._answer(400, str(exc))
        if parsed.validation_code is not None:
            metrics.WEBHOOK_REQUESTS.labels("200").inc()
            log.info("answered the Event Grid subscription validation handshake")
            return web.json_response({"validationResponse": parsed.validation_code})
        accepted = sum(1 for change in parsed.changes if self.coalescer.add(change))
        return self._answer(202, "accepted", accepted=accepted, coalesced=len(parsed.changes) - accepted,
                            ignored=parsed.ignored)

    async def options(self, request: web.Request) -> web.Response:
        """The CloudEvents webhook abuse-protection handshake (Event Grid with the CloudEvents schema)."""
        origin = request.headers.get("WebHook-Request-Origin")
        if not origin:
            return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin[:255], "WebHook-Allowed-Rate": "120",
                                                 "Allow": "POST, OPTIONS"})

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.webhook_max_body)
        app.router.add_post(PATH, self.events)
        app.router.add_route("OPTIONS", PATH, self.options)
        app.router.add_get("/healthz", self.health)
        return app

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.config.webhook_tls_cert_file:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.webhook_tls_cert_file, self.config.webhook_tls_key_file or None)
        return context

    async def start(self) -> None:
        if not self.auth.configured:
            raise ValueError("--webhook-address needs --webhook-token-file or --webhook-hmac-key-file")
        address = urlparse(f"//{self.config.webhook_address}")
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, address.hostname or "0.0.0.0", address.port or 8443, ssl_context=self._ssl())
        await site.start()
        log.info("webhook receiver listening on %s (%s)", self.config.webhook_address,
                 "TLS" if self.config.webhook_tls_cert_file else "plain HTTP")

    async def stop(self) -> None:
        self.coalescer.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
