"""The lab Swarm's services as the manager sees them: replicas, health, last task error, log tail.

A Swarm task with a healthcheck stays ``starting`` until the check has passed once, then is
``running`` (and Swarm kills it if it turns unhealthy), so "running" below means "started and
healthy once". :func:`container_health` asks the task's own node for the current health.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker

from iklim.swarmlab.nodes import LabNode, Progress
from iklim.swarmlab.swarm import engine, first_manager


@dataclass(frozen=True)
class ServiceState:
    """One service: ``desired``/``running`` replicas, the newest failed task's error (``""`` if none)."""

    name: str
    image: str
    desired: int
    running: int
    error: str
    nodes: tuple[str, ...]
    #: A one-shot service (restart condition ``none``, or a Swarm job) none of whose tasks is meant
    #: to run any more: Swarm will not start it again, so nobody waits for it (a drill seat that a
    #: killed drill left behind, whose task ended when its node's engine restarted).
    ended: bool = False

    @property
    def ok(self) -> bool:
        return self.running >= self.desired


def _desired(spec: Mapping[str, Any]) -> int:
    mode = spec.get("Mode", {})
    if "Replicated" in mode:
        return int(mode["Replicated"].get("Replicas", 0))
    return -1  # global: checked as "every running task", see service_states


def _one_shot(spec: Mapping[str, Any]) -> bool:
    """True for a service Swarm does not restart: restart condition ``none`` or a job mode
    (docs.docker.com/reference/cli/docker/service/create/#restart-policy, ``--mode replicated-job``)."""
    mode = spec.get("Mode", {})
    condition = (spec.get("TaskTemplate", {}).get("RestartPolicy") or {}).get("Condition", "any")
    return condition == "none" or "ReplicatedJob" in mode or "GlobalJob" in mode


def service_states(client: docker.DockerClient) -> list[ServiceState]:
    """Every service of the Swarm, sorted by name."""
    hostnames = {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()}
    states = []
    for service in client.services.list():
        spec = service.attrs["Spec"]
        tasks = service.tasks()
        live = [t for t in tasks if t["DesiredState"] == "running"]
        running = [t for t in live if t["Status"]["State"] == "running"]
        desired = _desired(spec)
        if desired < 0:
            desired = max(len(live), 1)
        failed = sorted(
            (t for t in tasks if t["Status"].get("Err") or t["Status"]["State"] in ("failed", "rejected")),
            key=lambda t: str(t["Status"].get("Timestamp", "")),
        )
        error = ""
        if failed:
            last = failed[-1]["Status"]
            error = f"{last['State']}: {last.get('Err') or last.get('Message', '')}"
        elif live and not running:
            status = live[-1]["Status"]
            error = f"{status['State']}: {status.get('Err') or status.get('Message', '')}"
        oneshot = _one_shot(spec)
        states.append(
            ServiceState(
                ended=oneshot and not live,
                name=spec["Name"],
                image=spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@", 1)[0],
                desired=desired,
                running=len(running),
                error=error,
                nodes=tuple(sorted(hostnames.get(t.get("NodeID", ""), "?") for t in running)),
            )
        )
    return sorted(states, key=lambda s: s.name)


def log_tail(client: docker.DockerClient, service: str, lines: int = 20) -> str:
    """The last ``lines`` log lines of ``service``'s tasks (stdout and stderr), as text."""
    try:
        chunks = client.services.get(service).logs(stdout=True, stderr=True, tail=lines, timestamps=False)
        return b"".join(chunks).decode(errors="replace").rstrip()
    except docker.errors.DockerException as exc:
        return f"(no logs: {exc})"


def wait_healthy(nodes: list[LabNode], timeout: float, progress: Progress) -> list[ServiceState]:
    """Poll until every service has all desired tasks running; returns the services that never did.

    A one-shot service whose tasks have all ended (:attr:`ServiceState.ended`) is not waited for.
    """
    deadline = time.monotonic() + timeout
    reported = ""
    with engine(first_manager(nodes)) as client:
        while True:
            states = [s for s in service_states(client) if not s.ended]
            bad = [s for s in states if not s.ok]
            summary = f"{len(states) - len(bad)}/{len(states)} services healthy"
            if bad:
                summary += f"; waiting for {', '.join(s.name for s in bad[:6])}{' ...' if len(bad) > 6 else ''}"
            if summary != reported:
                progress(summary)
                reported = summary
            if not bad or time.monotonic() > deadline:
                return bad
            time.sleep(2)


def container_health(nodes: list[LabNode], service: str) -> list[str]:
    """``<hostname>: <health>`` of each running container of ``service``, asked of its node's engine."""
    found = []
    for node in nodes:
        try:
            with engine(node, timeout=10) as client:
                for c in client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}"}):
                    health = c.attrs["State"].get("Health", {}).get("Status", "no healthcheck")
                    found.append(f"{node.hostname}: {health}")
        except docker.errors.DockerException:
            continue
    return found
