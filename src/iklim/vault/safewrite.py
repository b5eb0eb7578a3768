"""Durable private files for key custody: probe a folder before ``sys/init``, write atomically with
fsync of the file and its folder, and rescue an init result when its own path fails.

Nothing here prints or logs a file's content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from iklim.model.paths import fsync_dir


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents (0700); NotADirectoryError naming a file in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:  # mkdir's word when ``folder`` itself is a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None


def why(exc: BaseException) -> str:
    """An OSError in words with the path it is about (``Not a directory: /x/y``), else its type."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return type(exc).__name__


def prove_writable(path: Path) -> None:
    """Create ``path``'s folder (0700) and write, fsync and remove a probe file there.

    Raises OSError (with the path in ``filename``) when ``path`` cannot be written: its folder is
    a file, read-only, full, or ``path`` itself is a directory.
    """
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    make_folder(path.parent)
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.probe-", dir=path.parent)
    try:
        os.write(fd, b"probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)
        Path(probe).unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` (``mode``) through a fsynced temp file, rename, fsync the folder.

    A reader sees the old file or the new one, never a mix; after return the new one survives a
    crash. Raises OSError; the temp file is removed on any failure.
    """
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rescue_places(path: Path) -> list[Path]:
    """Where an init result goes when ``path`` fails: next to it, the home folder, the working
    folder, the temp folder (each a new file, timestamped)."""
    name = f"{path.stem}.rescue-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}{path.suffix or '.json'}"
    folders = [path.parent, Path.home(), Path.cwd(), Path(tempfile.gettempdir())]
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return [folder / name for folder in unique]


def write_rescue(data: bytes, places: Iterable[Path]) -> tuple[Path | None, list[str]]:
    """Write ``data`` (0600, fsynced, never over an existing file) to the first place that takes it.

    Returns the path written (None when every place failed) and one reason per failed place.
    """
    failures: list[str] = []
    for place in places:
        try:
            fd = os.open(place, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError:
                place.unlink(missing_ok=True)  # never leave a partial copy behind
                raise
        except OSError as exc:
            failures.append(f"{place}: {exc.strerror or exc}")
            continue
        with contextlib.suppress(OSError):  # the copy is whole and fsynced; this is best effort
            fsync_dir(place.parent)
        return place, failures
    return None, failures
