"""What every lab component gets: the model, the lab address plan, paths, secrets, supervisor."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from iklim.components.target import LabTarget
from iklim.lab.secretfile import first_use
from iklim.lab.supervisor import Supervisor
from iklim.model.schema import Environment

#: The unprivileged user that runs PostgreSQL (and Patroni) when the lab is started as root.
LAB_USER = "iklim-lab"
DEFAULT_ROOT = Path(".lab")


class LabError(Exception):
    """A lab component failed; ``component`` names it and the message says why."""

    def __init__(self, component: str, message: str) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component


@dataclass(frozen=True)
class LabContext:
    env: Environment
    root: Path
    target: LabTarget
    supervisor: Supervisor

    @classmethod
    def create(cls, env: Environment, root: Path, postgres_bin: str) -> LabContext:
        root = root.resolve()
        return cls(env, root, LabTarget(env, root, postgres_bin=postgres_bin), Supervisor(root))

    @property
    def unprivileged_user(self) -> str | None:
        """The user PostgreSQL runs as: the lab user when we are root, else ourselves (None)."""
        return LAB_USER if os.geteuid() == 0 else None

    def member_dir(self, member: str, owner: str | None = None) -> Path:
        """The member's directory (created); chowned to ``owner`` when we are root."""
        path = self.target.member_dir(member)
        (path / "data").mkdir(parents=True, exist_ok=True)
        if owner and os.geteuid() == 0:
            entry = pwd.getpwnam(owner)
            for item in (path, *path.rglob("*")):
                # a running member's files come and go (PostgreSQL's WAL temporaries): a file
                # gone between the listing and the chown needs no owner
                with contextlib.suppress(FileNotFoundError):
                    shutil.chown(item, entry.pw_uid, entry.pw_gid)
        return path

    def secret(self, name: str) -> str:
        """A lab secret, generated once and kept 0600 under ``root/secrets``; never printed.

        Safe under concurrency: components asking at once all get the same non-empty value.
        Raises :class:`~iklim.lab.secretfile.SecretFileError` (an OSError) naming the path.
        """
        return first_use(self.root / "secrets" / name, lambda: secrets.token_urlsafe(24))


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` readable only by its owner (configs that embed lab secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
