"""Secrets named by content hash: which version of each secret the services should mount. Pure.

Docker secrets are immutable: ``docker secret update`` does not exist and a secret in use cannot
be removed (docs.docker.com/engine/swarm/secrets/#example-rotate-a-secret: "rotate a secret" is
creating a second secret and updating the services to it). So a new value becomes a new secret
named ``<base>_<sha256(value)[:10]>`` (:func:`versioned_name`), mounted at the same file
``/run/secrets/<base>`` (the target keeps the base name, so no entrypoint changes), and a
service's update to it is an ordinary rolling restart that ``iklim plan`` shows.

:func:`resolve_secret_versions` rewrites the desired services' secret references (the rendered
stacks name the base secret, the runbook's ``ensure_secret`` creates it):

- a base secret with a file of the same name in ``secrets_dir`` (the runbook's ``SECRETS_DIR``
  layout: one file per secret, its bytes are the value) -> the versioned name of that value, to
  be created if no secret of that name exists (:func:`create_versions`, with the stack's label);
- otherwise the version (base or versioned) the live service already mounts at that target, so
  an unchanged tree after a rotation plans nothing; a service not yet live mounts the version
  its sibling services mount, else the base name.

The Engine API never returns a secret's data, so a value file is always a rotation unless the
live service already mounts that exact version: put only the secrets to rotate in the folder.
The 10 hex digits (40 bits of sha256) of a 32-byte random value tell nothing of it; a low-entropy
password could be confirmed by a guesser who reads the names, as with any published hash.

:func:`unused_versions` names the versioned secrets of a base that no service mounts any more.
Creating and removing the secret objects (Docker SDK) is :mod:`iklim.deploy.secretversions`; this
module sits in the ``plan`` layer so that ``iklim plan --secrets-dir`` needs nothing above it.
Errors: :class:`SecretVersionError`, one line, never a value.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from iklim.plan.compose import Desired
from iklim.plan.live import Snapshot, live_specs

#: Hex digits of the value's sha256 in a versioned name.
HASH_DIGITS = 10
_VERSION = re.compile(rf"_[0-9a-f]{{{HASH_DIGITS}}}")


class SecretVersionError(ValueError):
    """A value file or a secret object cannot be used; one line naming the file or secret, never its value."""


@dataclass(frozen=True)
class SecretRotation:
    """One base secret moving to a new version.

    ``base``: the secret's name in the stacks (and its file name in the containers);
    ``name``: the versioned name (``<base>_<10 hex>``); ``source``: the value file;
    ``services``: the full service names that mount it (sorted); ``create``: no secret of that
    name exists yet; ``stack``: the stack label the new secret gets.
    """

    base: str
    name: str
    source: Path
    services: tuple[str, ...]
    create: bool
    stack: str

    def value(self) -> bytes:
        """The new value, read from :attr:`source` (raises :class:`SecretVersionError`)."""
        return read_value(self.source)


def versioned_name(base: str, value: bytes) -> str:
    """``<base>_<sha256(value)[:10]>``, e.g. ``redis_password_3f2a9c01de``."""
    return f"{base}_{hashlib.sha256(value).hexdigest()[:HASH_DIGITS]}"


def version_of(name: str, base: str) -> bool:
    """True when ``name`` is ``base`` itself or one of its versioned names."""
    return name == base or (name.startswith(base) and _VERSION.fullmatch(name[len(base) :]) is not None)


def read_value(path: Path) -> bytes:
    """The bytes of a value file (the secret's data as ``docker secret create NAME FILE`` takes it).

    Raises :class:`SecretVersionError` for an unreadable or empty file (Docker refuses empty data)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretVersionError(f"{path}: cannot read the secret's new value: {exc.strerror}") from None
    if not data.strip():
        raise SecretVersionError(f"{path}: empty (a secret needs a value)")
    return data


def value_files(secrets_dir: Path, bases: Iterable[str]) -> dict[str, Path]:
    """Base secret -> its value file in ``secrets_dir`` (hidden files are ignored).

    Raises :class:`SecretVersionError` when the folder is unreadable or holds a file named after
    no secret the tree mounts (a typo would otherwise rotate nothing, silently)."""
    known = set(bases)
    try:
        files = sorted(p for p in secrets_dir.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise SecretVersionError(f"{secrets_dir}: {exc.strerror}") from None
    unknown = [p.name for p in files if p.name not in known]
    if unknown:
        raise SecretVersionError(f"{secrets_dir}: no service of the tree mounts a secret named {', '.join(unknown)}")
    irregular = [p.name for p in files if not p.is_file()]
    if irregular:  # a folder, FIFO or device named after a secret would rotate nothing, silently
        raise SecretVersionError(f"{secrets_dir}: not a regular file: {', '.join(irregular)}")
    return {p.name: p for p in files}


def _live_refs(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    """Service -> secret target -> the secret name it mounts there."""
    return {name: {r["target"]: r["name"] for r in spec["secrets"]} for name, spec in live_specs(snapshot).items()}


def resolve_secret_versions(
    desired: Desired, snapshot: Snapshot | None, secrets_dir: Path | None
) -> tuple[Desired, list[SecretRotation]]:
    """``desired`` with each secret reference at its version, and the rotations it implies.

    ``snapshot``: the live state (:func:`iklim.plan.live.read_snapshot`; None: nothing is live, a
    reference without a value file keeps the base name). Returns a new :class:`Desired` (the
    argument is not changed) whose ``secrets`` maps the resolved names, and one
    :class:`SecretRotation` per base secret with a value file, sorted by base. Raises
    :class:`SecretVersionError`.
    """
    out = copy.deepcopy(desired)
    bases = {ref["name"] for spec in desired.services.values() for ref in spec["secrets"]}
    files = value_files(secrets_dir, bases) if secrets_dir is not None else {}
    new_names = {base: versioned_name(base, read_value(path)) for base, path in files.items()}
    live = _live_refs(snapshot) if snapshot is not None else {}
    existing = {s["name"] for s in snapshot["secrets"]} if snapshot is not None else set()
    mounted_elsewhere: dict[str, str] = {}  # base -> the version some live service of the tree mounts
    for name, refs in live.items():
        if name in desired.services:
            for live_name in refs.values():
                for base in bases:
                    if version_of(live_name, base):
                        mounted_elsewhere.setdefault(base, live_name)
    out.secrets = {}
    users: dict[str, list[str]] = {}
    for name, spec in out.services.items():
        for ref in spec["secrets"]:
            base = ref["name"]
            have = live.get(name, {}).get(ref["target"])
            if base in new_names:
                ref["name"] = new_names[base]
                users.setdefault(base, []).append(name)
            elif have is not None and version_of(have, base):
                ref["name"] = have
            elif name not in live and base in mounted_elsewhere:
                ref["name"] = mounted_elsewhere[base]
            out.secrets.setdefault(ref["name"], []).append(name)
        spec["secrets"] = sorted(spec["secrets"], key=lambda r: (r["target"], r["name"]))
    rotations = [
        SecretRotation(
            base=base,
            name=new_names[base],
            source=files[base],
            services=tuple(sorted(users.get(base, []))),
            create=new_names[base] not in existing,
            stack=desired.stacks[sorted(users[base])[0]] if users.get(base) else "",
        )
        for base in sorted(new_names)
    ]
    return out, rotations


def secret_states(plan_secrets: Mapping[str, str], rotations: Iterable[SecretRotation]) -> dict[str, str]:
    """The plan's secret states with each version to create as ``create`` (not ``missing``)."""
    states = dict(plan_secrets)
    for rotation in rotations:
        if rotation.create and states.get(rotation.name) == "missing":
            states[rotation.name] = "create"
    return states


def unused_versions(snapshot: Snapshot, bases: Iterable[str]) -> list[str]:
    """The versioned secrets (``<base>_<10 hex>``, never a base) of ``bases`` no service mounts."""
    mounted = {r["name"] for spec in live_specs(snapshot).values() for r in spec["secrets"]}
    wanted = list(bases)
    return sorted(
        s["name"]
        for s in snapshot["secrets"]
        if s["name"] not in mounted and any(version_of(s["name"], b) and s["name"] != b for b in wanted)
    )
