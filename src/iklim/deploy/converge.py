"""Has a Swarm service converged to its spec? The judgement (pure), its deadline, and the event-driven wait.

Sources: Docker Engine API v1.41 (``GET /services/{id}`` ``UpdateStatus``: ``updating``,
``paused``, ``completed``, ``rollback_started``, ``rollback_paused``, ``rollback_completed``;
``GET /tasks``; ``GET /events``: ``service`` events on a manager, ``container`` events
``start``/``die``/``health_status`` on the engine that runs the task). A Swarm task with a
healthcheck is reported ``running`` only once its container is healthy, and fails when it turns
unhealthy (moby ``daemon/cluster/executor/container/controller.go`` ``Start``/``Wait``), so the
task states carry the health; the node engines' health is read as well where they are reachable.

:func:`judge` decides from one reading: ``converged``, ``waiting`` or ``failed``:

- ``failed``: the update's state is ``paused`` or ``rollback_*`` (Swarm's ``failure_action``
  fired), or a task created since the update is ``failed``/``rejected`` (a new task that fails);
- ``converged``: every task Swarm wants running runs the service's current task spec (swarmkit
  ``IsTaskDirty``), as many as the replicas, each healthy where a healthcheck is declared and,
  when asked, the update this deploy started (when its tasks are replaced) is ``completed``. The
  deploy asks that only at the end (:meth:`~iklim.deploy.apply.EngineApplier.settle`): waiting out
  each member's ``monitor`` window (80-170 s here) before the next member would make a roll of
  the stateful clusters take about 40 minutes, while the next member's hand-over is safe as soon
  as this one runs healthy and its cluster is healthy (the runner checks that).

:func:`wait_converged` re-reads the state on every event of the service (and its containers), with
a ceiling of :data:`RECHECK_S` between readings: the agent reports a task's state to the manager
with no event of its own. The deadline (:func:`deadline_s`) comes from the spec: per batch of
``parallelism`` tasks, the stop grace period + :data:`START_S` + the healthcheck's
``start_period + retries x interval`` + ``update_config.monitor`` + ``delay``.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

from iklim.deploy.api import DeployError

#: UpdateStatus states that mean Swarm gave up on the update (Engine API v1.41 ``UpdateStatus.State``).
FAILED_UPDATE = frozenset({"paused", "rollback_started", "rollback_paused", "rollback_completed"})
#: Task states of a task that will not run (Engine API ``TaskState``).
FAILED_TASK = frozenset({"failed", "rejected"})
#: Seconds allowed per task for the image to be there and the process to start.
START_S = 30.0
#: Longest gap between two readings when no event arrives (seconds).
RECHECK_S = 2.0
_S = 1e9
#: The engine's defaults (docs.docker.com/reference/dockerfile/#healthcheck, docker service create).
_HEALTH_DEFAULTS = {"Interval": 30 * _S, "Retries": 3, "StartPeriod": 0}
_MONITOR_DEFAULT_S = 5.0
_GRACE_DEFAULT_S = 10.0

Verdict = Literal["converged", "waiting", "failed"]


@dataclass(frozen=True)
class Reading:
    """One judgement: the verdict and a one-line reason."""

    verdict: Verdict
    words: str


def deadline_s(spec: Mapping[str, Any]) -> float:
    """Seconds a converging update of ``spec`` (an Engine API ``ServiceSpec``) may take at most."""
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    update = spec.get("UpdateConfig") or {}
    health = container.get("Healthcheck") or {}
    grace = float(container.get("StopGracePeriod", _GRACE_DEFAULT_S * _S)) / _S
    window = 0.0
    if health.get("Test") and health["Test"][:1] != ["NONE"]:
        value = {k: health.get(k) or d for k, d in _HEALTH_DEFAULTS.items()}
        window = (float(value["StartPeriod"]) + float(value["Retries"]) * float(value["Interval"])) / _S
    monitor = float(update.get("Monitor") or _MONITOR_DEFAULT_S * _S) / _S
    delay = float(update.get("Delay") or 0) / _S
    replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1))
    parallelism = int(update.get("Parallelism", 1) or 0)
    batches = 1 if parallelism == 0 else max(1, math.ceil(replicas / parallelism))
    return batches * (grace + START_S + window + monitor + delay)


def _ns_time(stamp: str) -> tuple[str, int]:
    """An RFC 3339 timestamp with nanoseconds as a comparable (seconds part, nanoseconds)."""
    stamp = stamp.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    return whole, int((fraction + "000000000")[:9]) if fraction else 0


def current(task: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Whether ``task`` runs ``template`` (the service's ``TaskTemplate``; the daemon adds ``Runtime``
    to the service's copy only)."""
    strip = {k: v for k, v in template.items() if k != "Runtime"}
    return {k: v for k, v in (task.get("Spec") or {}).items() if k != "Runtime"} == strip


def judge(
    service: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    since: str,
    expect_update: str | None,
    health: Callable[[Mapping[str, Any]], str | None] = lambda task: None,
    completed: bool = True,
    keeps_tasks: bool = False,
) -> Reading:
    """The verdict on ``service`` (``GET /services/{id}``) and its ``tasks`` (``GET /tasks``).

    ``since``: the service's ``UpdatedAt`` after this deploy's call (tasks created before it are
    history); ``expect_update``: None when the change replaces no task, else the
    ``UpdateStatus.StartedAt`` seen before the call ("" for none) -- an update Swarm starts for
    this change has another. ``health``: a task -> its container's health (``healthy``,
    ``unhealthy``, ``starting``) or None when it cannot be read. ``completed``: also wait for
    Swarm's update to be ``completed`` (the end of its ``monitor`` window); False: converged once
    the new tasks run healthy (:meth:`iklim.deploy.apply.EngineApplier.settle` waits for the
    windows of every applied service at the end, together). ``keeps_tasks``: a change Swarm applies
    without replacing tasks (a placement constraint every running task's node still meets:
    swarmkit's ``IsTaskDirtyPlacementConstraintsOnly``): the running tasks keep their old spec and
    count as current (found on the Swarm lab: such a deploy waited for a new task until its deadline).
    """
    spec = service["Spec"]
    name = spec.get("Name", "")
    status = service.get("UpdateStatus") or {}
    ours = expect_update is not None and bool(status) and status.get("StartedAt", "") != expect_update
    if ours and status.get("State") in FAILED_UPDATE:
        return Reading("failed", f"{name}: update {status['State']}: {status.get('Message', '')}".rstrip(": "))
    template = spec.get("TaskTemplate") or {}
    after = _ns_time(since)
    for task in tasks:
        state = (task.get("Status") or {}).get("State", "")
        if state in FAILED_TASK and _ns_time(str(task.get("CreatedAt", ""))) >= after and current(task, template):
            err = (task.get("Status") or {}).get("Err") or (task.get("Status") or {}).get("Message", "")
            return Reading("failed", f"{name}: a new task {state}: {err}")
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    replicated = (spec.get("Mode") or {}).get("Replicated")
    replicas = int(replicated.get("Replicas", 1)) if replicated is not None else len(wanted)
    stale = [] if keeps_tasks else [t for t in wanted if not current(t, template)]
    starting = [t for t in wanted if (t.get("Status") or {}).get("State") != "running"]
    if stale or starting or len(wanted) != replicas:
        return Reading(
            "waiting", f"{name}: {len(wanted) - len(stale) - len(starting)}/{replicas} tasks of the new spec running"
        )
    declared = (template.get("ContainerSpec") or {}).get("Healthcheck") or {}
    if declared.get("Test") and declared["Test"][:1] != ["NONE"]:
        for task in wanted:
            seen = health(task)
            if seen is not None and seen != "healthy":
                return Reading("waiting", f"{name}: task {task.get('ID', '')[:12]} {seen}")
    if replicas == 0 and not wanted:  # no task to update: Swarm starts no update (nothing to wait for)
        return Reading("converged", f"{name}: 0 tasks wanted, version {service['Version']['Index']}")
    if completed and expect_update is not None and (not ours or status.get("State") != "completed"):
        return Reading("waiting", f"{name}: update {status.get('State', 'not started') if ours else 'not started'}")
    return Reading("converged", f"{name}: {replicas} task(s) of version {service['Version']['Index']} running")


class EventWatch:
    """Event streams (``GET /events``) that wake :meth:`wait` up; one thread per stream, closed by :meth:`close`.

    ``streams``: (client, filters) pairs, e.g. the manager with ``{"type": ["service"], "service":
    [name]}`` and each node engine with ``{"type": ["container"], "event": ["start", "die",
    "health_status"], "label": ["com.docker.swarm.service.name=<name>"]}``. A stream that cannot be
    opened is skipped (the re-check ceiling still applies).
    """

    def __init__(self, streams: Iterable[tuple[Any, Mapping[str, Any]]]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._streams: list[Any] = []
        for client, filters in streams:
            with suppress(Exception):
                stream = client.api.events(filters=dict(filters), decode=True)
                self._streams.append(stream)
                threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        with suppress(Exception):
            for event in stream:
                action = str(event.get("Action", event.get("status", "")))
                self._queue.put(action)

    def wait(self, timeout: float) -> str | None:
        """The next event's action, or None after ``timeout`` seconds without one."""
        try:
            return self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        for stream in self._streams:
            with suppress(Exception):
                stream.close()


def wait_converged(
    read: Callable[[], Reading],
    watch: EventWatch,
    deadline: float,
    progress: Callable[[str], None],
) -> Reading:
    """Re-read with ``read`` on every event of ``watch`` (at least every :data:`RECHECK_S`) until
    converged. ``deadline``: seconds. Returns the converged reading; raises :class:`DeployError`
    for a failed one or at the deadline (with the last reading's words)."""
    end = time.monotonic() + deadline
    last = ""
    while True:
        reading = read()
        if reading.verdict == "failed":
            raise DeployError(reading.words)
        if reading.verdict == "converged":
            return reading
        if reading.words != last:
            progress(f"  {reading.words}")
            last = reading.words
        left = end - time.monotonic()
        if left <= 0:
            raise DeployError(f"not converged within {deadline:.0f} s: {reading.words}")
        watch.wait(min(RECHECK_S, left))
