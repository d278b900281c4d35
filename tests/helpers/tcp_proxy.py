"""A small TCP proxy for fault tests: put it between the operator and a real server (Vault) to add
latency or to make the server unreachable, and to count the connection attempts the client makes.

    with TcpProxy(("127.0.0.1", vault_port)) as proxy:
        proxy.port                 # point the client here (TLS passes through untouched)
        proxy.delay = 0.5          # every chunk forwarded to the server waits 0.5 s first
        proxy.refuse = True        # new connections are accepted and closed at once (server "down");
                                   # open ones are cut; proxy.refused counts the attempts meanwhile

It never looks into the bytes (TLS stays end to end), so it proves what the client does with a slow or
missing server, not how it parses answers. Threads only; everything stops in ``close()``.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class TcpProxy:
    """A listening socket on 127.0.0.1 forwarding to ``upstream``; see the module docstring."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay = 0.0
        self.refuse = False
        self.accepted = 0  # connections forwarded to the server
        self.refused = 0  # connections closed at once while ``refuse`` was set
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def go_down(self) -> None:
        """The server becomes unreachable: open connections are cut, new ones closed at once."""
        self.refuse = True
        self.cut_all()

    def come_back(self) -> None:
        self.refuse = False

    def cut_all(self) -> None:
        """Close every open connection (both sides)."""
        with self._lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            _close(sock)

    def close(self) -> None:
        self._closed.set()
        _close(self._listener)
        self.cut_all()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ internals
    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                with self._lock:
                    self.refused += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                _close(client)  # linger 0: the client sees a reset, as from a stopped server
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, towards_server: bool) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if towards_server and self.delay > 0:
                    time.sleep(self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
