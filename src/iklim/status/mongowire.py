"""Just enough of the MongoDB wire protocol for one admin command: BSON, OP_MSG, SCRAM-SHA-256.

pymongo is not a dependency and costs more to import than the whole status budget; a status
probe needs one command (``replSetGetStatus``) on an authenticated connection. BSON datetimes
decode to integer milliseconds since the epoch; types a status reply never carries are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

OP_MSG = 2013


class MongoWireError(Exception):
    """The server's answer could not be read, or authentication failed (no credential is echoed)."""


class Binary(bytes):
    """A BSON binary value (generic subtype)."""


def encode_document(doc: Mapping[str, Any]) -> bytes:
    body = b"".join(_element(key, value) for key, value in doc.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def _element(key: str, value: Any) -> bytes:
    name = _cstring(key)
    if isinstance(value, bool):
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", value)
    if isinstance(value, Binary):
        return b"\x05" + name + struct.pack("<i", len(value)) + b"\x00" + bytes(value)
    if isinstance(value, str):
        data = value.encode()
        return b"\x02" + name + struct.pack("<i", len(data) + 1) + data + b"\x00"
    if isinstance(value, Mapping):
        return b"\x03" + name + encode_document(value)
    if isinstance(value, list | tuple):
        return b"\x04" + name + encode_document({str(i): v for i, v in enumerate(value)})
    if value is None:
        return b"\x0a" + name
    raise TypeError(f"cannot encode {type(value).__name__} as BSON")


def decode_document(data: bytes, offset: int = 0) -> tuple[dict[str, Any], int]:
    """Decode the document at ``offset``; return it and the offset just past it."""
    (size,) = struct.unpack_from("<i", data, offset)
    end, pos, out = offset + size - 1, offset + 4, {}
    while pos < end:
        kind = data[pos]
        stop = data.index(b"\x00", pos + 1)
        key = data[pos + 1 : stop].decode()
        out[key], pos = _value(kind, data, stop + 1)
    return out, offset + size


def _value(kind: int, data: bytes, pos: int) -> tuple[Any, int]:
    fixed = {0x01: ("<d", 8), 0x09: ("<q", 8), 0x10: ("<i", 4), 0x11: ("<Q", 8), 0x12: ("<q", 8)}
    if kind in fixed:
        fmt, size = fixed[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + size
    if kind in (0x02, 0x0D, 0x0E):  # string, JavaScript, symbol
        (size,) = struct.unpack_from("<i", data, pos)
        return data[pos + 4 : pos + 3 + size].decode(errors="replace"), pos + 4 + size
    if kind in (0x03, 0x04):
        doc, end = decode_document(data, pos)
        return (list(doc.values()) if kind == 0x04 else doc), end
    if kind == 0x05:
        (size,) = struct.unpack_from("<i", data, pos)
        return Binary(data[pos + 5 : pos + 5 + size]), pos + 5 + size
    if kind == 0x07:
        return data[pos : pos + 12].hex(), pos + 12
    if kind == 0x08:
        return data[pos] == 1, pos + 1
    if kind in (0x0A, 0x06, 0xFF, 0x7F):
        return None, pos
    if kind == 0x0B:  # regex: two cstrings
        first = data.index(b"\x00", pos)
        return None, data.index(b"\x00", first + 1) + 1
    if kind == 0x13:
        return None, pos + 16
    raise MongoWireError(f"unsupported BSON type 0x{kind:02x}")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def command(sock: socket.socket, doc: Mapping[str, Any], request_id: int) -> dict[str, Any]:
    """Send one OP_MSG command and read its reply document."""
    payload = struct.pack("<I", 0) + b"\x00" + encode_document(doc)
    sock.sendall(struct.pack("<iiii", 16 + len(payload), request_id, 0, OP_MSG) + payload)
    length, _, _, opcode = struct.unpack("<iiii", _recv_exact(sock, 16))
    body = _recv_exact(sock, length - 16)
    if opcode != OP_MSG or body[4] != 0:
        raise MongoWireError(f"unexpected reply (opcode {opcode})")
    try:
        reply, _ = decode_document(body, 5)
    except (struct.error, ValueError, IndexError) as exc:
        raise MongoWireError("malformed BSON reply") from exc
    return reply


def _scram_field(message: bytes, key: str) -> str:
    for part in message.decode().split(","):
        if part.startswith(f"{key}="):
            return part[2:]
    raise MongoWireError("authentication failed (unexpected SCRAM message)")


def authenticate(sock: socket.socket, user: str, password: str, nonce: str | None = None) -> None:
    """SCRAM-SHA-256 against the admin database (ASCII passwords: SASLprep is then the identity)."""
    nonce = nonce or base64.b64encode(os.urandom(24)).decode()
    escaped = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = f"n={escaped},r={nonce}"
    start = command(
        sock,
        {
            "saslStart": 1,
            "mechanism": "SCRAM-SHA-256",
            "payload": Binary(f"n,,{first_bare}".encode()),
            "autoAuthorize": 1,
            "options": {"skipEmptyExchange": True},
            "$db": "admin",
        },
        1,
    )
    if start.get("ok") != 1:
        raise MongoWireError("authentication failed")
    server_first = bytes(start["payload"])
    full_nonce = _scram_field(server_first, "r")
    if not full_nonce.startswith(nonce):
        raise MongoWireError("authentication failed (server nonce mismatch)")
    salt = base64.b64decode(_scram_field(server_first, "s"))
    iterations = int(_scram_field(server_first, "i"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={full_nonce}"
    auth_message = f"{first_bare},{server_first.decode()},{without_proof}".encode()
    signature = hmac.digest(stored, auth_message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    reply = command(
        sock,
        {
            "saslContinue": 1,
            "conversationId": start.get("conversationId", 1),
            "payload": Binary(f"{without_proof},p={proof}".encode()),
            "$db": "admin",
        },
        2,
    )
    if reply.get("ok") != 1:
        raise MongoWireError("authentication failed")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
    if _scram_field(bytes(reply["payload"]), "v") != expected:
        raise MongoWireError("authentication failed (server signature mismatch)")
    if not reply.get("done"):
        command(
            sock,
            {
                "saslContinue": 1,
                "conversationId": reply.get("conversationId", 1),
                "payload": Binary(b""),
                "$db": "admin",
            },
            3,
        )


def run_command(
    host: str, port: int, doc: Mapping[str, Any], *, timeout: float, credentials: tuple[str, str] | None = None
) -> dict[str, Any]:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if credentials is not None:
            authenticate(sock, *credentials)
        return command(sock, {**doc, "$db": "admin"}, 4)
