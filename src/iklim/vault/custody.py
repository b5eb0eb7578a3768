"""Custody of the unseal keys and root token: one JSON file, mode 0600, written atomically.

With PGP keys in the model, Vault encrypts each key share (and the root token) to them; the
file then holds ciphertext, and unsealing decrypts each share with the operator's ``gpg``.
Nothing here ever prints a key or a token.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CustodyError(Exception):
    """The keys file is missing, unreadable, too open, or not a Vault init result."""


@dataclass(frozen=True)
class KeyCustody:
    path: Path
    pgp: bool = False

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, init_result: dict[str, Any]) -> None:
        """Write the init result (0600) before anything else happens: losing it loses the cluster."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".vault-init.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(init_result | {"pgp": self.pgp}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def record_cluster(self, cluster_id: str) -> None:
        """Remember which cluster these keys belong to (known once the first member unseals)."""
        data = self._load()
        if data.get("cluster_id") != cluster_id:
            self.save({k: v for k, v in data.items() if k != "pgp"} | {"cluster_id": cluster_id})

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            raise CustodyError(f"keys file {self.path} is missing")
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise CustodyError(f"keys file {self.path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise CustodyError(f"keys file {self.path} is not readable JSON: {type(exc).__name__}") from None
        if not isinstance(data, dict) or not data.get("keys_base64") or not data.get("root_token"):
            raise CustodyError(f"keys file {self.path} is not a Vault init result (no keys_base64/root_token)")
        return data

    def cluster_id(self) -> str | None:
        value = self._load().get("cluster_id")
        return str(value) if value else None

    def unseal_keys(self, threshold: int) -> list[str]:
        data = self._load()
        shares = list(data["keys_base64"])
        if len(shares) < threshold:
            raise CustodyError(f"keys file {self.path} holds {len(shares)} shares, {threshold} are needed")
        if data.get("pgp"):
            return [_gpg_decrypt(share, self.path) for share in shares[:threshold]]
        return shares[:threshold]

    def root_token(self) -> str:
        data = self._load()
        token = str(data["root_token"])
        return _gpg_decrypt(token, self.path) if data.get("pgp") else token


def _gpg_decrypt(b64: str, path: Path) -> str:
    try:
        result = subprocess.run(
            ["gpg", "--batch", "--quiet", "--decrypt"], input=base64.b64decode(b64), capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CustodyError(f"cannot run gpg to decrypt a share from {path}: {type(exc).__name__}") from None
    if result.returncode != 0:
        raise CustodyError(f"gpg could not decrypt a share from {path} (is the private key in your keyring?)")
    return result.stdout.decode().strip()
