"""The status transport's kept connections (``NetTransport.reusing``), against a real HTTP/1.1
server on loopback (Python's ``http.server``, plaintext and TLS with a CA from ``iklim.pki``):
how many connections the server accepted is the figure each test checks."""

from __future__ import annotations

import io
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from iklim.pki.ca import create_ca, issue
from iklim.pki.members import Member
from iklim.status.httpconn import read_response
from iklim.status.transport import NetTransport, ProbeError


class Server(ThreadingHTTPServer):
    daemon_threads = True
    accepted = 0
    close_after = 0  # close each connection after this many answers (0: never)
    chunked = False
    drop_silently = False  # close each connection after its answer without saying so (idle timeout)
    idle_408 = False  # after each answer, write a 408 unasked and close (as some proxies time out)
    no_content = False  # answer 204 with no body and no length


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    answers = 0

    def setup(self) -> None:
        super().setup()
        self.server.accepted += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = b'{"path": "%s", "got": %d}' % (self.path.encode(), len(self.rfile.read(length)))
        if self.server.no_content:
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.answers += 1
        if self.server.close_after and self.answers >= self.server.close_after:
            self.send_header("Connection", "close")  # http.server then closes the connection
        if self.server.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (len(body), body))
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = self.close_connection or self.server.drop_silently
        if self.server.idle_408:
            self.wfile.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True

    do_GET = _reply
    do_POST = _reply


def serve(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[Server]:
    yield from serve(Server(("127.0.0.1", 0), Handler))


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    now = datetime.now(UTC)
    ca = create_ca("iklim test CA", 2, now)
    member = Member("kept", "kept", (), (IPv4Address("127.0.0.1"),), True, False, ())
    pair = issue(member, ca, 1, now)
    for name, data in (("ca.crt", ca.cert), ("kept.crt", pair.cert), ("kept.key", pair.key)):
        (tmp_path / name).write_bytes(data)
    server = Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "kept.crt", tmp_path / "kept.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in serve(server):
        yield running, str(tmp_path / "ca.crt")


def ask(transport: NetTransport, server: Server, path: str, ca: str | None = None) -> object:
    port = server.server_address[1]
    reply = transport.http("POST", "127.0.0.1", port, path, timeout=2.0, body={"k": 1}, ca_file=ca)
    assert reply.status == 200
    return reply.body


def test_requests_inside_reusing_share_one_connection(plain: Server) -> None:
    transport = NetTransport()
    with transport.reusing():
        bodies = [ask(transport, plain, f"/{i}") for i in range(3)]
    assert bodies == [{"path": f"/{i}", "got": 8} for i in range(3)]
    assert plain.accepted == 1
    for i in range(2):  # outside the block: a connection per request, as before
        ask(transport, plain, f"/after{i}")
    assert plain.accepted == 3


def test_over_tls_one_handshake_per_endpoint(tls: tuple[Server, str]) -> None:
    server, ca = tls
    transport = NetTransport()
    with transport.reusing():
        for i in range(4):
            assert ask(transport, server, f"/t{i}", ca) == {"path": f"/t{i}", "got": 8}
    assert server.accepted == 1


def test_a_connection_the_server_closes_is_not_reused(plain: Server) -> None:
    plain.close_after = 1  # every answer says Connection: close
    transport = NetTransport()
    with transport.reusing():
        for i in range(3):
            ask(transport, plain, f"/c{i}")
    assert plain.accepted == 3


@pytest.mark.parametrize(
    ("behaviour", "connections"),
    [
        ("chunked", 1),  # a chunked answer with a trailer leaves the connection usable
        ("drop_silently", 3),  # closed while idle (no Connection: close first): replaced once each time
        ("idle_408", 3),  # an unasked 408 on an idle connection is not taken for the answer
    ],
)
def test_three_reads_through_a_server_behaviour(plain: Server, behaviour: str, connections: int) -> None:
    setattr(plain, behaviour, True)
    transport = NetTransport()
    with transport.reusing():
        assert [ask(transport, plain, f"/r{i}") for i in range(3)] == [{"path": f"/r{i}", "got": 8} for i in range(3)]
    assert plain.accepted == connections


def test_a_204_without_a_body_does_not_wait_for_the_close(plain: Server) -> None:
    plain.no_content = True
    transport = NetTransport()
    port = plain.server_address[1]
    began = time.monotonic()
    with transport.reusing():
        replies = [transport.http("GET", "127.0.0.1", port, f"/n{i}", timeout=2.0) for i in range(3)]
    assert [r.status for r in replies] == [204, 204, 204] and time.monotonic() - began < 1.0
    assert plain.accepted == 1


def test_a_dead_endpoint_is_an_error_not_a_retry_loop(plain: Server) -> None:
    transport = NetTransport()
    port = plain.server_address[1]
    with transport.reusing():
        ask(transport, plain, "/first")
        plain.drop_silently = True
        ask(transport, plain, "/last")  # answered, then closed by the server
        plain.shutdown()
        plain.server_close()
        with pytest.raises(ProbeError, match=f"127.0.0.1:{port}: connection refused"):
            transport.http("GET", "127.0.0.1", port, "/gone", timeout=1.0)


def test_reuse_flag_follows_rfc_9112() -> None:
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))[2] is True
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))[2] is False
    assert read_response(io.BytesIO(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))[2] is False
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\n\r\nuntil close"))[2] is False
    with pytest.raises(EOFError):
        read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"))
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert read_response(io.BytesIO(interim)) == (200, b"{}", True)
    assert read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), head=True) == (200, b"", True)


class Raw(Server):
    """Answers each request with the bytes in ``script`` (one entry per request), then keeps
    the connection open."""

    script: list[bytes] = []
    hang_up = False  # close the connection after each answer


class RawHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Raw

    def setup(self) -> None:
        super().setup()
        self.server.accepted += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        data = self.server.script.pop(0) if self.server.script else b""
        for i in range(0, len(data), 7):  # in small writes: a reader must join them
            self.wfile.write(data[i : i + 7])
            self.wfile.flush()
            if b"SLOW" in data:
                time.sleep(0.3)
        self.close_connection = self.server.hang_up or not data


@pytest.fixture
def raw() -> Iterator[Raw]:
    yield from serve(Raw(("127.0.0.1", 0), RawHandler))


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", "connection closed"),  # cut inside the header
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "out of range"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "out of range"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n", "out of range"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", "unexpected|chunk"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{SLOW" + b" " * 35, "timed out"),  # trickled
    ],
)
def test_a_broken_answer_is_a_probe_error_within_the_timeout(raw: Raw, answer: bytes, error: str) -> None:
    raw.script, raw.hang_up = [answer], True
    began = time.monotonic()
    with pytest.raises(ProbeError, match=error):
        NetTransport().http("GET", "127.0.0.1", raw.server_address[1], "/", timeout=1.0)
    assert time.monotonic() - began < 1.5


def test_bytes_left_after_an_answer_are_never_the_next_answer(raw: Raw) -> None:
    stale = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"stale":1}'
    raw.script = [OK + stale, OK]  # the first write carries an unasked second answer
    transport = NetTransport()
    port = raw.server_address[1]
    with transport.reusing():
        first = transport.http("GET", "127.0.0.1", port, "/1", timeout=2.0)
        time.sleep(0.2)  # the unasked bytes have arrived
        second = transport.http("GET", "127.0.0.1", port, "/2", timeout=2.0)
    assert (first.body, second.body) == ({}, {}) and raw.accepted == 2


def test_a_kept_connection_gets_each_request_its_own_deadline(plain: Server) -> None:
    transport = NetTransport()
    with transport.reusing():
        ask(transport, plain, "/early")
        time.sleep(2.3)  # past the first request's 2 s deadline: the second has its own
        reply = transport.http("GET", "127.0.0.1", plain.server_address[1], "/late", timeout=1.0)
    assert reply.status == 200 and plain.accepted == 1
