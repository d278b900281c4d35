"""The operator's HTTP/1.1 exchange (k8s/api/http.py): answers parsed as the apiserver sends them
(length, chunked, close), malformed ones refused, and keep-alive reuse with one retry when the server
dropped an idle connection — against a real local HTTP server (the stdlib's), not a mock."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config_manager.k8s.api.http import DirectHttp, ProtocolError, ServerClosed, read_response


def test_an_answer_with_a_length_is_read_to_its_length_and_the_connection_kept() -> None:
    wire = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}HTTP/1.1 ..."
    reader = io.BytesIO(wire)
    assert read_response(reader) == (201, "Created", b'{"a":1}', False)
    assert reader.read() == b"HTTP/1.1 ...", "nothing of the next answer was consumed"


def test_a_chunked_answer_is_joined_and_trailers_skipped() -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nX-Trailer: t\r\n\r\n"
    assert read_response(io.BytesIO(wire)) == (200, "OK", b'{"a":1}', False)


def test_connection_close_and_a_body_without_length_end_the_connection() -> None:
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))[3] is True
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\n\r\n{\"until\":\"close\"}")) == (200, "OK", b'{"until":"close"}', True)
    assert read_response(io.BytesIO(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1")) == (204, "No Content", b"", False)


@pytest.mark.parametrize("wire, error", [
    (b"", ServerClosed),
    (b"SSH-2.0-OpenSSH\r\n\r\n", ProtocolError),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", ProtocolError),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", ProtocolError),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", ProtocolError),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", ProtocolError),
])
def test_a_malformed_or_cut_answer_is_refused(wire: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_response(io.BytesIO(wire))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        _Handler.seen.append((self.command, self.path, str(self.client_address[1]), dict(self.headers), body))
        out = json.dumps({"method": self.command, "path": self.path, "echo": body.decode()}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        if self.path.endswith("chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (out[:5], out[5:]):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        if self.path.endswith("hangup"):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_reuse_one_connection_and_carry_body_headers_and_credentials(server: ThreadingHTTPServer) -> None:
    http = DirectHttp(f"http://127.0.0.1:{server.server_address[1]}/prefix", False, lambda: {"Authorization": "Bearer t"})
    status, _, body = http.request("POST", "/api/v1/x?fieldManager=f", b'{"k":1}', {"Content-Type": "application/json"}, 5)
    assert status == 201 and json.loads(body) == {"method": "POST", "path": "/prefix/api/v1/x?fieldManager=f", "echo": '{"k":1}'}
    status, _, body = http.request("GET", "/api/v1/x/chunked", None, {}, 5)
    assert status == 200 and json.loads(body)["method"] == "GET"
    http.request("DELETE", "/api/v1/x", b'{"preconditions":{}}', {}, 5)
    ports = {port for _m, _p, port, _h, _b in _Handler.seen}
    assert len(ports) == 1, "one keep-alive connection for the thread"
    headers = _Handler.seen[0][3]
    assert headers["Authorization"] == "Bearer t" and headers["Host"].startswith("127.0.0.1:")
    assert _Handler.seen[2][4] == b'{"preconditions":{}}'


def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_once_more(server: ThreadingHTTPServer) -> None:
    http = DirectHttp(f"http://127.0.0.1:{server.server_address[1]}", False, dict)
    http.request("GET", "/first/hangup", None, {}, 5)  # the server closes after answering, without saying so
    status, _, body = http.request("PUT", "/second", b"{}", {}, 5)
    assert status == 200 and json.loads(body)["path"] == "/second"
    assert [p for _m, p, _port, _h, _b in _Handler.seen] == ["/first/hangup", "/second"], "sent once on the new connection"
    assert len({seen[2] for seen in _Handler.seen}) == 2, "a new connection for the second request"
