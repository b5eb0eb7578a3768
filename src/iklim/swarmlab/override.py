"""The lab override: a second compose file per stack, added by the ``docker`` shim after the real one.

It sets, per service, only what this machine forces and nothing else:

- ``deploy.endpoint_mode: dnsrr``: the kernel has no IPVS, so Swarm's VIP load balancing (the
  default ``vip``) answers DNS but drops connections. Both stacks publish only in ``mode: host``,
  which works with dnsrr.
- ``deploy.replicas: 0`` for a service whose image is in :data:`.standins.UNAVAILABLE` (no binary
  can be had here); ``swarm-lab status`` says "image not available here" for it.

The override is rendered from the stack files the runbook deploys (``render.stacks.STACK_FILES``
at the repository root) into :data:`.paths.OVERRIDES`, never into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from iklim.render.stacks import STACK_FILES
from iklim.swarmlab import paths
from iklim.swarmlab.standins import UNAVAILABLE


def override_path(stack_file: str) -> Path:
    """Where the override of ``stack_file`` (a root stack file name) is written."""
    return paths.OVERRIDES / f"{Path(stack_file).stem}.lab.yml"


def override_for(stack: Mapping[str, Any], unavailable: Mapping[str, str] = UNAVAILABLE) -> dict[str, Any]:
    """The override document of one parsed stack: ``{"version": ..., "services": {name: {"deploy": ...}}}``.

    ``stack``: the stack file as parsed YAML. ``unavailable``: image reference -> reason.
    """
    services: dict[str, Any] = {}
    declared = stack.get("services") or {}
    for name, service in declared.items() if isinstance(declared, Mapping) else ():
        if not isinstance(service, Mapping):  # the conversion refuses it, naming the service
            continue
        deploy: dict[str, Any] = {"endpoint_mode": "dnsrr"}
        if service.get("image") in unavailable:
            deploy["replicas"] = 0
        services[name] = {"deploy": deploy}
    return {"version": stack.get("version", "3.9"), "services": services}


def stack_documents(repo: Path) -> dict[str, dict[str, Any]]:
    """Each root stack file of ``repo`` parsed, by file name; raises OSError/yaml.YAMLError."""
    documents = {}
    for name in STACK_FILES.values():
        documents[name] = yaml.safe_load((repo / name).read_text())
    return documents


def write_overrides(repo: Path) -> list[Path]:
    """Render the override of each root stack file of ``repo`` (atomically); returns the written paths."""
    paths.OVERRIDES.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in stack_documents(repo).items():
        target = override_path(name)
        text = "# Swarm lab only: see iklim.swarmlab.override. Never deployed to production.\n"
        text += yaml.safe_dump(override_for(document), sort_keys=False)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
        written.append(target)
    return written
