"""Look at every target of a render before the first write: what is there, and can it be replaced.

A render writes nothing unless every file it changes can be written: a read-only ``init/hosts/``
must not let the runbook move to a new overlay subnet while the host rules still admit the old
one. Each problem is one ``(path, message)``; :class:`RenderWriteError` carries all of them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from iklim.render.nofollow import linked_folders
from iklim.render.tree import RenderedFile, Tree


class RenderWriteError(Exception):
    """Filesystem problems that stop a render, each ``(path, message)``, shown as ``path: message``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))

    @classmethod
    def from_os(cls, exc: OSError, path: Path | str) -> RenderWriteError:
        """One problem from an ``OSError``: its own file name when it has one, else ``path``."""
        where = exc.filename if isinstance(exc.filename, str) else str(path)
        return cls([(where, exc.strerror or str(exc))])


#: A file on disk larger than this is not read to be compared: it differs (rendered files are KiB).
MAX_COMPARE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Existing:
    """What a target holds now. ``present`` False: no file; ``content`` None: too large to read."""

    present: bool
    content: bytes | None = b""
    executable: bool = False


def _ancestors(path: Path) -> list[Path]:
    """The folders above ``path``, top down, as spelt (``a/b/c`` -> ``a``, ``a/b``; ``/x/y`` -> ``/x``)."""
    return [p for p in reversed(path.parents) if p != Path(p.anchor or ".")]


def _not_a_folder(path: Path) -> tuple[str, str] | None:
    """The first existing ancestor of ``path`` that is not a folder, as a problem."""
    for folder in _ancestors(path):
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return (str(folder), exc.strerror or str(exc))
        if not stat.S_ISDIR(st.st_mode):
            return (str(folder), "not a directory: the render needs a folder here")
    return None


def _unsearchable(path: Path) -> tuple[str, str] | None:
    """The first ancestor of ``path`` this process cannot enter, as a problem."""
    for folder in _ancestors(path):
        if not os.access(folder, os.X_OK):
            return (str(folder), "cannot read: permission denied")
    return None


def read_existing(root: Path, tree: Tree) -> dict[str, Existing]:
    """What every target of ``tree`` under ``root`` holds now (a missing root: every target absent).

    Raises :class:`RenderWriteError` listing every target that is a folder, a FIFO or another
    non-regular file, unreadable, below a file, or below a folder that is a symbolic link (the
    render never reads or writes through one, see :func:`refuse_linked_folders`). A file over
    :data:`MAX_COMPARE` is not read.
    """
    problems: list[tuple[str, str]] = []
    found: dict[str, Existing] = {}
    for rel in tree:
        target = root / rel
        linked = linked_folders(root, [rel])
        if linked:
            problems.extend(linked)
            continue
        try:
            st = os.stat(target)
        except FileNotFoundError:
            found[rel] = Existing(False)
            continue
        except NotADirectoryError:
            problems.append(_not_a_folder(target) or (str(target), "not a directory"))
            continue
        except PermissionError:
            problems.append(_unsearchable(target) or (str(target), "cannot read: Permission denied"))
            continue
        except OSError as exc:
            problems.append((str(target), f"cannot read: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            problems.append((str(target), "is a directory where the render writes a file"))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append((str(target), "not a regular file; the render writes a file here"))
            continue
        executable = bool(st.st_mode & 0o111)
        if st.st_size > MAX_COMPARE:
            found[rel] = Existing(True, None, executable)
            continue
        try:
            found[rel] = Existing(True, target.read_bytes(), executable)
        except OSError as exc:
            problems.append((str(target), f"cannot read: {exc.strerror or exc}"))
    if problems:
        raise RenderWriteError(problems)
    return found


def refuse_linked_folders(root: Path, rels: list[str]) -> None:
    """Raise :class:`RenderWriteError` naming every folder below ``root`` on the path of a file
    in ``rels`` that is a symbolic link: a write through it would land outside the tree.
    ``root`` itself may be a link."""
    problems = linked_folders(root, rels)
    if problems:
        raise RenderWriteError(problems)


def changed_files(tree: Tree, existing: dict[str, Existing]) -> dict[str, RenderedFile]:
    """The files to write: different bytes, or an executable the disk does not mark executable."""
    return {
        rel: rendered
        for rel, rendered in tree.items()
        if not existing[rel].present
        or existing[rel].content != rendered.content
        or (rendered.executable and not existing[rel].executable)
    }


def _deepest_existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _unwritable(folder: Path) -> str | None:
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "not writable: read-only file system"
    except OSError:
        pass
    return "not writable: permission denied"


def check_writable(root: Path, rels: list[str]) -> None:
    """Raise :class:`RenderWriteError` unless every file in ``rels`` can be swapped in under ``root``.

    Each file's deepest existing folder must be a writable folder on the root's file system (the
    staging area lives in ``root``, and ``rename`` does not cross file systems), and no existing
    ancestor may be a file. ``root`` itself (or its deepest existing ancestor) must be writable.
    """
    if not rels:
        return
    problems: list[tuple[str, str]] = []
    base = _deepest_existing(root)
    try:
        device = os.stat(base).st_dev
    except OSError as exc:
        raise RenderWriteError.from_os(exc, base) from None
    for path in [root / "x", *(root / rel for rel in rels)]:
        bad_parent = _not_a_folder(path)
        if bad_parent:
            problems.append(bad_parent)
            continue
        folder = _deepest_existing(path.parent)
        reason = _unwritable(folder)
        if reason:
            problems.append((str(folder), reason))
        elif os.stat(folder).st_dev != device:
            problems.append((str(folder), f"on another file system than {root}: the render cannot swap files in"))
    if problems:
        raise RenderWriteError(problems)
