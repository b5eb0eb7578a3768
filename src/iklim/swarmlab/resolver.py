"""The upstream resolver of a lab node: answers every query NXDOMAIN, at once.

Docker's embedded DNS (127.0.0.11 in every container) answers the names of the Swarm's services
and forwards every other name to the engine's ``--dns`` servers. In production those are the
provider's resolvers, which answer a name such as ``redis-sentinel-3`` (a peer whose task is not
healthy yet, so Swarm does not publish it) with NXDOMAIN within milliseconds. A lab node has no
upstream; dockerd 20.10 then sends no answer at all and the client waits out its resolver
timeouts (20 s per lookup with glibc's defaults). Redis Sentinel resolves its peers on its
single thread, so each such lookup blocks it, its healthcheck times out and Swarm restarts it,
over and over: a lab artefact that hid how the stack really behaves.

One process per node, inside the node's network namespace, bound to the node's lab address
(:data:`iklim.swarmlab.paths.LAB_NET`, never a model address) on UDP port 53; ``swarm-lab down``
removes it with the namespace's other processes. Run as
``python3 -m iklim.swarmlab.resolver ADDRESS``.
"""

from __future__ import annotations

import socket
import sys

_HEADER = 12
_NXDOMAIN_FLAGS = 0x8183  # QR=1, opcode 0, RD=1, RA=1, RCODE=3 (RFC 1035 section 4.1.1)


def nxdomain(query: bytes) -> bytes | None:
    """The NXDOMAIN answer to ``query`` (a DNS message), keeping its id and question; None if malformed.

    The answer has the query's id, the flags above (RD copied), the question section unchanged
    and no answer, authority or additional records.
    """
    if len(query) < _HEADER or query[2] & 0x80:  # too short, or itself a response
        return None
    end = _HEADER
    while end < len(query) and query[end] != 0:
        if query[end] & 0xC0:  # compression pointers do not occur in a question
            return None
        end += 1 + query[end]
    end += 1 + 4  # the root label, QTYPE, QCLASS
    if end > len(query):
        return None
    flags = _NXDOMAIN_FLAGS & ~0x0100 | (query[2] & 0x01) << 8
    header = query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + b"\x00" * 6
    return header + query[_HEADER:end]


def bind(address: str, port: int = 53) -> socket.socket:
    """A UDP socket bound to ``address``:``port`` (port 0: any free port). Raises OSError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    return sock


def answer_forever(sock: socket.socket) -> None:
    """Answer every query that arrives on ``sock`` with :func:`nxdomain`; never returns."""
    while True:
        query, peer = sock.recvfrom(4096)
        answer = nxdomain(query)
        if answer is not None:
            sock.sendto(answer, peer)


if __name__ == "__main__":  # pragma: no cover - started by nodes.start_resolver
    answer_forever(bind(sys.argv[1]))
