"""Create the Swarm objects a plan says are missing, before any service is applied.

- Configs in state ``create`` (:attr:`iklim.plan.diff.Plan.configs`): ``POST /configs/create``
  with the bytes of the tree's ``file:`` and the label ``com.docker.stack.namespace=<stack>``, as
  ``docker stack deploy`` creates them (docker/cli ``cli/command/stack/swarm/deploy_composefile.go``
  ``createConfigs``). Configs are immutable (Docker Engine API v1.41 ``ConfigSpec``: only labels
  can be updated), so a name is content-addressed by render and a ``conflict`` is never written.
- Networks in state ``missing``: ``POST /networks/create``, ``overlay``, attachable, swarm scope
  (the runbook's ``docker network create --driver overlay --attachable``). Pre-flight fails on a
  missing network today, so this runs only when the pre-flight is extended to allow it.
- Secrets are never created here: pre-flight refuses a deploy whose secrets are missing, and
  versioned secrets are :mod:`iklim.deploy.secretversions`'s.

Errors: :class:`~iklim.deploy.api.DeployError`, one line naming the object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from iklim.deploy.api import DeployError
from iklim.plan.compose import object_name
from iklim.plan.diff import Plan
from iklim.plan.interpolate import interpolate_all, merge
from iklim.plan.spec import STACK_LABEL


@dataclass(frozen=True)
class ConfigSource:
    """Where a config object's data comes from: its stack and the file (absolute)."""

    stack: str
    path: Path


@dataclass
class Created:
    """What :func:`create_objects` created (names), in order."""

    configs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)


def config_sources(
    root: Path,
    documents: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, ConfigSource]:
    """Config object name -> :class:`ConfigSource`, for every non-external config of ``documents``
    (stack name -> parsed stack file, the lab override merged over it as :func:`iklim.plan.compose.desired_state`
    does). ``file:`` paths are relative to ``root``."""
    out: dict[str, ConfigSource] = {}
    for stack, raw in documents.items():
        document = interpolate_all(merge(raw, (overrides or {}).get(stack) or {}), environ)
        for key, declared in (document.get("configs") or {}).items():
            declared = declared or {}
            if declared.get("external") or not declared.get("file"):
                continue
            out[object_name(stack, key, declared)] = ConfigSource(stack, root / str(declared["file"]))
    return out


def create_objects(
    client: Any,
    plan: Plan,
    sources: Mapping[str, ConfigSource],
    expected_sha256: Mapping[str, str],
    progress: Callable[[str], None],
) -> Created:
    """Create the configs the plan marks ``create`` and the networks it marks ``missing``.

    ``client``: a ``docker.DockerClient`` on a manager; ``expected_sha256``: config name -> the
    sha256 the plan compared (:attr:`iklim.plan.compose.Desired.configs`): a file that changed
    since the plan was made is refused rather than written under the planned name. Returns what was
    created. Raises :class:`DeployError` (a file unreadable or changed, the Engine refusing).
    """
    created = Created()
    for name, state in sorted(plan.configs.items()):
        if state != "create":
            continue
        source = sources.get(name)
        if source is None:
            raise DeployError(f"config {name}: no file in the tree for it")
        try:
            data = source.path.read_bytes()
        except OSError as exc:
            raise DeployError(f"config {name}: {source.path}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != expected_sha256.get(name):
            raise DeployError(f"config {name}: {source.path} changed since the plan was made")
        try:
            client.api.create_config(name, data, labels={STACK_LABEL: source.stack})
        except docker.errors.APIError as exc:
            raise DeployError(f"config {name}: the Engine refused it: {_line(exc)}") from None
        created.configs.append(name)
        progress(f"created config {name}")
    for name, state in sorted(plan.networks.items()):
        if state != "missing":
            continue
        try:
            client.api.create_network(name, driver="overlay", attachable=True, scope="swarm")
        except docker.errors.APIError as exc:
            raise DeployError(f"network {name}: the Engine refused it: {_line(exc)}") from None
        created.networks.append(name)
        progress(f"created network {name}")
    return created


def _line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
