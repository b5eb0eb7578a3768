"""The only place that opens sockets: HTTP JSON, Redis-protocol commands, MongoDB commands.

Probes receive a :class:`Transport` and never touch sockets, so a test can hand them a fake one
(only for what cannot run here). Errors are :class:`ProbeError` with a message that names the
endpoint and the failure, never a credential: headers and AUTH arguments are not echoed.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from iklim.model.tlswords import tls_reason
from iklim.status.resp import RespValue


class ProbeError(Exception):
    """An endpoint could not be asked (refused, timed out, not the expected protocol)."""


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer of any status; ``body`` is the decoded JSON (None when not JSON)."""

    status: int
    body: Any
    text: str = ""


class Transport(Protocol):
    def http(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> HttpReply:
        """One HTTP request; JSON ``body`` is encoded. Any status is a reply, not an error.
        With ``ca_file``: over TLS, the server's certificate verified with that CA and naming
        ``host`` (a ProbeError when it does not); with ``client_cert`` (certificate, key files)
        too, that certificate is presented (etcd's ``--client-cert-auth``)."""

    def redis(self, host: str, port: int, commands: Sequence[Sequence[str]], *, timeout: float) -> list[RespValue]:
        """Send ``commands`` pipelined on one connection; one reply (maybe an error value) each."""

    def mongo(
        self,
        host: str,
        port: int,
        command: Mapping[str, Any],
        *,
        timeout: float,
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run one admin command (``{"replSetGetStatus": 1}``) and return its reply document."""

    def resolve(self, name: str) -> list[str]:
        """Every IPv4 address ``name`` resolves to (Swarm's ``tasks.<service>``), sorted."""


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


_TLS_CONTEXTS: dict[tuple[str, tuple[str, str] | None], Any] = {}
_TLS_LOCK = threading.Lock()


def _tls_context(ca_file: str, client_cert: tuple[str, str] | None = None) -> Any:
    """An ``ssl.SSLContext`` that trusts only ``ca_file``, checks the host name and presents
    ``client_cert`` (certificate, key files) when given (one per pair; ``ssl`` is imported only
    when a TLS endpoint is asked). OSError (ssl.SSLError among them) when a file is missing or
    not PEM.

    TLS 1.2 at most (ECDHE with AES-GCM or ChaCha20, Python's defaults; every member accepts it:
    Vault ``tls_min_version tls12``), for speed, with :class:`_AckingReader`: Patroni's REST API
    (Python's ``http.server``, Nagle's algorithm on) writes a reply's head and body as separate
    segments, and holds the second until the first is acknowledged, which a client in delayed-ACK
    mode (as the TLS handshake leaves it) does ~40 ms later. TLS 1.3 adds the server's session
    tickets after the handshake, which the client cannot acknowledge at once. Measured on the
    loopback lab: ``GET /cluster`` 48 ms over TLS 1.3, 48 ms over TLS 1.2, 3.6 ms over TLS 1.2
    with the immediate acknowledgement (median of 12)."""
    with _TLS_LOCK:
        key = (ca_file, client_cert)
        if key not in _TLS_CONTEXTS:
            import ssl

            context = ssl.create_default_context(cafile=ca_file)
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            if client_cert is not None:
                context.load_cert_chain(*client_cert)
            _TLS_CONTEXTS[key] = context
        return _TLS_CONTEXTS[key]


class _AckingReader(io.RawIOBase):
    """A socket's bytes, each received segment acknowledged at once (Linux ``TCP_QUICKACK``, which
    the kernel clears again: set after every read; tcp(7)), so a server that waits for the ACK
    of its previous segment before sending the next (Nagle) need not wait out the delayed ACK."""

    def __init__(self, sock: Any) -> None:
        import socket  # loaded already: the caller opened ``sock``

        self._sock = sock
        self._level = socket.IPPROTO_TCP
        self._option = getattr(socket, "TCP_QUICKACK", None)  # Linux only

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count: int = self._sock.recv_into(buffer)
        if self._option is not None:
            self._sock.setsockopt(self._level, self._option, 1)
        return count


def _describe(exc: BaseException) -> str:
    if type(exc).__name__.startswith("SSL"):
        return f"TLS failed: {tls_reason(exc)}"
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "timeout":
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return getattr(exc, "strerror", None) or type(exc).__name__


def read_http_response(stream: BinaryIO) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length, chunked, or until close).

    A few lines instead of http.client, whose import (email parsing, ssl) costs ~45 ms: a third
    of the whole command's budget.
    """
    status_line = stream.readline(65536)
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP response")
    status = int(parts[1])
    fields: dict[str, str] = {}
    while True:
        line = stream.readline(65536)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int(stream.readline(65536).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            chunks.append(stream.read(size))
            stream.readline(65536)
        return status, b"".join(chunks)
    if "content-length" in fields:
        length = int(fields["content-length"])
        data = stream.read(length)
        if len(data) != length:
            raise EOFError("connection closed mid-body")
        return status, data
    return status, stream.read()


class NetTransport:
    """The real transport: a small HTTP/1.1 client, RESP, and the small MongoDB wire client."""

    def http(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> HttpReply:
        import socket

        payload = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Connection: close",
            "Accept: application/json",
            "User-Agent: iklim-status",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        try:
            context = _tls_context(ca_file, client_cert) if ca_file else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            why = tls_reason(exc) if type(exc).__name__.startswith("SSL") else getattr(exc, "strerror", None)
            files = f"CA file {ca_file}" + (f" or client certificate {client_cert[0]}" if client_cert else "")
            raise ProbeError(f"{host}:{port}: {files}: {why or type(exc).__name__}") from None
        try:
            with socket.create_connection((host, port), timeout=max(timeout, 0.001)) as raw_sock:
                sock = context.wrap_socket(raw_sock, server_hostname=host) if context else raw_sock
                with sock:  # wrap_socket detaches raw_sock: close the TLS socket itself
                    sock.sendall(request)
                    stream = io.BufferedReader(_AckingReader(sock)) if context else sock.makefile("rb")
                    status, raw = read_http_response(stream)
        except (OSError, ValueError, EOFError) as exc:
            raise ProbeError(f"{host}:{port}: {_describe(exc)}") from None
        text = raw.decode(errors="replace")
        try:
            decoded = json.loads(text) if text else None
        except ValueError:
            decoded = None
        return HttpReply(status, decoded, text)

    def redis(self, host: str, port: int, commands: Sequence[Sequence[str]], *, timeout: float) -> list[RespValue]:
        import socket

        from iklim.status.resp import RespProtocolError, encode, read_reply

        try:
            with socket.create_connection((host, port), timeout=max(timeout, 0.001)) as sock:
                sock.sendall(b"".join(encode(c) for c in commands))
                stream = sock.makefile("rb")
                return [read_reply(stream) for _ in commands]
        except (OSError, EOFError, RespProtocolError, ValueError) as exc:
            raise ProbeError(f"{host}:{port}: {_describe(exc)}") from None

    def mongo(
        self,
        host: str,
        port: int,
        command: Mapping[str, Any],
        *,
        timeout: float,
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        from iklim.status.mongowire import MongoWireError, run_command

        try:
            return run_command(host, port, command, timeout=max(timeout, 0.001), credentials=credentials)
        except (OSError, EOFError, MongoWireError) as exc:
            raise ProbeError(f"{host}:{port}: {_describe(exc) if isinstance(exc, OSError) else exc}") from None

    def resolve(self, name: str) -> list[str]:
        import socket

        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            raise ProbeError(f"{name}: cannot resolve ({_describe(exc)})") from None
        return sorted({str(info[4][0]) for info in infos})
