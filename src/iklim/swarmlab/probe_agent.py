"""The probe that runs inside one lab namespace: standard library only, started as a script by
``nsenter --net=<namespace> python3 probe_agent.py`` (so it must not import iklim).

``connect`` mode (default): reads JSON ``{"timeout": s, "dns": "127.0.0.11" | null,
"targets": [[host, port], ...]}`` on stdin and prints JSON ``{"results": [[host, port, state,
ms], ...]}``. ``state``: ``open`` (TCP handshake done), ``refused`` (RST), ``timeout`` (no
answer within ``timeout``: dropped), ``unreachable`` (no route / ICMP unreachable),
``unresolved`` (a name the namespace's DNS does not know, or no DNS), ``error:<errno>``.
A target ``[host, port, "https", server_name]`` is an HTTPS GET / with that SNI and ``Host``
(certificate not verified): its state is ``http:<status>`` once the connection is made.
A name is resolved with one A query to ``dns`` (Docker's embedded DNS in a container's
namespace answers on 127.0.0.11:53; RFC 1035 4.1 message format).

``listen PORT`` mode: accept and close TCP connections on 0.0.0.0:PORT until killed (the lab's
FAKE sshd: the lab nodes run no sshd, the Hetzner SSH rule needs something to answer).
"""

from __future__ import annotations

import errno
import json
import random
import socket
import ssl
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def query(name: str, server: str, timeout: float) -> str | None:
    """The first A record of ``name`` from ``server`` (UDP 53), or None."""
    qid = random.randrange(65536)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".") if part)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (server, 53))
            data = sock.recv(4096)
        except OSError:
            return None
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid or flags & 0xF:
        return None
    pos = 12
    for _ in range(qd):
        pos = _skip_name(data, pos) + 4
    for _ in range(an):
        pos = _skip_name(data, pos)
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            return socket.inet_ntoa(data[pos : pos + 4])
        pos += length
    return None


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        length = data[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def connect(host: str, port: int, timeout: float) -> tuple[str, float]:
    began = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            state = "open"
        except ConnectionRefusedError:
            state = "refused"
        except TimeoutError:
            state = "timeout"
        except OSError as exc:
            unreachable = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN)
            state = "unreachable" if exc.errno in unreachable else f"error:{exc.errno}"
    return state, round((time.monotonic() - began) * 1000, 1)


#: Seconds an HTTPS target has, once its TCP connection is made, for each of the TLS handshake,
#: the request and the status line (the socket's timeout: per step, not one deadline for the
#: exchange; the connection itself has the request's ``timeout``): reachability is the TCP
#: handshake's question; the answer passes through nginx and its upstream, and a loaded lab
#: (two cores, six engines, the agents' own TLS) can take more than one second to give it.
ANSWER_S = 5.0


def https(host: str, port: int, name: str, timeout: float) -> tuple[str, float]:
    """``http:<status>`` of ``GET /`` over TLS (SNI and Host ``name``), or a :func:`connect` state
    (``timeout`` then means no answer within :data:`ANSWER_S` of the connection)."""
    began = time.monotonic()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.settimeout(max(timeout, ANSWER_S))
            with context.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
                head = tls.recv(64).decode(errors="replace").split()
        state = f"http:{head[1]}" if len(head) > 1 and head[0].startswith("HTTP/") else "http:?"
    except ConnectionRefusedError:
        state = "refused"
    except TimeoutError:
        state = "timeout"
    except ssl.SSLError as exc:
        state = f"tls:{exc.reason}"
    except OSError as exc:
        state = "unreachable" if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else f"error:{exc.errno}"
    return state, round((time.monotonic() - began) * 1000, 1)


def run(request: dict[str, object]) -> list[list[object]]:
    timeout = float(request["timeout"])  # type: ignore[arg-type]
    dns = request.get("dns")
    targets = [(str(t[0]), int(t[1]), t[3] if len(t) > 3 else None) for t in request["targets"]]  # type: ignore[attr-defined]
    names = sorted({h for h, _, _ in targets if not h.replace(".", "").isdigit()})
    with ThreadPoolExecutor(max_workers=128) as pool:
        resolved: dict[str, str | None] = dict.fromkeys(names)
        if names and dns:
            resolved = dict(zip(names, pool.map(lambda n: query(n, str(dns), timeout), names), strict=True))

        def one(item: tuple[str, int, str | None]) -> list[object]:
            host, port, name = item
            address = resolved.get(host, host)
            if address is None:
                return [host, port, "unresolved", 0.0]
            state, ms = https(address, port, name, timeout) if name else connect(address, port, timeout)
            return [host, port, state, ms]

        return list(pool.map(one, targets))


def listen(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(128)
        print("listening", flush=True)
        while True:
            conn, _ = server.accept()
            conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "listen":
        listen(int(sys.argv[2]))
    else:
        print(json.dumps({"results": run(json.load(sys.stdin))}))
