"""Form the lab's Swarm: the first manager initialises it, the others join; an existing Swarm is reused.

Advertise, listen and data-path addresses are each node's private address, as on the production
private network; ``--default-addr-pool`` is :data:`.nodes.DEFAULT_ADDR_POOL`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker

from iklim.swarmlab.nodes import DEFAULT_ADDR_POOL, LabError, LabNode, Progress, start_nodes

SWARM_PORT = 2377


@contextmanager
def engine(node: LabNode, timeout: int = 60) -> Iterator[docker.DockerClient]:
    """A Docker SDK client on ``node``'s engine socket, closed afterwards."""
    client = docker.DockerClient(base_url=node.docker_host, timeout=timeout)
    try:
        yield client
    finally:
        client.close()


def _swarm_info(client: docker.DockerClient) -> dict[str, Any]:
    info: dict[str, Any] = client.info().get("Swarm", {})
    return info


def _has_leader(client: docker.DockerClient) -> bool:
    try:
        client.nodes.list()
    except docker.errors.APIError:  # 503 "rpc error ... The swarm does not have a leader"
        return False
    return True


def _rejoined(client: docker.DockerClient, node: LabNode, timeout: float = 120.0) -> dict[str, Any]:
    """``node``'s Swarm info once an existing Swarm (state kept by ``down``) has a leader again.

    An engine restarted with its Swarm state reports ``pending`` while it reconnects, and a manager
    reports ``active`` before the Raft election among the restarted managers (at least one
    election timeout, about 10 s) has given the Swarm a leader; initialising then fails with
    "already part of a swarm". A node with no Swarm state (``inactive``) is returned at once.
    Raises :class:`LabError` when the Swarm is locked, in error, or has no leader in ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        info = _swarm_info(client)
        state = info.get("LocalNodeState")
        if state in ("locked", "error"):
            raise LabError(f"swarm: {node.hostname} is {state}: {info.get('Error') or 'see its engine log'}")
        if state == "inactive" or (state == "active" and info.get("ControlAvailable") and _has_leader(client)):
            return info
        if time.monotonic() > deadline:
            why = f"kept its Swarm state but the Swarm has no leader after {timeout:.0f} s"
            raise LabError(f"swarm: {node.hostname} {why}")
        time.sleep(1)


def first_manager(nodes: list[LabNode]) -> LabNode:
    """The node that initialises the Swarm and runs the runbook: the first manager in model order."""
    for node in nodes:
        if node.manager:
            return node
    raise LabError("the model has no Swarm manager node")


def form_swarm(nodes: list[LabNode], progress: Progress) -> None:
    """Initialise the Swarm on :func:`first_manager` and join the others (idempotent).

    A node already in this Swarm is left alone; a node in another Swarm (stale state) leaves it
    first. Raises :class:`LabError` when a join fails.
    """
    leader = first_manager(nodes)
    with engine(leader) as client:
        info = _rejoined(client, leader)
        if info.get("LocalNodeState") == "active" and info.get("ControlAvailable"):
            progress(f"swarm: reusing the Swarm of {leader.hostname} ({info.get('Cluster', {}).get('ID', '?')})")
        else:
            started = time.monotonic()
            client.swarm.init(
                advertise_addr=leader.ip,
                listen_addr=f"{leader.ip}:{SWARM_PORT}",
                data_path_addr=leader.ip,
                default_addr_pool=[DEFAULT_ADDR_POOL],
                subnet_size=24,
            )
            progress(f"swarm: initialised on {leader.hostname} in {time.monotonic() - started:.1f} s")
        client.swarm.reload()
        tokens = client.swarm.attrs["JoinTokens"]
        members = {n.id for n in client.nodes.list()}
    for node in nodes:
        if node is leader:
            continue
        with engine(node) as client:
            info = _swarm_info(client)
            if info.get("LocalNodeState") in ("active", "pending"):
                if info.get("NodeID") in members:
                    continue
                client.swarm.leave(force=True)
            started = time.monotonic()
            try:
                client.swarm.join(
                    remote_addrs=[f"{leader.ip}:{SWARM_PORT}"],
                    join_token=tokens["Manager" if node.manager else "Worker"],
                    listen_addr=f"{node.ip}:{SWARM_PORT}",
                    advertise_addr=node.ip,
                    data_path_addr=node.ip,
                )
            except docker.errors.APIError as exc:
                raise LabError(f"swarm: {node.hostname} could not join {leader.ip}: {exc.explanation}") from exc
            role = "manager" if node.manager else "worker"
            progress(f"swarm: {node.hostname} joined as {role} in {time.monotonic() - started:.1f} s")


def wait_nodes_ready(nodes: list[LabNode], timeout: float = 60.0) -> None:
    """Wait until the Swarm lists every node ``ready``; raises :class:`LabError` naming the others."""
    leader = first_manager(nodes)
    deadline = time.monotonic() + timeout
    missing: list[str] = [n.hostname for n in nodes]
    streak = 0
    with engine(leader) as client:
        while time.monotonic() < deadline:
            listed = client.nodes.list()
            ready = {n.attrs["Description"]["Hostname"] for n in listed if n.attrs["Status"]["State"] == "ready"}
            missing = [n.hostname for n in nodes if n.hostname not in ready]
            # a restarted leader first reports the stored states, then "unknown" until heartbeats: want 3 in a row
            streak = streak + 1 if not missing and _swarm_info(client).get("ControlAvailable") else 0
            if streak >= 3:
                for stale in listed:  # entries left by a node that left and joined again
                    if stale.attrs["Status"]["State"] == "down" and stale.attrs["Description"]["Hostname"] in ready:
                        stale.remove(force=True)
                return
            time.sleep(0.5)
    raise LabError(f"swarm: not ready after {timeout:.0f} s: {', '.join(missing)}")


TASK_LABEL = "com.docker.swarm.task.id"


def drop_restored_tasks(nodes: list[LabNode], progress: Progress) -> None:
    """Remove the task containers a restarted engine kept, so Swarm starts fresh tasks.

    dockerd 20.10 restarts a task's existing container after an engine restart without the
    task's configs and secrets (the references live only in memory; see moby/moby#44283):
    Prometheus then ran with the image's sample configuration. A new task gets them again.
    Volumes (the clusters' data) are kept. Raises nothing: a container already gone is fine.
    """
    for node in nodes:
        with engine(node) as client:
            stale = client.containers.list(all=True, filters={"label": TASK_LABEL})
            for container in stale:
                with suppress(docker.errors.APIError):
                    container.remove(force=True)
            if stale:
                progress(f"node {node.hostname}: {len(stale)} task containers from before the restart removed")


def nodes_up(nodes: list[LabNode], progress: Progress) -> None:
    """Engines started (or reused) and the Swarm formed (or reused), every node ready.

    Task containers kept by an engine this call restarted are removed first
    (:func:`drop_restored_tasks`).
    """
    drop_restored_tasks(start_nodes(nodes, progress), progress)
    form_swarm(nodes, progress)
    wait_nodes_ready(nodes)
