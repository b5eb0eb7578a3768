"""First use of a lab secret, safe when several components (threads or processes) ask at once.

The value is written whole to a private temporary file next to the target, fsynced, then
published with ``os.link``, which fails if the name exists: exactly one writer wins, every loser
reads the winner's value, and a reader never sees a partial or empty file. An flock on the
folder itself serialises writers, so a file left empty by an older version of the
lab is replaced once, by one writer, and every caller gets the same value.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class SecretFileError(OSError):
    """The secret file cannot be created or read; the message names the path."""


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)  # the folder itself: no extra file among the secrets
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _publish(path: Path, text: str, mode: int, replace: bool) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):  # another writer won: its value is the secret
                os.link(tmp, path)  # atomic, and never over an existing name
    finally:
        Path(tmp).unlink(missing_ok=True)


def first_use(path: Path, generate: Callable[[], str], mode: int = 0o600) -> str:
    """The secret at ``path`` (stripped), created with ``generate()`` on first use.

    Concurrent callers in any thread or process all get the same, non-empty value. The folder is
    created 0700. Raises :class:`SecretFileError` when the file cannot be written or read.
    """
    try:
        value = _read(path)
        if value is not None:
            return value
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(path.parent):
            value = _read(path)
            if value is None:
                _publish(path, generate().strip() + "\n", mode, replace=path.exists())
                value = _read(path)
    except OSError as exc:
        raise SecretFileError(f"cannot create the secret {path}: {exc.strerror or exc}") from None
    if value is None:
        raise SecretFileError(f"the secret {path} is empty after it was written")
    return value
