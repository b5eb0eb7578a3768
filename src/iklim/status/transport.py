"""The only place that opens sockets (with :mod:`iklim.status.httpconn`, its HTTP client and
kept connections): HTTP JSON, Redis-protocol commands, MongoDB commands.

Probes receive a :class:`Transport` and never touch sockets, so a test can hand them a fake one
(only for what cannot run here). Errors are :class:`ProbeError` with a message that names the
endpoint and the failure, never a credential: headers and AUTH arguments are not echoed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from iklim.model.tlswords import tls_reason
from iklim.status.httpconn import exchange, read_response, reusing, tls_context
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

    def reusing(self) -> AbstractContextManager[None]:
        """A block inside which this thread's HTTP requests to the same endpoint share one
        connection (one TLS handshake instead of one per request); closed when the block ends.
        For reads only: a request the server did not answer on a kept connection is sent again."""


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _describe(exc: BaseException) -> str:
    if type(exc).__name__.startswith("SSL"):
        return f"TLS failed: {tls_reason(exc)}"
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "timeout":
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, ValueError | EOFError) and str(exc):  # the answer broke the protocol
        return f"bad answer: {str(exc)[:80]}"
    return getattr(exc, "strerror", None) or type(exc).__name__


def read_http_response(stream: BinaryIO) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length, chunked, or until close):
    :func:`iklim.status.httpconn.read_response` without its reuse flag."""
    status, body, _ = read_response(stream)
    return status, body


class NetTransport:
    """The real transport: a small HTTP/1.1 client, RESP, and the small MongoDB wire client."""

    def reusing(self) -> AbstractContextManager[None]:
        return reusing()

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

        payload = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Accept: application/json",
            "User-Agent: iklim-status",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        try:
            context = tls_context(ca_file, client_cert) if ca_file else None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            why = tls_reason(exc) if type(exc).__name__.startswith("SSL") else getattr(exc, "strerror", None)
            files = f"CA file {ca_file}" + (f" or client certificate {client_cert[0]}" if client_cert else "")
            raise ProbeError(f"{host}:{port}: {files}: {why or type(exc).__name__}") from None
        try:
            status, raw = exchange((host, port, ca_file, client_cert), context, lines, payload, max(timeout, 0.001))
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
