"""The operator's HTTP path to the apiserver: one keep-alive connection per thread, nothing else.

Why not the ``kubernetes`` client's ``call_api`` for every request: in a burst of 10,000 creates the
profile (py-spy ``--gil``, docs/performance.md) had 42% of the operator's CPU under urllib3's
PoolManager and the client's serialisation (URL parsing, pool-key normalisation, ``sanitize_for_
serialization`` walking every body, header matching) for three small requests per object.

Why not ``http.client`` either (what this module used next): measured on the local apiserver, one
Secret create cost 930–1,000 µs of CPU through it and 400 µs written as below, most of the difference
in building the request header by header (``putrequest``/``putheader``) and parsing the answer's
headers with the ``email`` package (83 µs per answer; h11, the other well-kept HTTP/1.1 parser, took
164 µs). Here a request is one ``sendall`` of the header block and the body (``json.dumps``'d once by
the caller), and the answer is read with the buffered reader's ``readline``: the status line, the
headers until the blank line (only ``Content-Length``, ``Transfer-Encoding`` and ``Connection``
matter), then the body by length, chunk by chunk, or until the server closes. HTTP/1.1 only; nothing
here is reached by anything but the apiserver of the operator's own configuration.

TLS and credentials come from the same ``kubernetes`` configuration (the kubeconfig or the in-cluster
service account), re-read per request so refreshed tokens are used. A request on a reused connection
that the server had already closed is sent once more on a new one (what urllib3 does too); every other
failure is raised to the caller.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

_MAX_LINE = 65536  # a header line longer than this is not from an apiserver
_MAX_HEADERS = 100


class ProtocolError(OSError):
    """The answer is not HTTP/1.1 as expected (an ``OSError``: callers treat it like a broken connection)."""


class ServerClosed(ProtocolError):
    """The server closed the connection before answering (an idle keep-alive connection it had dropped)."""


@dataclass
class _Connection:
    sock: socket.socket
    reader: BinaryIO

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


def _read_line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ProtocolError("header line too long")
    return line


def read_response(reader: BinaryIO) -> tuple[int, str, bytes, bool]:
    """One HTTP/1.1 answer from ``reader``: (status, reason, body, the server will close)."""
    status_line = _read_line(reader)
    if not status_line:
        raise ServerClosed("connection closed before the status line")
    version, _, rest = status_line.rstrip(b"\r\n").partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:40]!r}")
    length: int | None = None
    chunked = False
    close = version == b"HTTP/1.0"
    for _ in range(_MAX_HEADERS):
        line = _read_line(reader)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ProtocolError("connection closed in the headers")
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    else:
        raise ProtocolError("too many header lines")
    status = int(code)
    if chunked:
        body = _read_chunked(reader)
    elif length is not None:
        body = reader.read(length)
        if len(body) != length:
            raise ProtocolError("connection closed in the body")
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body, close = reader.read(), True  # no length: the body ends when the server closes
    return status, reason.decode("latin-1"), body, close


def _read_chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _read_line(reader)
        if not size_line:
            raise ProtocolError("connection closed in a chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while _read_line(reader) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) != size:
            raise ProtocolError("connection closed in a chunk")
        parts.append(chunk)
        reader.read(2)  # the CRLF after the chunk


class DirectHttp:
    """Per-thread keep-alive connections to one apiserver."""

    def __init__(self, base_url: str, context: ssl.SSLContext | bool, auth: Callable[[], dict[str, str]]) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._host_header = f"{self._host}:{self._port}" if ":" not in self._host else f"[{self._host}]:{self._port}"
        self._context = context if isinstance(context, ssl.SSLContext) else None
        if self._https and self._context is None:
            self._context = ssl.create_default_context()
        self._auth = auth
        self._local = threading.local()

    def _connection(self, timeout: float) -> tuple[_Connection, bool]:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.sock.settimeout(timeout)
            return conn, True
        sock = socket.create_connection((self._host, self._port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:
                assert self._context is not None
                sock = self._context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        conn = _Connection(sock, sock.makefile("rb"))
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn: _Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _head(self, method: str, path: str, headers: Mapping[str, str], length: int | None) -> bytes:
        lines = [f"{method} {self._prefix}{path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in {**headers, **self._auth()}.items()]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def request(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str],
                timeout: float) -> tuple[int, str, bytes]:
        """Send one request; returns (status, reason, body)."""
        wire = self._head(method, path, headers, None if body is None and method in ("GET", "DELETE") else len(body or b""))
        if body:
            wire += body
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.sock.sendall(wire)
                status, reason, data, close = read_response(conn.reader)
            except (ServerClosed, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                self._drop()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: once more on a new one
                raise
            except BaseException:
                self._drop()
                raise
            if close:
                self._drop()
            return status, reason, data
        raise AssertionError("unreachable")
