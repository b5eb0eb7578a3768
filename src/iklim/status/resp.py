"""A minimal RESP2/RESP3 codec: encode a command, read replies from a buffered binary stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, Union

RespValue = Union[str, int, None, "RespError", list["RespValue"]]


class RespError(str):
    """An error reply (``-ERR ...``); a value, not an exception, so one command's error is data."""


class RespProtocolError(ValueError):
    """The peer did not speak RESP."""


def encode(args: Sequence[str]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(stream: BinaryIO) -> RespValue:
    """Read one reply; raises EOFError when the connection closes, RespProtocolError on garbage."""
    line = stream.readline()
    if not line:
        raise EOFError("connection closed")
    if not line.endswith(b"\r\n"):
        raise RespProtocolError("truncated reply")
    kind, body = line[:1], line[1:-2].decode(errors="replace")
    if kind == b"+":
        return body
    if kind == b"-":
        return RespError(body)
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise EOFError("connection closed")
        return data[:-2].decode(errors="replace")
    if kind in (b"*", b"%"):  # RESP3 maps arrive flattened, like RESP2 key/value arrays
        count = int(body) * (2 if kind == b"%" else 1)
        if count < 0:
            return None
        return [read_reply(stream) for _ in range(count)]
    if kind == b"_":
        return None
    raise RespProtocolError(f"unexpected reply type {kind!r}")


def pairs(value: RespValue) -> dict[str, str]:
    """A flat ``[k1, v1, k2, v2...]`` reply (SENTINEL MASTER) as a dict of strings."""
    if not isinstance(value, list):
        return {}
    items = [str(v) for v in value]
    return dict(zip(items[::2], items[1::2], strict=False))


def info_fields(text: str) -> dict[str, str]:
    """``INFO`` text as ``{field: value}`` (section headers and blank lines skipped)."""
    fields = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value
    return fields
