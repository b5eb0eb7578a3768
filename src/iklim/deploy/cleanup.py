"""After a successful deploy: remove the config and secret versions no service references any more.

A candidate is a config or secret that carries the label ``com.docker.stack.namespace`` of one of
the deployed stacks: what ``docker stack deploy``, :mod:`iklim.deploy.objects` (configs) and
:mod:`iklim.deploy.secretversions` (secret versions) put on the objects they create. A name alone
never makes a candidate: another application's ``<name>_<10 hex digits>`` is not ours, and the
runbook's base secrets (unlabelled) stay. It is removed only when no
service's spec references it (every service of the Swarm, not only the stacks': ``GET /services``),
and the Engine itself refuses to remove an object a service uses (Docker Engine API v1.41
``DELETE /configs/{id}``, ``DELETE /secrets/{id}``: 400/409 ``in use``), which is reported, never
forced. Objects of other kinds (e.g. the lab's ``org.iklim.deployed`` records) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker

from iklim.plan.spec import STACK_LABEL


@dataclass
class Cleanup:
    """Names removed, and names kept with why (one line each)."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def referenced(services: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """(config names, secret names) referenced by the specs of ``services`` (``GET /services``)."""
    configs: set[str] = set()
    secrets: set[str] = set()
    for service in services:
        container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        configs.update(str(r.get("ConfigName", "")) for r in container.get("Configs") or [])
        secrets.update(str(r.get("SecretName", "")) for r in container.get("Secrets") or [])
    return configs, secrets


def unused(objects: Iterable[Mapping[str, Any]], used: set[str], stacks: set[str]) -> list[tuple[str, str]]:
    """(ID, name) of the ``objects`` (``GET /configs`` or ``/secrets``) that are candidates and unused."""
    out = []
    for obj in objects:
        spec = obj.get("Spec") or {}
        name = str(spec.get("Name", ""))
        labels = spec.get("Labels") or {}
        ours = labels.get(STACK_LABEL) in stacks
        if ours and name not in used:
            out.append((str(obj["ID"]), name))
    return sorted(out, key=lambda pair: pair[1])


def remove_unused(client: Any, stacks: set[str]) -> Cleanup:
    """Remove the unused versions on the Swarm of ``client`` (a manager's ``docker.DockerClient``).

    ``stacks``: the deployed stacks' names. Never raises for one object: a refusal is kept with its reason.
    Raises ``docker.errors.APIError`` when the lists cannot be read.
    """
    api = client.api
    configs, secrets = referenced(api.services())
    result = Cleanup()
    for kind, objects, used, remove in (
        ("config", api.configs(), configs, api.remove_config),
        ("secret", api.secrets(), secrets, api.remove_secret),
    ):
        for object_id, name in unused(objects, used, stacks):
            try:
                remove(object_id)
            except docker.errors.APIError as exc:
                result.kept.append(f"{kind} {name}: {str(exc.explanation or exc).splitlines()[0]}")
                continue
            result.removed.append(f"{kind} {name}")
    return result
