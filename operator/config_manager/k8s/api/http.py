"""The operator's HTTP path to the apiserver: one keep-alive connection per thread, nothing else.

Why not the ``kubernetes`` client's ``call_api`` for every request: in a burst of 10,000 creates the
profile (py-spy ``--gil``, docs/performance.md) had 42% of the operator's CPU under urllib3's
PoolManager and the client's serialisation (URL parsing, pool-key normalisation, ``sanitize_for_
serialization`` walking every body, header matching) for three small requests per object. Here a
request is: the body serialised once with ``json.dumps``, ``http.client`` on a connection the thread
keeps, the answer read. TLS and credentials come from the same ``kubernetes`` configuration (the
kubeconfig or the in-cluster service account), re-read per request so refreshed tokens are used.

A request on a reused connection that the server had already closed is sent once more on a new one
(what urllib3 does too); every other failure is raised to the caller.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit


class DirectHttp:
    """Per-thread keep-alive connections to one apiserver."""

    def __init__(self, base_url: str, context: ssl.SSLContext | bool, auth: Callable[[], dict[str, str]]) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._context = context if isinstance(context, ssl.SSLContext) else None
        self._auth = auth
        self._local = threading.local()

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def request(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str],
                timeout: float) -> tuple[int, str, bytes]:
        """Send one request; returns (status, reason, body)."""
        all_headers = {**headers, **self._auth()}
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.request(method, self._prefix + path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                self._drop()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: once more on a new one
                raise
            except BaseException:
                self._drop()
                raise
            if response.will_close:
                self._drop()
            return response.status, response.reason, data
        raise AssertionError("unreachable")
