"""Write a rendered tree so that any interruption converges, or compare it with what is on disk.

The whole tree is rendered in memory before the first write, so a model error writes nothing.
Every target is then looked at (:mod:`iklim.render.preflight`): a folder where a file goes, an
unreadable or unwritable path writes nothing. Changed files are staged and swapped in through a
journal (:mod:`iklim.render.staging`, which states the guarantee); one render at a time per root.
"""

from __future__ import annotations

import difflib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iklim.render.preflight import (
    MAX_COMPARE,
    RenderWriteError,
    changed_files,
    check_writable,
    read_existing,
    refuse_linked_folders,
)
from iklim.render.staging import commit, leftovers, make_dirs, old_temp_files, recover
from iklim.render.tree import Tree

#: Folders that belong to the renderer: a file there that the model does not produce is stale.
OWNED_DIRS = ("config",)


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root`` (a folder): a second render there fails at once."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise RenderWriteError.from_os(exc, root) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderWriteError([(str(root), "another iklim render is writing here")]) from None
        yield
    finally:
        os.close(fd)


def write_tree(root: Path, tree: Tree, report: list[str] | None = None) -> list[str]:
    """Write every file that differs; return the paths written (unchanged files are left alone).

    First finishes or discards what an interrupted render left (described in ``report`` when
    given). Raises :class:`RenderWriteError` (nothing written) when a target cannot be written,
    a folder on a target's path below ``root`` being a symbolic link included.
    """
    if not root.is_dir():
        check_writable(root, list(tree))
        try:
            make_dirs(root)
        except OSError as exc:
            raise RenderWriteError.from_os(exc, root) from None
    with _exclusive(root):
        refuse_linked_folders(root, list(tree))  # before recover: even finishing a swap writes
        done = recover(root, tree)
        if report is not None:
            report.extend(done)
        changes = changed_files(tree, read_existing(root, tree))
        check_writable(root, list(changes))
        if changes:
            commit(root, changes)
    return list(changes)


def stale_files(root: Path, tree: Tree) -> list[str]:
    """Files under the renderer's folders that the model no longer produces."""
    found = []
    for folder in OWNED_DIRS:
        base = root / folder
        if base.is_dir():
            temps = set(old_temp_files(root, tree))
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and rel not in tree and path not in temps:
                    found.append(rel)
    return found


def diff_tree(root: Path, tree: Tree) -> str:
    """A unified diff from the files on disk to the rendered tree; empty when they agree.

    Also lists stale files and what an interrupted render left. Raises :class:`RenderWriteError`
    when a target cannot be read or is not a file.
    """
    chunks: list[str] = []
    existing = read_existing(root, tree)
    for rel, rendered in tree.items():
        found = existing[rel]
        if found.content is None:
            chunks.append(f"size {rel}: over {MAX_COMPARE} bytes on disk, not compared; the render replaces it\n")
        elif not found.present or found.content != rendered.content:
            old = found.content
            chunks.extend(
                difflib.unified_diff(
                    old.decode(errors="replace").splitlines(keepends=True),
                    rendered.content.decode().splitlines(keepends=True),
                    fromfile=f"a/{rel}" if found.present else "/dev/null",
                    tofile=f"b/{rel}",
                )
            )
        elif rendered.executable and not found.executable:
            chunks.append(f"mode {rel}: not executable, the render makes it 0755\n")
    for rel in stale_files(root, tree):
        chunks.append(f"stale {rel}: not produced by the model; delete it\n")
    chunks.extend(f"{line}\n" for line in leftovers(root, tree))
    return "".join(chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks)
