"""The loopback lab's certificates: the production certificate code with the lab's addresses.

:func:`lab_pki` creates the lab's own CA once under ``<root>/pki`` (the lab target's
:meth:`~iklim.components.target.LabTarget.pki_dir`) and issues every member of
:func:`iklim.pki.members.members` for the lab target (127.0.x.y names), exactly as
``iklim pki init`` / ``iklim pki issue --all`` do on the manager; a current certificate is kept.
:func:`place` copies a member's Docker secrets to where the lab member reads them: the lab path
of ``/run/secrets/<name>`` (:func:`iklim.components.trust.secret_path`).
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from iklim.components.trust import secret_path
from iklim.lab.context import LabContext
from iklim.pki import store
from iklim.pki.ca import create_ca
from iklim.pki.members import members
from iklim.pki.renewal import ensure_issued


def lab_pki(ctx: LabContext) -> Path:
    """The lab's CA folder, with the CA and every member certificate current; returns it.

    Serialised by a lock file (components start in parallel). Raises
    :class:`~iklim.pki.ca.PkiError` or OSError naming the file.
    """
    folder = ctx.target.pki_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(ctx.root / ".pki.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env, now = ctx.env, datetime.now(UTC)
        if not (folder / store.CA_KEY).exists():
            store.save_ca(folder, create_ca(f"iklim {env.name} lab CA", env.tls.ca_validity_days, now))
        ca = store.load_ca(folder)
        for one in members(env, ctx.target):
            ensure_issued(folder, one, ca, env.tls.cert_validity_days, env.tls.renew_before_days, now)
    return folder


def place(ctx: LabContext, member: str, names: list[str]) -> None:
    """Copy the CA-folder files ``names`` (Docker secret names) to ``member``'s lab
    ``/run/secrets``; keys (``*_key``) 0600, the rest 0644. OSError naming a missing file."""
    folder = ctx.target.pki_dir()
    for name in names:
        path = Path(secret_path(ctx.target, member, name))
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{name}.tmp")
        temp.unlink(missing_ok=True)
        mode = 0o600 if name.endswith("_key") else 0o644
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # never wider than mode
        with os.fdopen(fd, "wb") as handle:
            handle.write((folder / name).read_bytes())
        os.replace(temp, path)
