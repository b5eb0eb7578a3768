"""``EngineApplier``: :class:`~iklim.deploy.api.ServiceApplier` through the Docker Engine API.

:meth:`EngineApplier.apply` builds the service's spec (:func:`iklim.deploy.engine.engine_spec`,
over the live raw spec), sends it with the version index it was read at (``POST
/services/{id}/update?version=N``; the Engine refuses a stale index: ``update out of sequence``)
or creates the service (``POST /services/create``), then waits for convergence
(:mod:`iklim.deploy.converge`). A spec identical to the live one is not sent (every update bumps
the version index, and an unchanged tree must change no version). A ``recreate`` (a mode change
the Engine refuses in place) removes the service and creates it.

:meth:`EngineApplier.rollback` re-applies the raw spec saved before this deploy's update (the
same as ``docker service rollback``, which swaps in ``PreviousSpec``; re-sending the saved spec
also covers a service updated twice), and waits for convergence; a service this deploy created
is removed (``DELETE /services/{id}``). Sources: Docker Engine API v1.41, services
create/update/delete, ``ServiceSpec``; docs.docker.com/engine/swarm/services/ (roll back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

import docker

from iklim.deploy.api import DeployError, ServiceApplier
from iklim.deploy.converge import EventWatch, Reading, deadline_s, judge, wait_converged
from iklim.deploy.engine import engine_spec, ids_from_engine
from iklim.plan.compose import Desired
from iklim.plan.diff import Plan

#: The label the engine puts on a task's container: its service's name (moby daemon/cluster/executor).
SERVICE_NAME_LABEL = "com.docker.swarm.service.name"


def _line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A ``ServiceSpec`` as the SDK's ``create_service``/``update_service`` keyword arguments."""
    return {
        "task_template": spec["TaskTemplate"],
        "name": spec["Name"],
        "labels": spec.get("Labels"),
        "mode": spec.get("Mode"),
        "update_config": spec.get("UpdateConfig"),
        "rollback_config": spec.get("RollbackConfig"),
        "endpoint_spec": spec.get("EndpointSpec"),
    }


def replaces_tasks(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether going from ``old`` to ``new`` (raw specs) replaces tasks (swarmkit ``IsTaskDirty``:
    the task template or the endpoint spec differ; the daemon's ``Runtime`` aside)."""

    def part(spec: Mapping[str, Any]) -> str:
        task = {k: v for k, v in (spec.get("TaskTemplate") or {}).items() if k != "Runtime"}
        return json.dumps([task, spec.get("EndpointSpec") or {}], sort_keys=True)

    return part(old) != part(new)


class EngineApplier(ServiceApplier):
    """Applies ``desired`` services on the Swarm whose manager ``client`` is (a ``docker.DockerClient``).

    ``nodes``: hostname -> a client of that node's engine (the lab: every node's socket; production:
    only the manager's own), for container events and health; ``plan``: the plan the deploy carries
    out (a ``metadata-only`` service replaces no task; its constraint-only change keeps its tasks);
    ``progress``: one line per step.
    """

    def __init__(
        self,
        client: Any,
        desired: Desired,
        plan: Plan,
        nodes: Mapping[str, Any],
        progress: Callable[[str], None],
    ) -> None:
        self.client = client
        self.desired = desired
        self.actions = {s.name: s.action for s in plan.services}
        self.nodes = dict(nodes)
        self.progress = progress
        self.previous: dict[str, dict[str, Any]] = {}
        self.created: set[str] = set()
        #: service -> the UpdateStatus.StartedAt before this deploy's update, and the spec sent (:meth:`settle`).
        self.updates: dict[str, str] = {}
        self.desired_engine: dict[str, Mapping[str, Any]] = {}

    def _inspect(self, service: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.client.api.inspect_service(service)
            return found
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise DeployError(f"{service}: cannot read it: {_line(exc)}") from None

    def apply(self, service: str) -> int:
        if service not in self.desired.services:
            raise DeployError(f"{service}: not in the rendered tree")
        live = self._inspect(service)
        try:
            ids = ids_from_engine(self.client)
        except docker.errors.APIError as exc:
            raise DeployError(f"{service}: cannot list the objects: {_line(exc)}") from None
        spec = engine_spec(service, self.desired.services[service], ids, live["Spec"] if live else None)
        if live is not None and spec == live["Spec"]:
            self.progress(f"{service}: unchanged, version {live['Version']['Index']} kept")
            return int(live["Version"]["Index"])
        if live is None or self.actions.get(service) == "recreate":
            if live is not None:
                self.previous[service] = live["Spec"]
                self._remove(service)
            else:
                self.created.add(service)
            self._create(service, spec)
            return self._converge(service, spec, None)
        self.previous.setdefault(service, live["Spec"])
        expect = (live.get("UpdateStatus") or {}).get("StartedAt", "")
        tasks = replaces_tasks(live["Spec"], spec) and self.actions.get(service) != "metadata-only"
        self._update(service, live, spec)
        if tasks:
            self.updates[service], self.desired_engine[service] = expect, spec
        keeps = self.actions.get(service) == "metadata-only"
        return self._converge(service, spec, expect if tasks else None, keeps_tasks=keeps)

    def rollback(self, service: str) -> None:
        live = self._inspect(service)
        if service in self.created and service not in self.previous:
            if live is not None:
                self._remove(service)
            self.progress(f"{service}: removed (this deploy created it)")
            return
        previous = self.previous.get(service)
        if previous is None:
            self.progress(f"{service}: nothing to roll back (not applied by this deploy)")
            return
        if live is None or (previous.get("Mode") or {}).keys() != (live["Spec"].get("Mode") or {}).keys():
            if live is not None:
                self._remove(service)
            self._create(service, previous)
            self._converge(service, previous, None)
            return
        if live["Spec"] == previous:
            self.progress(f"{service}: already at its previous spec")
        else:
            expect = (live.get("UpdateStatus") or {}).get("StartedAt", "")
            self._update(service, live, previous)
            keeps = self.actions.get(service) == "metadata-only"
            tasks = replaces_tasks(live["Spec"], previous) and not keeps
            self._converge(service, previous, expect if tasks else None, keeps_tasks=keeps)
        self.progress(f"{service}: rolled back")

    def _create(self, service: str, spec: Mapping[str, Any]) -> None:
        try:
            self.client.api.create_service(**_kwargs(spec))
        except docker.errors.APIError as exc:
            raise DeployError(f"{service}: the Engine refused the create: {_line(exc)}") from None
        self.progress(f"{service}: created")

    def _remove(self, service: str) -> None:
        with suppress(docker.errors.NotFound):
            try:
                self.client.api.remove_service(service)
            except docker.errors.APIError as exc:
                raise DeployError(f"{service}: the Engine refused the removal: {_line(exc)}") from None

    def _update(self, service: str, live: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        version = int(live["Version"]["Index"])
        try:
            self.client.api.update_service(live["ID"], version, fetch_current_spec=False, **_kwargs(spec))
        except docker.errors.APIError as exc:
            raise DeployError(f"{service}: the Engine refused the update at version {version}: {_line(exc)}") from None
        self.progress(f"{service}: updated from version {version}")

    def _health(self, hostnames: Mapping[str, str]) -> Callable[[Mapping[str, Any]], str | None]:
        def health(task: Mapping[str, Any]) -> str | None:
            engine = self.nodes.get(hostnames.get(str(task.get("NodeID", "")), ""))
            container = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if engine is None or not container:
                return None
            try:
                state = engine.api.inspect_container(container)["State"]
            except docker.errors.DockerException:
                return None
            return str((state.get("Health") or {}).get("Status", "")) or None

        return health

    def settle(self, services: Sequence[str]) -> None:
        """Wait until Swarm's update of each of ``services`` (those :meth:`apply` replaced tasks of)
        has ``completed``: its ``update_config.monitor`` window passed without the tasks failing.
        Raises :class:`DeployError` naming the first whose update Swarm paused or rolled back, or
        that did not complete within its deadline. The windows run concurrently, so this costs
        about the longest window left, not their sum."""
        for service in services:
            expect = self.updates.get(service)
            if expect is None:
                continue
            spec = self.desired_engine.get(service)
            if spec is None:
                continue
            self._converge(service, spec, expect, completed=True)

    def _converge(
        self,
        service: str,
        spec: Mapping[str, Any],
        expect_update: str | None,
        completed: bool = False,
        keeps_tasks: bool = False,
    ) -> int:
        """Wait until ``service`` runs ``spec`` (and, with ``completed``, Swarm's update of it has
        completed); returns its version index. Raises DeployError."""
        after = self._inspect(service)
        if after is None:
            raise DeployError(f"{service}: gone after it was applied")
        since = str(after.get("UpdatedAt", ""))
        hostnames = {n["ID"]: n["Description"]["Hostname"] for n in self.client.api.nodes()}
        health = self._health(hostnames)
        streams: list[tuple[Any, Mapping[str, Any]]] = [(self.client, {"type": ["service"], "service": [service]})]
        label = f"{SERVICE_NAME_LABEL}={service}"
        filters = {"type": ["container"], "event": ["start", "die", "health_status"], "label": [label]}
        streams += [(engine, filters) for engine in self.nodes.values()]
        watch = EventWatch(streams)
        state: dict[str, Any] = {}

        def read() -> Reading:
            try:
                found = self.client.api.inspect_service(service)
                tasks = self.client.api.tasks(filters={"service": service})
            except docker.errors.APIError as exc:
                return Reading("waiting", f"{service}: cannot read it: {_line(exc)}")
            state["version"] = int(found["Version"]["Index"])
            return judge(found, tasks, since, expect_update, health, completed, keeps_tasks)

        try:
            deadline = deadline_s(spec)
            reading = wait_converged(read, watch, deadline, self.progress)
        finally:
            watch.close()
        self.progress(f"{service}: converged ({reading.words.split(': ', 1)[-1]})")
        return int(state.get("version", after["Version"]["Index"]))
