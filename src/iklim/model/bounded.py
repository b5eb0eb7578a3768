"""The project's own bounds on input: what a file may be, how big, how deep, how long to read.

Model loading (:mod:`iklim.model.loader`) and the checker's loaders (:mod:`iklim.check`) read
every input through :func:`read_text` and compose every YAML document with
:func:`iklim.model.yamlcompose.compose`, so hostile input fails the same way everywhere: an
:class:`Unusable` carrying ``path``, 1-based ``line``/``column`` (0 when the whole file is meant)
and a one-line ``message``, never a hang, a crash or unbounded memory.

This module imports nothing heavy (no pydantic), so ``iklim check`` can use it cheaply.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_BYTES = 4 * 1024 * 1024  # a file larger than this is refused (the largest rendered file is ~20 KB)
MAX_DEPTH = 100  # nesting levels of a YAML or HCL document, aliases expanded
MAX_NODES = 250_000  # YAML nodes of one document once aliases and merge keys are expanded
MAX_SECONDS = 10.0  # wall time to compose one YAML document


class Unusable(Exception):
    """Input the project refuses: ``path:line:column: message`` (line/column 0 = the whole file)."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        where = f"{path}:{line}:{column}" if line > 0 and column > 0 else f"{path}:{line}" if line > 0 else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


def position(data: bytes | str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of ``offset`` in ``data`` (columns in bytes for ``bytes``)."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    start = data.rfind(newline, 0, offset) + 1  # type: ignore[arg-type]
    return data.count(newline, 0, offset) + 1, offset - start + 1  # type: ignore[arg-type]


def read_bytes(path: str | os.PathLike[str], shown: str | None = None) -> bytes:
    """The bytes of the regular file at ``path``, at most :data:`MAX_BYTES`.

    The file is opened non-blocking and checked with ``fstat`` before any read, so a FIFO, a
    device (a link to ``/dev/zero``), a socket or a directory is refused without blocking or
    reading. Raises :class:`Unusable` (named ``shown``, default ``path``) on any of these, on a
    file over the size bound and on any ``OSError`` (permission denied, no such file, ...).
    """
    name = shown if shown is not None else os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Unusable(name, 0, 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Unusable(name, 0, 0, "cannot read: is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise Unusable(name, 0, 0, "cannot read: not a regular file")
        if info.st_size > MAX_BYTES:
            raise Unusable(name, 0, 0, f"file too large: {info.st_size} bytes (at most {MAX_BYTES})")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise Unusable(name, 0, 0, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise Unusable(name, 0, 0, f"file too large: more than {MAX_BYTES} bytes")
    return b"".join(chunks)


def decode(data: bytes, name: str) -> str:
    """``data`` as strict UTF-8; :class:`Unusable` at the first invalid byte's line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(data, exc.start)
        raise Unusable(name, line, column, f"invalid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def read_text(path: str | os.PathLike[str], shown: str | None = None) -> str:
    """The strict UTF-8 text of the regular file at ``path``; see :func:`read_bytes` and :func:`decode`."""
    name = shown if shown is not None else os.fspath(path)
    return decode(read_bytes(path, name), name)


class Deadline:
    """A wall-clock bound: :meth:`check` raises :class:`Unusable` once ``seconds`` have passed."""

    def __init__(self, path: str, seconds: float = MAX_SECONDS) -> None:
        self.path = path
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, line: int = 0, column: int = 0) -> None:
        if time.monotonic() > self.end:
            raise Unusable(self.path, line, column, f"reading took longer than {self.seconds:g} s")


class TimeLimitExceeded(Exception):
    """Raised inside :func:`time_limit`'s block when its wall-clock bound has passed."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Bound the wall time of the block to ``seconds`` (raises :class:`TimeLimitExceeded`).

    Uses ``SIGALRM``, which also interrupts a long regular-expression match; outside the main
    thread (where signals cannot be set) the block runs unbounded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
