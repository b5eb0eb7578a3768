"""A one-shot service whose task has ended is not waited for: ``swarm-lab up`` once waited 300 s
for a drill seat (restart condition ``none``) that a killed drill had left behind, and failed."""

from __future__ import annotations

import time

import docker
from docker.types import RestartPolicy

from iklim.swarmlab.nodes import LabNode
from iklim.swarmlab.services import ServiceState, service_states, wait_healthy
from iklim.swarmlab.swarm import engine, first_manager
from tests.swarmlab.conftest import load_sleep_image

ONESHOT = "iklim-test-oneshot"
KEPT = "iklim-test-restarted"


def _state(client: docker.DockerClient, name: str) -> ServiceState:
    return next(s for s in service_states(client) if s.name == name)


def test_an_ended_one_shot_service_is_not_waited_for(swarm_nodes: list[LabNode]) -> None:
    manager = first_manager(swarm_nodes)
    image = load_sleep_image(manager)
    with engine(manager) as client:
        for name in (ONESHOT, KEPT):
            for old in client.services.list(filters={"name": name}):
                old.remove()
        placed = [f"node.hostname=={manager.hostname}"]
        oneshot = client.services.create(
            image, command=["sleep", "0"], name=ONESHOT, constraints=placed, restart_policy=RestartPolicy("none")
        )
        kept = client.services.create(
            image,
            command=["sleep", "0"],
            name=KEPT,
            constraints=placed,
            restart_policy=RestartPolicy("any", delay=3_600_000_000_000),
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _state(client, ONESHOT).ended:
                time.sleep(0.5)
            assert _state(client, ONESHOT).ended, _state(client, ONESHOT)
            # Restarted by Swarm (after an hour's delay): still the system's, still waited for.
            assert not _state(client, KEPT).ended
            bad = wait_healthy(swarm_nodes, 5, lambda line: None)
            names = {s.name for s in bad}
            assert ONESHOT not in names
            assert KEPT in names
        finally:
            oneshot.remove()
            kept.remove()
