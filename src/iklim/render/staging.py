"""Stage and swap a rendered tree, so that a rerun after any interruption converges.

How a render writes (:func:`commit`):

1. every changed file is written under ``<root>/.iklim-render/files/`` (the tree's own file
   system), with its final mode, and fsynced, and so is that folder;
2. the journal ``<root>/.iklim-render/journal`` (JSON: ``[staged name, tree path]`` pairs) is
   written under a temporary name, fsynced and renamed into place: this is the commit point;
3. each staged file is renamed over its target (a reader sees the old or the new file, never a
   half-written one), then every folder touched is fsynced;
4. the journal, then the staging folder, are deleted.

:func:`recover` runs at the start of every render. A journal means step 2 finished: the swap is
rolled forward (files already swapped are skipped). No journal means the interruption came before
the commit: the staging folder is deleted, and the tree was never touched. Either way the
temporary files the previous writer left (``.<name>.XXXXXXXX`` beside a rendered file) go too.

The guarantee, honestly: a file is always whole, old bytes or new; an interruption before the
commit leaves the tree as it was; an interruption during step 3 leaves a mix of old and new files
that a reader can see until the next ``iklim render`` finishes the swap. After any interruption,
a rerun ends with the clean render. ``.iklim-render/`` is git-ignored, skipped by ``iklim check``
(a dot-folder) and reported by ``render --check``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path, PurePosixPath

from iklim.model.paths import fsync_dir
from iklim.render.nofollow import LinkedFolderError, linked_folders, open_folder
from iklim.render.preflight import RenderWriteError
from iklim.render.tree import RenderedFile, Tree

#: The staging area, inside the output root.
STAGING_DIR = ".iklim-render"
_FILES = "files"
_JOURNAL = "journal"
_STAGED_NAME = re.compile(r"[0-9]{4,}")
#: ``tempfile.mkstemp(prefix=".<name>.")`` names, as the writer before this one left them.
_OLD_TEMP = re.compile(r"\.(.+)\.[a-z0-9_]{8}")


def make_dirs(path: Path) -> None:
    """``mkdir -p``, fsyncing the parent of every folder it creates."""
    missing = [p for p in [path, *path.parents] if not os.path.lexists(p)]
    for folder in reversed(missing):
        folder.mkdir()
        fsync_dir(folder.parent)


def _write_durable(name: str, content: bytes, mode: int, folder: int) -> None:
    """Create ``name`` in the folder open as ``folder`` with ``content`` and ``mode``, fsynced."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(content)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(root: Path, changes: dict[str, RenderedFile]) -> None:
    """Stage ``changes`` (tree path -> file), commit the journal, swap them in, clean up.

    Raises :class:`RenderWriteError` on any filesystem error, a folder on the way that is a
    symbolic link included. Before the commit point the staging area is removed and the tree is
    untouched; after it, the next :func:`recover` finishes.
    """
    staging = root / STAGING_DIR
    entries = [(f"{index:04d}", rel) for index, rel in enumerate(changes)]
    try:
        files = open_folder(root, (STAGING_DIR, _FILES), create=True)
        try:
            for name, rel in entries:
                mode = 0o755 if changes[rel].executable else 0o644
                _write_durable(name, changes[rel].content, mode, files)
            os.fsync(files)
        finally:
            os.close(files)
        folder = open_folder(root, (STAGING_DIR,))
        try:
            pending = f"{_JOURNAL}.tmp"
            _write_durable(pending, json.dumps({"version": 1, "files": entries}).encode(), 0o644, folder)
            os.replace(pending, _JOURNAL, src_dir_fd=folder, dst_dir_fd=folder)
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, LinkedFolderError):
            raise RenderWriteError.from_os(exc, staging) from None
        raise RenderWriteError([(str(root), f"cannot stage the render: {exc.strerror or exc}")]) from None
    _roll_forward(root, entries)


def _swap(root: Path, entries: list[tuple[str, str]]) -> None:
    """Rename each staged file over its target, every folder opened without following a link."""
    try:
        files = open_folder(root, (STAGING_DIR, _FILES))
    except FileNotFoundError:
        return  # every file was swapped in before an interruption
    folders: dict[tuple[str, ...], int] = {}
    try:
        for name, rel in entries:
            try:
                os.lstat(name, dir_fd=files)
            except FileNotFoundError:
                continue  # swapped in before an interruption
            parts = PurePosixPath(rel).parts
            if parts[:-1] not in folders:
                folders[parts[:-1]] = open_folder(root, parts[:-1], create=True)
            os.replace(name, parts[-1], src_dir_fd=files, dst_dir_fd=folders[parts[:-1]])
        for fd in folders.values():
            os.fsync(fd)
    finally:
        for fd in [files, *folders.values()]:
            os.close(fd)


def _roll_forward(root: Path, entries: list[tuple[str, str]]) -> None:
    staging = root / STAGING_DIR
    try:
        _swap(root, entries)
        (staging / _JOURNAL).unlink()
        fsync_dir(staging)
        shutil.rmtree(staging)
        fsync_dir(root)
    except OSError as exc:
        raise RenderWriteError.from_os(exc, staging) from None


def _journal(staging: Path) -> list[tuple[str, str]] | None:
    """The journal's entries, or None when there is none or it is not one this writer commits."""
    try:
        data = json.loads((staging / _JOURNAL).read_bytes())
        if data["version"] != 1:
            return None
        pairs = [(str(name), str(rel)) for name, rel in data["files"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    for name, rel in pairs:
        parts = PurePosixPath(rel).parts
        unsafe = not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts)
        if not _STAGED_NAME.fullmatch(name) or unsafe or parts[0] == STAGING_DIR:
            return None
    return pairs


def old_temp_files(root: Path, tree: Tree) -> list[Path]:
    """``.<name>.XXXXXXXX`` regular files beside rendered files: the previous writer's leftovers."""
    found: list[Path] = []
    names: dict[Path, set[str]] = {}
    for rel in tree:
        if linked_folders(root, [rel]):
            continue  # never look, let alone delete, outside the tree
        target = root / rel
        names.setdefault(target.parent, set()).add(target.name)
    for folder, wanted in sorted(names.items()):
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _OLD_TEMP.fullmatch(entry)
            if match and match.group(1) in wanted and stat.S_ISREG(os.lstat(folder / entry).st_mode):
                found.append(folder / entry)
    return found


def leftovers(root: Path, tree: Tree) -> list[str]:
    """What an interrupted render left under ``root``, one line each, for ``render --check``."""
    lines = []
    if os.path.lexists(root / STAGING_DIR):
        state = "an unfinished swap" if _journal(root / STAGING_DIR) else "an uncommitted staging area"
        lines.append(f"interrupted {STAGING_DIR}: {state}; run `iklim render` to finish")
    for path in old_temp_files(root, tree):
        lines.append(f"interrupted {path.relative_to(root).as_posix()}: a temporary file; `iklim render` removes it")
    return lines


def recover(root: Path, tree: Tree) -> list[str]:
    """Finish or discard what an interrupted render left; return what it did, one line each.

    Raises :class:`RenderWriteError` when the staging path is not a folder or a step fails.
    """
    staging = root / STAGING_DIR
    done: list[str] = []
    try:
        if os.path.lexists(staging):
            if not stat.S_ISDIR(os.lstat(staging).st_mode):
                raise RenderWriteError([(str(staging), "not a directory; iklim render stages its writes here")])
            entries = _journal(staging)
            if entries is not None:
                _roll_forward(root, entries)
                done.append(f"finished an interrupted render ({len(entries)} files)")
            else:
                shutil.rmtree(staging)
                fsync_dir(root)
                done.append("discarded the staging area of an interrupted render")
        for path in old_temp_files(root, tree):
            path.unlink()
            done.append(f"removed {path.relative_to(root).as_posix()}, left by an interrupted render")
    except OSError as exc:
        raise RenderWriteError.from_os(exc, staging) from None
    return done
