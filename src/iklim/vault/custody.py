"""Custody of the unseal keys and root token: one JSON file, mode 0600, written durably.

``sys/init`` returns the only copy of the unseal shares and the root token, so: the path is
proved writable before init (:meth:`KeyCustody.prove_writable`), the result is written with fsync
of the file and its folder, and if that write fails anyway it is rescued to another 0600 file
whose path the error names (:meth:`KeyCustody.save_init`). Reading validates the shapes.

With PGP keys in the model, Vault encrypts each key share (and the root token) to them; the
file then holds ciphertext, and unsealing decrypts each share with the operator's ``gpg``.
Nothing here ever prints a key or a token.
"""

from __future__ import annotations

import base64
import binascii
import json
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iklim.vault.safewrite import prove_writable, rescue_places, why, write_atomic, write_rescue


class CustodyError(Exception):
    """The keys file is missing, unreadable, too open, not a Vault init result, or unwritable."""


@dataclass(frozen=True)
class KeyCustody:
    path: Path
    pgp: bool = False

    def exists(self) -> bool:
        try:
            return self.path.exists()
        except OSError as exc:
            raise CustodyError(f"keys file {self.path} cannot be checked: {why(exc)}") from None

    def prove_writable(self) -> None:
        """Before ``sys/init``: create the folder (0700), write, fsync and remove a probe file.

        Raises CustodyError saying init was refused when the keys file could not be written.
        """
        try:
            prove_writable(self.path)
        except OSError as exc:
            raise CustodyError(
                f"keys file {self.path} cannot be written ({why(exc)}): refusing to initialise "
                "Vault, whose unseal keys and root token would be lost; fix the path or pass --keys-file"
            ) from None

    def save(self, init_result: dict[str, Any]) -> None:
        """Write ``init_result`` (0600) atomically, fsyncing file and folder; CustodyError on failure."""
        try:
            write_atomic(self.path, self._encode(init_result))
        except OSError as exc:
            raise CustodyError(f"keys file {self.path} cannot be written: {why(exc)}") from None

    def save_init(self, init_result: dict[str, Any]) -> None:
        """Save the result of ``sys/init``, which exists nowhere else: never lose it.

        When the keys file cannot be written, the result goes to the first rescue place that takes
        it (:func:`~iklim.vault.safewrite.rescue_places`, 0600) and CustodyError names that file
        and what to do; it is never printed. Only if no place at all takes it does the error say
        the shares are lost.
        """
        try:
            write_atomic(self.path, self._encode(init_result))
            return
        except BaseException as exc:  # noqa: BLE001 - whatever stopped the write, rescue the shares first
            reason = why(exc)
            rescued, failures = write_rescue(self._encode(init_result), rescue_places(self.path))
            if rescued is None:
                raise CustodyError(
                    f"Vault is initialised but its keys could not be written to {self.path} ({reason}) nor to any "
                    f"rescue file ({'; '.join(failures)}): its unseal keys are lost; stop its members, wipe "
                    "their Raft data and bootstrap again"
                ) from None
            raise CustodyError(
                f"Vault is initialised but its keys file {self.path} could not be written ({reason}); the unseal "
                f"keys and root token are in {rescued} (mode 0600): move that file to {self.path} (or pass "
                "--keys-file) and rerun the bootstrap"
            ) from None

    def _encode(self, init_result: dict[str, Any]) -> bytes:
        return json.dumps(dict(init_result) | {"pgp": self.pgp}).encode()

    def record_cluster(self, cluster_id: str) -> None:
        """Remember which cluster these keys belong to (known once the first member unseals)."""
        data = self._load()
        if data.get("cluster_id") != cluster_id:
            self.save({k: v for k, v in data.items() if k != "pgp"} | {"cluster_id": cluster_id})

    def _load(self) -> dict[str, Any]:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            raise CustodyError(f"keys file {self.path} is missing") from None
        except OSError as exc:
            raise CustodyError(f"keys file {self.path} cannot be read: {why(exc)}") from None
        if mode & 0o077:
            raise CustodyError(f"keys file {self.path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise CustodyError(f"keys file {self.path} is not readable JSON: {type(exc).__name__}") from None
        if not isinstance(data, dict) or not data.get("keys_base64") or not data.get("root_token"):
            raise CustodyError(f"keys file {self.path} is not a Vault init result (no keys_base64/root_token)")
        return _validated(data, self.path)

    def cluster_id(self) -> str | None:
        value = self._load().get("cluster_id")
        return str(value) if value else None

    def unseal_keys(self, threshold: int) -> list[str]:
        """``threshold`` unseal keys (base64), decrypted with gpg when the file holds PGP ciphertext."""
        data = self._load()
        shares: list[str] = data["keys_base64"]
        if len(shares) < threshold:
            raise CustodyError(f"keys file {self.path} holds {len(shares)} shares, {threshold} are needed")
        decoded = [_base64(share, f"share {i + 1}", self.path) for i, share in enumerate(shares[:threshold])]
        if data.get("pgp"):
            return [_gpg_decrypt(share, self.path) for share in decoded]
        return shares[:threshold]

    def root_token(self) -> str:
        data = self._load()
        token: str = data["root_token"]
        return _gpg_decrypt(_base64(token, "the root token", self.path), self.path) if data.get("pgp") else token


def _validated(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The shapes a Vault init result has; CustodyError naming the field otherwise."""
    shares = data["keys_base64"]
    if isinstance(shares, str):
        raise CustodyError(f"keys file {path}: keys_base64 is a string, not a list of shares")
    if not isinstance(shares, list) or not all(isinstance(s, str) and s for s in shares):
        raise CustodyError(f"keys file {path}: keys_base64 is not a list of non-empty strings")
    if not isinstance(data["root_token"], str):
        raise CustodyError(f"keys file {path}: root_token is not a string")
    if not isinstance(data.get("pgp", False), bool):
        raise CustodyError(f"keys file {path}: pgp is not true or false")
    if not isinstance(data.get("cluster_id") or "", str):
        raise CustodyError(f"keys file {path}: cluster_id is not a string")
    return data


def _base64(text: str, what: str, path: Path) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CustodyError(f"keys file {path}: {what} is not base64") from None


def _gpg_decrypt(ciphertext: bytes, path: Path) -> str:
    try:
        result = subprocess.run(
            ["gpg", "--batch", "--quiet", "--decrypt"], input=ciphertext, capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CustodyError(f"cannot run gpg to decrypt a share from {path}: {type(exc).__name__}") from None
    if result.returncode != 0:
        raise CustodyError(f"gpg could not decrypt a share from {path} (is the private key in your keyring?)")
    try:
        return result.stdout.decode().strip()
    except UnicodeDecodeError:
        raise CustodyError(f"gpg decrypted a share from {path} to something that is not text") from None
