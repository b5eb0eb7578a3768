"""Run a client on the Swarm lab's first manager, as an operator there would (issue 17's TLS tests).

``in_manager`` runs a command in the manager's network, UTS and mount namespaces through
``iklim swarm-lab shell``; ``other_ca`` makes a CA that signed nothing of the lab's, for the
wrong-CA clients; ``container_secret`` reads a Docker secret where a service's task mounts it (the
runbook keeps no copy of the secrets it generates).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iklim.model.loader import load_environment
from iklim.pki.ca import create_ca
from iklim.swarmlab import paths

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments/prod.yaml")
MANAGER = next(n.name for n in ENV.nodes if n.swarm_role == "manager")


def in_manager(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``argv`` in the manager's namespaces (``swarm-lab shell``), output captured as text."""
    shell = [sys.executable, "-m", "iklim", "swarm-lab", "shell", MANAGER, "--"]
    run: subprocess.CompletedProcess[str] = subprocess.run(
        [*shell, *argv], capture_output=True, text=True, cwd=ROOT, timeout=300, **kwargs
    )
    return run


def other_ca(folder: Path) -> Path:
    """A CA certificate (same key kind and name as the environment's) that signed nothing here."""
    path = folder / "other_ca.crt"
    path.write_bytes(create_ca(f"iklim {ENV.name} internal CA", 30, datetime.now(UTC)).cert)
    return path


def container_secret(manager: Any, service: str, name: str) -> str:
    """The Docker secret ``name`` as ``service``'s running task reads it (``/run/secrets/<name>``),
    through that task's node engine; ``manager`` is a docker client of a manager. Never printed."""
    import docker

    [svc] = [s for s in manager.services.list() if s.name == service]
    hosts: dict[str, str] = {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}
    running = [t for t in svc.tasks(filters={"desired-state": "running"}) if t["Status"]["State"] == "running"]
    assert running, f"{service} has no running task"
    task = running[0]
    engine: Callable[..., Any] = docker.DockerClient
    client = engine(base_url=f"unix://{paths.node_socket(hosts[task['NodeID']])}", timeout=60)
    try:
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        code, output = client.containers.get(cid).exec_run(["cat", f"/run/secrets/{name}"])
    finally:
        client.close()
    assert code == 0, f"{service}: cannot read the secret {name}"
    return str(output.decode()).strip()
