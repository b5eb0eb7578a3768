"""The whole ``iklim swarm-lab up``: the real runbook on the six nodes, then every available service healthy.

Marked ``swarmlab_full`` (builds or reuses the images, runs ``init-infra-prod.sh``: minutes).
Checked through Docker's API, not through iklim's own status: every task on a node its constraints
allow, every service with replicas running, the override's 0 replicas only on unavailable images.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iklim.swarmlab.nodes import LabNode
from iklim.swarmlab.placement import satisfies
from iklim.swarmlab.standins import UNAVAILABLE
from iklim.swarmlab.swarm import engine, first_manager

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.swarmlab_full
def test_up_runs_the_runbook_to_healthy(swarm_nodes: list[LabNode]) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "swarm-lab", "up", "--timeout", "300"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    by_host = {n.hostname: n for n in swarm_nodes}
    with engine(first_manager(swarm_nodes)) as client:
        hostnames = {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()}
        services = client.services.list()
        assert services
        for service in services:
            spec = service.attrs["Spec"]
            image = spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
            replicas = spec["Mode"]["Replicated"]["Replicas"]
            assert (replicas == 0) == (image in UNAVAILABLE), spec["Name"]
            constraints = spec["TaskTemplate"].get("Placement", {}).get("Constraints", [])
            tasks = service.tasks(filters={"desired-state": "running"})
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            assert len(running) == replicas, spec["Name"]
            for task in running:
                assert satisfies(by_host[hostnames[task["NodeID"]]], constraints), (spec["Name"], task["NodeID"])
