"""The status transport's HTTP/1.1 client: TLS contexts, the response reader, and connections kept
open for the requests of one probe (HTTP persistent connections, RFC 9112 §9.3).

A probe asks one member several things in a row (etcd: status, health, alarms); over TLS each new
connection costs a handshake (20–55 ms on this machine's two CPUs when every probe runs at once,
5 ms alone). Inside :func:`reusing` a thread keeps each connection open after a complete answer
and sends the next request to the same (host, port, CA, client certificate) on it; outside, every
request has its own connection and ``Connection: close``, as before. The scope's end closes them.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

#: One kept connection's identity: host, port, CA file, client certificate pair.
Key = tuple[str, int, str | None, tuple[str, str] | None]

_TLS_CONTEXTS: dict[tuple[str, tuple[str, str] | None], Any] = {}
_TLS_LOCK = threading.Lock()
_KEPT = threading.local()  # .pool: dict[Key, _Connection] inside reusing(), absent outside


def tls_context(ca_file: str, client_cert: tuple[str, str] | None = None) -> Any:
    """An ``ssl.SSLContext`` that trusts only ``ca_file``, checks the host name and presents
    ``client_cert`` (certificate, key files) when given (one per pair; ``ssl`` is imported only
    when a TLS endpoint is asked). OSError (ssl.SSLError among them) when a file is missing or
    not PEM.

    TLS 1.2 at most (ECDHE with AES-GCM or ChaCha20, Python's defaults; every member accepts it:
    Vault ``tls_min_version tls12``), for speed, with :class:`AckingReader`: Patroni's REST API
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


#: The largest body (and chunk) read, in bytes: a status answer is kilobytes; a size beyond this
#: is a broken or hostile server, refused (ValueError) before any buffer is allocated for it.
MAX_BODY = 16 * 1024 * 1024


class AckingReader(io.RawIOBase):
    """A socket's bytes, each received segment acknowledged at once (Linux ``TCP_QUICKACK``, which
    the kernel clears again: set after every read; tcp(7)), so a server that waits for the ACK
    of its previous segment before sending the next (Nagle) need not wait out the delayed ACK.

    ``deadline`` (``time.monotonic()`` seconds, None: the socket's own timeout per read) bounds
    the whole answer: each read waits only for what is left (TimeoutError once it has passed),
    so a server that trickles bytes cannot stretch a request past its timeout. With ``no_wait``
    set, a read returns None at once without touching the socket, so ``BufferedReader.peek``
    shows only what is already buffered."""

    def __init__(self, sock: Any) -> None:
        import socket  # loaded already: the caller opened ``sock``

        self._sock = sock
        self._level = socket.IPPROTO_TCP
        self._option = getattr(socket, "TCP_QUICKACK", None)  # Linux only
        self.deadline: float | None = None
        self.no_wait = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self.no_wait:
            return None
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete answer before the deadline")
            self._sock.settimeout(left)
        count: int = self._sock.recv_into(buffer)
        if self._option is not None:
            self._sock.setsockopt(self._level, self._option, 1)
        return count


def _size(text: str, what: str) -> int:
    """A declared length: ValueError when it is not a number, negative, or above MAX_BODY."""
    size = int(text, 16) if what == "chunk size" else int(text)
    if not 0 <= size <= MAX_BODY:
        raise ValueError(f"{what} {text[:24]} out of range (0 to {MAX_BODY})")
    return size


def read_response(stream: BinaryIO, head: bool = False) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection may carry another request, of one HTTP/1.x
    response (Content-Length, chunked with its trailer section, or until close; ``head``: the
    answer to a HEAD request, without a body).

    Interim 1xx answers are skipped; 204, 304 and a HEAD answer have no body (RFC 9112 §6.3).
    Reusable: HTTP/1.1 without ``Connection: close`` and with a delimited body (RFC 9112 §9.3).
    ValueError when the first line is not an HTTP status line, EOFError when the body is cut.
    A few lines instead of http.client, whose import (email parsing, ssl) costs ~45 ms: a third
    of the whole command's budget."""
    while True:
        status_line = stream.readline(65536)
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ValueError("not an HTTP response")
        status = int(parts[1])
        fields: dict[str, str] = {}
        while True:
            line = stream.readline(65536)
            if not line:
                raise EOFError("connection closed in the header")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if not 100 <= status < 200 or status == 101:
            break
    keep = parts[0] == b"HTTP/1.1" and "close" not in fields.get("connection", "").lower() and status != 101
    if head or status in (204, 304) or status < 200:
        return status, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = stream.readline(65536)
            if not size_line:
                raise EOFError("connection closed mid-body")
            size = _size(size_line.split(b";")[0].strip().decode("latin-1") or "0", "chunk size")
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise ValueError(f"chunked body over {MAX_BODY} bytes")
            chunk = stream.read(size)
            if len(chunk) != size:
                raise EOFError("connection closed mid-body")
            chunks.append(chunk)
            if stream.readline(65536) not in (b"\r\n", b"\n"):
                raise ValueError("chunk longer than its size, or cut")
        while stream.readline(65536) not in (b"\r\n", b"\n", b""):
            pass  # the trailer section, up to its empty line
        return status, b"".join(chunks), keep
    if "content-length" in fields:
        length = _size(fields["content-length"], "Content-Length")
        data = stream.read(length)
        if len(data) != length:
            raise EOFError("connection closed mid-body")
        return status, data, keep
    return status, stream.read(), False


@dataclass
class _Connection:
    sock: Any
    reader: AckingReader
    stream: io.BufferedReader[Any]

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()


@contextmanager
def reusing() -> Iterator[None]:
    """Keep connections open on this thread until the block ends (then close them all). Nested
    blocks share the outer block's connections. Only for reads: a request on a kept connection
    that the server closed before answering is sent again once on a new one."""
    if getattr(_KEPT, "pool", None) is not None:
        yield
        return
    _KEPT.pool = {}
    try:
        yield
    finally:
        pool: dict[Key, _Connection] = _KEPT.pool
        _KEPT.pool = None
        for connection in pool.values():
            connection.close()


def _open(key: Key, context: Any, timeout: float) -> _Connection:
    import socket

    host, port = key[0], key[1]
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=host) if context else raw
    except BaseException:
        raw.close()
        raise
    reader = AckingReader(sock)
    return _Connection(sock, reader, io.BufferedReader(reader))


def exchange(key: Key, context: Any, head: list[str], payload: bytes, timeout: float) -> tuple[int, bytes]:
    """Send one request (``head``: its request line and fields, without ``Connection``) and read
    the answer, all within ``timeout`` seconds: on a kept connection to ``key`` inside
    :func:`reusing`, else on a new one. A kept connection the server closed, reset or answered
    ``408 Request Timeout`` on (its idle timeout; browsers resend then too) is replaced once,
    the request sent again on the new one: for reads only. OSError, ValueError or EOFError as
    :func:`read_response` and ``socket`` raise them."""
    deadline = time.monotonic() + timeout
    pool: dict[Key, _Connection] | None = getattr(_KEPT, "pool", None)
    kept = pool.pop(key, None) if pool is not None else None
    lines = head if pool is not None else [*head, "Connection: close"]  # HTTP/1.1 keeps by default
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    is_head = head[0].startswith("HEAD ")
    if kept is not None and _idle_and_open(kept):
        try:
            kept.sock.settimeout(timeout)
            kept.reader.deadline = deadline  # the peek below waits for this request's answer
            kept.sock.sendall(request)
            first = kept.stream.peek(1)
        except TimeoutError:
            kept.close()
            raise
        except OSError:  # reset or broken pipe: the server closed it as the request left
            first = b""
        if first:
            status, body = _answer(pool, key, kept, is_head, deadline)
            if status != 408:  # a server's idle timeout that came as our answer: send again
                return status, body
            if pool is not None:
                pool.pop(key, None)
    if kept is not None:
        kept.close()  # closed (or written to) by the server while idle: a new connection
    connection = _open(key, context, max(deadline - time.monotonic(), 0.001))
    try:
        connection.sock.sendall(request)
    except BaseException:
        connection.close()
        raise
    return _answer(pool, key, connection, is_head, deadline)


def _idle_and_open(connection: _Connection) -> bool:
    """Whether a kept connection has nothing to read: a server that closed it (EOF), reset it
    or wrote to it unasked (``408 Request Timeout``) makes it readable, and it is not reused
    (as urllib3 checks its pooled connections)."""
    import select

    connection.reader.no_wait = True
    try:
        if connection.stream.peek(1):  # bytes after the last answer: unasked, or a broken server
            return False
    finally:
        connection.reader.no_wait = False
    try:
        pending = getattr(connection.sock, "pending", None)
        if pending is not None and pending():
            return False
        readable, _, _ = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _answer(
    pool: dict[Key, _Connection] | None, key: Key, connection: _Connection, head: bool, deadline: float
) -> tuple[int, bytes]:
    connection.reader.deadline = deadline
    try:
        status, body, keep = read_response(connection.stream, head)
    except BaseException:
        connection.close()
        raise
    if keep and pool is not None:
        pool[key] = connection
    else:
        connection.close()
    return status, body
