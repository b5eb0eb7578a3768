"""The CA folder on the manager: atomic writes, private keys 0600, the CA never overwritten.

Layout of ``DIR`` (mode 0700; give a path outside the repository, such as ``/root/iklim-pki``):

- ``ca.key``: the CA's private key, 0600. Never a Docker secret or config, never printed; the
  runbook does not read it (its name does not start with ``tls_``).
- ``tls_ca_crt``: the CA certificate (public), the secret every client gets as its CA file.
- ``tls_<member>_crt`` (0644) and ``tls_<member>_key`` (0600): each member's pair, named as the
  Docker secrets they become (:attr:`iklim.pki.members.Member.crt_name`).

Each file is written to a temporary file in ``DIR`` (created ``O_EXCL`` with its final mode,
fsynced) and then linked (``os.link``: fails if the name exists, so ``init`` can never replace a
CA) or renamed (``os.replace``, for a member's renewal) into place, and the folder is fsynced: a
crash leaves the old file or the new one, never a partial one. A member's key is replaced before
its certificate; a crash between the two leaves a pair that does not match, which the next
``issue`` detects and re-issues.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from iklim.model.paths import CA_SECRET
from iklim.pki.ca import Pem, PkiError

CA_KEY = "ca.key"
CA_CERT = CA_SECRET
KEY_MODE = 0o600
CERT_MODE = 0o644


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp(folder: Path, name: str, data: bytes, mode: int) -> Path:
    tmp = folder / f".{name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened past ``mode``
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def write_new(folder: Path, name: str, data: bytes, mode: int) -> None:
    """Create ``folder/name`` atomically; PkiError when it already exists (nothing replaced)."""
    tmp = _temp(folder, name, data, mode)
    try:
        os.link(tmp, folder / name)
    except FileExistsError:
        raise PkiError(f"{folder / name}: exists; refusing to overwrite") from None
    finally:
        tmp.unlink()
    _fsync_dir(folder)


def replace(folder: Path, name: str, data: bytes, mode: int) -> None:
    """Write ``folder/name`` atomically, replacing an older version."""
    tmp = _temp(folder, name, data, mode)
    try:
        os.replace(tmp, folder / name)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def prepare(folder: Path) -> None:
    """Make ``folder`` (0700) if missing; PkiError when it is a link, not a folder, or readable
    by others (a CA key must not sit where other users can list or read it)."""
    if folder.is_symlink():
        raise PkiError(f"{folder}: is a symbolic link; give the real folder")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not folder.is_dir():
        raise PkiError(f"{folder}: not a folder")
    if folder.stat().st_mode & 0o077:
        raise PkiError(f"{folder}: readable by group or others; chmod 700 it first")


def save_ca(folder: Path, ca: Pem) -> None:
    """Write a new CA; PkiError, with nothing written, when either CA file already exists."""
    prepare(folder)
    for name in (CA_KEY, CA_CERT):
        if (folder / name).exists() or (folder / name).is_symlink():
            raise PkiError(f"{folder / name}: exists; the CA is created once (refusing to overwrite)")
    write_new(folder, CA_KEY, ca.key, KEY_MODE)
    write_new(folder, CA_CERT, ca.cert, CERT_MODE)


def read(path: Path) -> bytes:
    """A file's bytes; PkiError (one line) when it is missing, a link or not a regular file."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise PkiError(f"{path}: not a regular file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path}: missing") from None
    except OSError as exc:
        raise PkiError(f"{path}: {exc.strerror}") from None


def load_ca(folder: Path) -> Pem:
    """The CA pair in ``folder``; PkiError when missing (run ``iklim pki init`` first)."""
    if not (folder / CA_KEY).exists():
        raise PkiError(f"{folder / CA_KEY}: missing; run 'iklim pki init --dir {folder}' first")
    return Pem(read(folder / CA_CERT), read(folder / CA_KEY))


def save_member(folder: Path, crt_name: str, key_name: str, pem: Pem) -> None:
    """Write (or replace) a member's key (0600) then its certificate (0644)."""
    replace(folder, key_name, pem.key, KEY_MODE)
    replace(folder, crt_name, pem.cert, CERT_MODE)
