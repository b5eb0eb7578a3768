"""Secret versions on a Swarm: create the content-hashed secrets a deploy mounts, remove the unused ones.

The naming and the resolution of each service's secret references are pure and live in the
``plan`` layer (:mod:`iklim.plan.secretnames`, re-exported here): ``<base>_<sha256(value)[:10]>``,
mounted at ``/run/secrets/<base>``. Docker secrets are immutable (no ``docker secret update``; a
secret in use cannot be removed: docs.docker.com/engine/swarm/secrets/#example-rotate-a-secret),
so a rotation is a new secret object and a rolling update of the services to it.

- :func:`create_versions` (before the first service is updated): ``POST /secrets/create`` per
  new version, labelled ``com.docker.stack.namespace=<stack>``;
- :func:`remove_versions` (after a successful deploy): ``DELETE /secrets/{id}`` of the names
  :func:`~iklim.plan.secretnames.unused_versions` gives (versioned names no service mounts; a
  base secret is never removed: the runbook and the drill seat name it).

Errors: :class:`~iklim.plan.secretnames.SecretVersionError`, one line, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iklim.plan.secretnames import (
    HASH_DIGITS,
    SecretRotation,
    SecretVersionError,
    read_value,
    resolve_secret_versions,
    secret_states,
    unused_versions,
    value_files,
    version_of,
    versioned_name,
)
from iklim.plan.spec import STACK_LABEL

__all__ = [
    "HASH_DIGITS",
    "SecretRotation",
    "SecretVersionError",
    "create_versions",
    "read_value",
    "remove_versions",
    "resolve_secret_versions",
    "secret_states",
    "unused_versions",
    "value_files",
    "version_of",
    "versioned_name",
]


def create_versions(client: Any, rotations: Iterable[SecretRotation]) -> list[str]:
    """Create each rotation's versioned secret that does not exist yet (``POST /secrets/create``
    through the Docker SDK ``client``, labelled with the stack); returns the names created.

    Raises :class:`SecretVersionError` (the Engine's refusal, one line)."""
    from docker.errors import APIError

    existing = {s.name for s in client.secrets.list()}
    created = []
    for rotation in rotations:
        if rotation.name in existing:
            continue
        labels = {STACK_LABEL: rotation.stack} if rotation.stack else {}
        try:
            client.secrets.create(name=rotation.name, data=rotation.value(), labels=labels)
        except APIError as exc:
            raise SecretVersionError(f"secret {rotation.name}: the Engine refused it: {exc.explanation}") from None
        created.append(rotation.name)
    return created


def remove_versions(client: Any, names: Iterable[str]) -> list[str]:
    """Remove the secrets ``names`` (``DELETE /secrets/{id}``); returns those removed. A secret a
    service mounts again meanwhile is refused by the Engine (409) and kept."""
    from docker.errors import APIError, NotFound

    removed = []
    by_name = {s.name: s for s in client.secrets.list()}
    for name in names:
        secret = by_name.get(name)
        if secret is None:
            continue
        try:
            secret.remove()
        except NotFound:
            continue
        except APIError as exc:
            if exc.status_code == 409:  # in use
                continue
            raise SecretVersionError(f"secret {name}: cannot remove: {exc.explanation}") from None
        removed.append(name)
    return removed
