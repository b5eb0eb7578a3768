"""The Swarm lab as a drill target (``iklim drill run --target swarm-lab``).

The same seams as the loopback lab (:mod:`iklim.drill.labseams`: the leader from each cluster's
own API, the workloads built from endpoints and credentials), given the drill seat's context
(:class:`~iklim.drill.swarmseat.SeatContext`: production's addressing, the overlay's names, the
Docker secrets). This process runs in the seat's network namespace (:mod:`iklim.drill.swarmseat`);
faults go through the Docker Engine API of the node that runs the member's task (each node's
engine socket, ``/run/iklim-swarmlab/<hostname>.sock``), as an operator's ``docker -H`` would:

- ``kill``: ``POST /containers/{id}/kill`` (SIGKILL) of the member's running task container, then
  wait until it is no longer running;
- ``stop``: ``POST /containers/{id}/stop`` (SIGTERM, then SIGKILL after the service's
  ``stop_grace_period``, which Swarm set as the container's ``StopTimeout``);
- ``pause``: ``POST /containers/{id}/pause`` (the cgroup freezer: every process of the member
  frozen at once), healed by ``unpause``;
- ``isolate``: iptables rules with a unique comment inside the container's own network namespace
  (:mod:`iklim.drill.nsisolate`), healed by deleting them.

After ``kill`` and ``stop`` Swarm's restart policy (``restart_policy`` in the stack, e.g. Patroni's
delay of ``ttl + loop_wait``) starts a new task; the heal does nothing but wait. ``wait_healthy``
asks for every member's service to run a task whose container Docker reports ``healthy`` (the
stack's own healthcheck) and for the cluster's ``iklim status`` probe (``--target prod``
addressing, from the seat) to say healthy.
Sources: Docker Engine API v1.41 (containers kill/stop/pause/unpause, tasks); Swarm restart
policies (docs.docker.com/reference/compose-file/deploy/#restart_policy).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from iklim.components.target import split_member
from iklim.drill.driver import FAULTS, DrillError, Driver, Observation
from iklim.drill.journal import Entry
from iklim.drill.labseams import SEAMS, Seam
from iklim.drill.nsisolate import COMMENT_PREFIX, IsolateError, isolate, unisolate
from iklim.drill.swarmseat import SeatContext
from iklim.drill.workloads.base import Workload
from iklim.model.schema import Environment
from iklim.swarmlab import paths

#: The faults this target carries out (``isolate`` once the runner offers it: :data:`FAULTS`).
SWARM_FAULTS: tuple[str, ...] = tuple(f for f in ("kill", "stop", "pause", "isolate") if f in FAULTS)
#: Status probe component of each drilled cluster (the catalogue key).
_COMPONENT = {"etcd": "etcd", "patroni": "patroni", "redis": "redis", "rabbitmq": "rabbitmq", "vault": "vault"}


@contextmanager
def _engine(hostname: str, timeout: int = 120) -> Iterator[docker.DockerClient]:
    """A client of ``hostname``'s engine (its socket under the lab's run folder), closed afterwards."""
    client = docker.DockerClient(base_url=f"unix://{paths.node_socket(hostname)}", timeout=timeout)
    try:
        yield client
    finally:
        client.close()


class SwarmLabDriver(Driver):
    target = "swarm-lab"

    def __init__(self, env: Environment, manager: str, context: SeatContext) -> None:
        """``manager``: the hostname of a Swarm manager (its engine answers the Swarm API)."""
        self.env, self.manager, self.context = env, manager, context
        self.seams: dict[str, Seam] = {name: seam(context) for name, seam in SEAMS.items()}
        self._comments: dict[str, str] = {}  # member -> the isolate comment undo_of journaled

    def _seam(self, cluster: str) -> Seam:
        try:
            return self.seams[cluster]
        except KeyError:
            known = ", ".join(self.seams)
            raise DrillError(f"unknown cluster {cluster!r} (swarm-lab drills: {known})") from None

    def clusters(self) -> tuple[str, ...]:
        return tuple(self.seams)

    def service(self, member: str) -> str:
        """The Swarm service of ``member`` (``etcd-1`` -> ``iklimco_etcd-1``; Vault's members are
        in the Vault stack: ``vault-2`` -> ``vault_vault-2``)."""
        stack = self.env.stacks.vault if split_member(member)[0] == "vault" else self.env.stacks.infra
        return f"{stack}_{member}"

    def task_container(self, member: str) -> tuple[str, str]:
        """(node hostname, container id) of ``member``'s running task; raises :class:`DrillError`."""
        with _engine(self.manager, 30) as manager:
            try:
                tasks = manager.api.tasks(filters={"service": self.service(member), "desired-state": "running"})
            except APIError as exc:
                raise DrillError(f"{member}: cannot list the tasks of {self.service(member)}: {exc}") from None
            for task in tasks:
                status = task.get("Status", {})
                cid = (status.get("ContainerStatus") or {}).get("ContainerID")
                if status.get("State") == "running" and cid:
                    node = manager.api.inspect_node(task["NodeID"])
                    return str(node["Description"]["Hostname"]), str(cid)
        raise DrillError(f"{member}: no running task of {self.service(member)}")

    def leader(self, cluster: str) -> str:
        observed = self._seam(cluster).observe(None)
        if observed.leader is None:
            raise DrillError(f"{cluster}: no leader named by the cluster's API (is the Swarm lab up and healthy?)")
        return observed.leader

    def observe(self, cluster: str, old_leader: str) -> Observation:
        try:
            return self._seam(cluster).observe(old_leader)
        except Exception:  # noqa: BLE001 - an observer must never stop a drill
            return Observation(None)

    def undo_of(self, cluster: str, fault: str, member: str) -> Mapping[str, Any]:
        if fault not in SWARM_FAULTS:
            raise DrillError(f"fault {fault!r} is not carried out on the Swarm lab (known: {', '.join(SWARM_FAULTS)})")
        if member not in self._seam(cluster).members():
            raise DrillError(f"{cluster}: {member!r} is not a member")
        node, container = self.task_container(member)
        undo: dict[str, Any] = {"node": node, "container": container, "service": self.service(member)}
        if fault == "pause":
            undo["unpause"] = True
        elif fault == "isolate":
            undo["unisolate"] = self._comments[member] = f"{COMMENT_PREFIX}{uuid.uuid4().hex[:12]}"
        else:  # Swarm's restart policy starts a new task; the heal waits for it
            undo["await_new_task"] = True
        return undo

    def apply(self, cluster: str, fault: str, member: str) -> None:
        node, cid = self.task_container(member)
        try:
            with _engine(node) as engine:
                container = engine.containers.get(cid)
                if fault == "isolate":
                    comment = self._comments.pop(member, "")
                    if not comment:
                        raise DrillError(f"{cluster}: isolate of {member} was not journaled (undo_of first)")
                    isolate(int(container.attrs["State"]["Pid"]), comment)
                    return
                if fault == "pause":
                    container.pause()
                    return
                if fault == "stop":
                    container.stop()  # blocks until stopped (the container's StopTimeout, then SIGKILL)
                else:
                    container.kill()  # SIGKILL
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        container.reload()
                    except NotFound:  # already removed: not running
                        return
                    if not container.attrs["State"]["Running"]:
                        return
                    time.sleep(0.05)
        except (APIError, NotFound, IsolateError) as exc:
            raise DrillError(f"{cluster}: {fault} of {member} on {node} failed: {exc}") from None
        raise DrillError(f"{cluster}: {member} on {node} still running 10 s after {fault}")

    def heal(self, entry: Entry) -> None:
        """Unpause a paused container (gone or already running: nothing to do); a killed or
        stopped member is restarted by Swarm itself, which :meth:`wait_healthy` then waits for."""
        node, cid = str(entry.undo.get("node", "")), str(entry.undo.get("container", ""))
        comment = str(entry.undo.get("unisolate", ""))
        if not (entry.undo.get("unpause") or comment):
            return
        with suppress(NotFound), _engine(node) as engine:
            container = engine.containers.get(cid)
            state = container.attrs["State"]
            if comment and state.get("Running") and state.get("Pid"):
                unisolate(int(state["Pid"]), comment)
            if entry.undo.get("unpause") and state.get("Paused"):
                container.unpause()

    def _unhealthy_members(self, cluster: str) -> list[str]:
        """Members whose service runs no task Docker reports healthy (the stack's healthcheck)."""
        bad = []
        for member in self._seam(cluster).members():
            try:
                node, cid = self.task_container(member)
                with _engine(node, 30) as engine:
                    state = engine.api.inspect_container(cid)["State"]
            except (DrillError, DockerException) as exc:
                bad.append(f"{member}: {str(exc).splitlines()[0]}")
                continue
            health = (state.get("Health") or {}).get("Status", "healthy")
            if state.get("Paused") or health != "healthy":
                bad.append(f"{member}: {'paused' if state.get('Paused') else health}")
        return bad

    def _probe(self, cluster: str) -> tuple[bool, str]:
        """The cluster's ``iklim status`` probe from the seat: (healthy, its words)."""
        from iklim.status.planbuild import plan_of
        from iklim.status.runner import run_probes
        from iklim.status.transport import NetTransport

        component = _COMPONENT[cluster]
        chosen = [c for c in plan_of(self.env, "prod").components if c.name == component]
        reports = run_probes(chosen, NetTransport(), self.context, 3.0)
        if not reports:
            return False, "no probe report"
        return reports[0].status == "healthy", reports[0].reason

    def restart_delay(self, cluster: str) -> float:
        """The longest ``restart_policy.delay`` (seconds) of ``cluster``'s member services: Swarm
        waits that long before it starts a killed member again (Patroni: ``ttl + loop_wait``)."""
        delays = [0.0]
        with _engine(self.manager, 30) as manager:
            for member in self._seam(cluster).members():
                with suppress(DockerException):
                    spec = manager.api.inspect_service(self.service(member))["Spec"]
                    delays.append(int(spec["TaskTemplate"].get("RestartPolicy", {}).get("Delay", 0)) / 1e9)
        return max(delays)

    def wait_healthy(self, cluster: str, timeout: float) -> str:
        """As :meth:`Driver.wait_healthy`; ``timeout`` counts from the end of Swarm's restart delay."""
        self._seam(cluster)
        timeout += self.restart_delay(cluster)
        deadline, words = time.monotonic() + timeout, "not checked yet"
        while True:
            bad = self._unhealthy_members(cluster)
            if bad:
                words = "; ".join(bad)
            else:
                healthy, words = self._probe(cluster)
                if healthy:
                    return words
            if time.monotonic() > deadline:
                raise DrillError(f"{cluster}: not healthy within {timeout:.0f} s: {words}")
            time.sleep(1.0)

    def workload(self, cluster: str, run_id: str) -> Workload:
        return self._seam(cluster).workload(run_id)
