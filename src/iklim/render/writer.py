"""Write a rendered tree atomically, or compare it with what is on disk.

Every file is written to a temporary sibling and renamed into place, so a reader never sees a
half-written file. The whole tree is rendered in memory before the first write, so a model error
writes nothing.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

from iklim.render.tree import Tree

#: Folders that belong to the renderer: a file there that the model does not produce is stale.
OWNED_DIRS = ("config",)


def write_atomic(path: Path, content: bytes, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o755 if executable else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tree(root: Path, tree: Tree) -> list[str]:
    """Write every file that differs; return the paths written (unchanged files are left alone)."""
    written = []
    for rel, rendered in tree.items():
        target = root / rel
        mode_ok = not rendered.executable or (target.exists() and os.access(target, os.X_OK))
        if target.exists() and target.read_bytes() == rendered.content and mode_ok:
            continue
        write_atomic(target, rendered.content, rendered.executable)
        written.append(rel)
    return written


def stale_files(root: Path, tree: Tree) -> list[str]:
    """Files under the renderer's folders that the model no longer produces."""
    found = []
    for folder in OWNED_DIRS:
        base = root / folder
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and rel not in tree:
                    found.append(rel)
    return found


def diff_tree(root: Path, tree: Tree) -> str:
    """A unified diff from the files on disk to the rendered tree; empty when they agree."""
    chunks: list[str] = []
    for rel, rendered in tree.items():
        target = root / rel
        old = target.read_bytes() if target.exists() else b""
        if old != rendered.content:
            chunks.extend(
                difflib.unified_diff(
                    old.decode(errors="replace").splitlines(keepends=True),
                    rendered.content.decode().splitlines(keepends=True),
                    fromfile=f"a/{rel}" if target.exists() else "/dev/null",
                    tofile=f"b/{rel}",
                )
            )
        elif rendered.executable and not os.access(target, os.X_OK):
            chunks.append(f"mode {rel}: not executable, the render makes it 0755\n")
    for rel in stale_files(root, tree):
        chunks.append(f"stale {rel}: not produced by the model; delete it\n")
    return "".join(chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks)
