"""The convergence judgement on Engine API readings: each verdict, and the deadline from the spec."""

from __future__ import annotations

from typing import Any

import pytest

from iklim.deploy.api import DeployError
from iklim.deploy.converge import EventWatch, Reading, deadline_s, judge, wait_converged

TEMPLATE = {"ContainerSpec": {"Image": "redis:7", "Healthcheck": {"Test": ["CMD", "true"]}}, "Runtime": "container"}
OLD = {"ContainerSpec": {"Image": "redis:6"}}
SINCE = "2026-11-30T20:00:00.5Z"


def _service(state: str | None = None, started: str = "", replicas: int = 1) -> dict[str, Any]:
    service: dict[str, Any] = {
        "Spec": {"Name": "s", "TaskTemplate": TEMPLATE, "Mode": {"Replicated": {"Replicas": replicas}}},
        "Version": {"Index": 12},
    }
    if state is not None:
        service["UpdateStatus"] = {"State": state, "StartedAt": started, "Message": "update paused due to failure"}
    return service


def _task(
    spec: dict[str, Any], state: str, desired: str = "running", created: str = "2026-11-30T20:00:01Z"
) -> dict[str, Any]:
    task_spec = {k: v for k, v in spec.items() if k != "Runtime"}
    return {"ID": "t" * 25, "Spec": task_spec, "DesiredState": desired, "CreatedAt": created,
            "Status": {"State": state, "Err": "task: non-zero exit (1)"}}  # fmt: skip


def test_converged_when_the_new_task_runs_healthy_and_the_update_completed() -> None:
    reading = judge(_service("completed", "B"), [_task(TEMPLATE, "running")], SINCE, "A", lambda t: "healthy")
    assert reading.verdict == "converged"


@pytest.mark.parametrize(
    ("service", "tasks", "expect", "health", "verdict"),
    [
        (_service("completed", "A"), [_task(TEMPLATE, "running")], "A", "healthy", "waiting"),  # update not started yet
        (_service("updating", "B"), [_task(OLD, "running")], "A", "healthy", "waiting"),  # old task still running
        (_service("completed", "B"), [_task(TEMPLATE, "running")], "A", "starting", "waiting"),  # not healthy yet
        (_service("completed", "B", replicas=2), [_task(TEMPLATE, "running")], "A", "healthy", "waiting"),
        (_service("paused", "B"), [_task(OLD, "running")], "A", "healthy", "failed"),
        (_service("rollback_completed", "B"), [_task(OLD, "running")], "A", "healthy", "failed"),
        (_service("paused", "A"), [_task(TEMPLATE, "running")], None, "healthy", "converged"),  # an old pause
        (_service("updating", "B"), [_task(TEMPLATE, "failed", "shutdown")], "A", None, "failed"),  # new task fails
        (_service(None), [_task(TEMPLATE, "failed", "shutdown", "2026-11-30T20:00:00.1Z"), _task(TEMPLATE, "running")],
         None, "healthy", "converged"),  # a failure from before the update is history
        (_service("completed", "A", replicas=0), [], "A", None, "converged"),  # no task: Swarm starts no update
    ],
)  # fmt: skip
def test_verdicts(
    service: dict[str, Any], tasks: list[dict[str, Any]], expect: str | None, health: str | None, verdict: str
) -> None:
    assert judge(service, tasks, SINCE, expect, lambda t: health).verdict == verdict


def test_deadline_counts_grace_health_monitor_and_delay_per_batch() -> None:
    s = 1_000_000_000
    spec = {
        "TaskTemplate": {"ContainerSpec": {"StopGracePeriod": 60 * s, "Healthcheck": {
            "Test": ["CMD", "x"], "Interval": 10 * s, "Retries": 5, "StartPeriod": 120 * s}}},
        "UpdateConfig": {"Parallelism": 1, "Delay": 30 * s, "Monitor": 60 * s},
        "Mode": {"Replicated": {"Replicas": 2}},
    }  # fmt: skip
    assert deadline_s(spec) == 2 * (60 + 30 + 120 + 50 + 60 + 30)


def test_wait_raises_the_failed_reading_and_times_out() -> None:
    watch = EventWatch([])
    with pytest.raises(DeployError, match="boom"):
        wait_converged(lambda: Reading("failed", "s: boom"), watch, 5.0, lambda line: None)
    with pytest.raises(DeployError, match="not converged within 0 s: s: 0/1"):
        wait_converged(lambda: Reading("waiting", "s: 0/1"), watch, 0.01, lambda line: None)


def test_a_change_that_keeps_the_tasks_converges_on_the_old_tasks() -> None:
    """A placement constraint every running task's node still meets: Swarm keeps the task (its spec
    stays the old one); found on the Swarm lab, where such a deploy waited for a new task until its
    deadline and was rolled back."""
    kept = [_task(OLD, "running", created="2026-11-30T19:00:00Z")]
    assert judge(_service(None), kept, SINCE, None, lambda t: "healthy").verdict == "waiting"
    assert judge(_service(None), kept, SINCE, None, lambda t: "healthy", keeps_tasks=True).verdict == "converged"
    assert judge(_service(None), [], SINCE, None, lambda t: None, keeps_tasks=True).verdict == "waiting"
