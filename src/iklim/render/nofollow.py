"""Folders below the output root, found and opened without following a symbolic link.

A render writes only inside ``--out``: a folder on a target's path that is a symbolic link
(``config/redis -> /etc``) would carry the write outside it, so every folder between the root
and a target must be a real folder. ``--out`` itself may be a link: the operator names it.

:func:`linked_folders` is the check before the first write; :func:`open_folder` is the swap's
own guard, opening each folder by a file descriptor with ``O_NOFOLLOW`` so that a link put there
after the check (a race) stops the swap instead of being followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

#: The message for a folder on a target's path that is a symbolic link.
LINKED = "a symbolic link where the render needs a folder; it does not write through links"


class LinkedFolderError(OSError):
    """A folder below the output root is a symbolic link; ``filename`` is its path."""

    def __init__(self, path: Path) -> None:
        super().__init__(0, LINKED, str(path))


def linked_folders(root: Path, rels: Iterable[str]) -> list[tuple[str, str]]:
    """Each existing folder below ``root`` on the path of a file in ``rels`` that is a link.

    ``rels`` are tree paths (``config/redis/redis-1.conf``); one ``(path, message)`` per link,
    the topmost only; a missing folder ends the walk (nothing deeper exists). Never raises.
    """
    problems: list[tuple[str, str]] = []
    for rel in rels:
        folder = root
        for part in PurePosixPath(rel).parts[:-1]:
            folder = folder / part
            try:
                mode = os.lstat(folder).st_mode
            except OSError:
                break
            if stat.S_ISLNK(mode):
                problems.append((str(folder), LINKED))
                break
    return list(dict.fromkeys(problems))


def open_folder(root: Path, parts: Iterable[str], create: bool = False) -> int:
    """A descriptor of the folder ``root/part/...``, no part followed if it is a link.

    ``root`` itself is opened as spelt (it may be a link). With ``create`` a missing folder is
    made (mode 0o755 less the umask) and its parent fsynced. The caller closes the descriptor.
    Raises :class:`LinkedFolderError` for a link, another ``OSError`` for anything else.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    path = root
    try:
        for part in parts:
            path = path / part
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                os.fsync(fd)
                child = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                    raise LinkedFolderError(path) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd
