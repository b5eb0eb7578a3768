"""Facts the seed fixes that a rendered tree no longer shows as such (issue 13).

``iklim check`` takes member counts and Grafana's path from the model it finds, so a model that
changes them renders a tree that checks clean. The seed
(``shared/seed/03-production-infrastructure-and-db-stack-model.md``) fixes them, so the model
refuses them here, each at the key it is about:

- "Current Production Services": APISIX runs 3 replicas; RabbitMQ, Vault, PostgreSQL (Patroni),
  MongoDB and etcd are 3-node clusters (Prometheus, Grafana: single instances, refused in
  :mod:`iklim.model.ignored`);
- "Monitoring Persistence": Grafana uses ``/mnt/storagebox/grafana/data`` through
  ``GRAFANA_DATA_DIR``; every StorageBox path lies under the StorageBox mount ``/mnt/storagebox``
  (a path elsewhere is a node-local folder, lost when the service moves to another node).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from iklim.model.schema import Component, Environment, VolumeKind

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]

#: Member counts the seed states (component -> members).
SEED_MEMBERS = {"apisix": 3, "rabbitmq": 3, "vault": 3, "patroni": 3, "mongodb": 3, "etcd": 3}
STORAGEBOX = PurePosixPath("/mnt/storagebox")
GRAFANA_DATA = PurePosixPath("/mnt/storagebox/grafana/data")


def _members(env: Environment) -> Found:
    for name, wanted in SEED_MEMBERS.items():
        spec = getattr(env.services, name)
        if spec.members != wanted:
            yield ("services", name, "members"), f"the seed runs {name} with {wanted} members, not {spec.members}"


def _storagebox(env: Environment) -> Found:
    for name, spec in env.services:
        assert isinstance(spec, Component)
        volume = spec.volume
        if volume is None or volume.kind is not VolumeKind.STORAGEBOX or volume.path is None:
            continue
        path = PurePosixPath(volume.path)
        if path != STORAGEBOX and STORAGEBOX not in path.parents:
            yield (
                ("services", name, "volume", "path"),
                f"{volume.path} is outside the StorageBox mount {STORAGEBOX}: a node-local folder is lost "
                "when the service moves to another node",
            )
        elif name == "grafana" and path != GRAFANA_DATA:
            yield ("services", name, "volume", "path"), f"the seed fixes Grafana's data path to {GRAFANA_DATA}"


def seed_problems(env: Environment) -> list[tuple[Loc, str]]:
    """Every value of ``env`` that differs from what the seed fixes, as (key path, message)."""
    return [*_members(env), *_storagebox(env)]
