"""The normalised service spec both sides of a plan are brought to, and what a change to each field costs.

A :data:`Spec` is a flat mapping of field name -> JSON value (durations in nanoseconds, lists in
a canonical order). :mod:`.compose` builds it from a stack file, :mod:`.live` from the Engine
API's ``Spec``; :mod:`.diff` compares them field by field.

:data:`EFFECTS` says what Swarm does when one field changes (swarmkit
``manager/orchestrator/task.go`` ``IsTaskDirty``: a task is replaced when the service's
``TaskSpec`` or ``EndpointSpec`` differs from the one the task was created with; everything
outside them -- the service's labels, ``UpdateConfig``, ``RollbackConfig``, the replica count -- is
applied without touching a running task). ``recreate`` is a change the Engine refuses in place
(``service mode change is not allowed``, swarmkit ``controlapi/service.go``): the service must be
removed and created again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Spec = dict[str, Any]
Effect = Literal["metadata-only", "rolling-restart", "recreate"]

#: The label ``docker stack deploy`` puts on every object of a stack (docker/cli convert.LabelNamespace).
STACK_LABEL = "com.docker.stack.namespace"
#: The label the CLI adds with the image as written in the stack file (docker/cli convert.LabelImage).
IMAGE_LABEL = "com.docker.stack.image"

#: Field -> what a change to it does to running tasks (see the module docstring).
EFFECTS: Mapping[str, Effect] = {
    # TaskSpec.ContainerSpec
    "image": "rolling-restart",
    "command": "rolling-restart",
    "args": "rolling-restart",
    "env": "rolling-restart",
    "hostname": "rolling-restart",
    "user": "rolling-restart",
    "workdir": "rolling-restart",
    "container_labels": "rolling-restart",
    "configs": "rolling-restart",
    "secrets": "rolling-restart",
    "mounts": "rolling-restart",
    "healthcheck": "rolling-restart",
    "stop_grace_period": "rolling-restart",
    "stop_signal": "rolling-restart",
    # TaskSpec (outside the container) and EndpointSpec
    "networks": "rolling-restart",
    "constraints": "rolling-restart",  # metadata-only when every running task's node still matches
    "preferences": "rolling-restart",
    "max_replicas": "rolling-restart",
    "resources": "rolling-restart",
    "restart_policy": "rolling-restart",
    "ports": "rolling-restart",
    "endpoint_mode": "rolling-restart",
    # ServiceSpec outside TaskSpec
    "labels": "metadata-only",
    "update_config": "metadata-only",
    "rollback_config": "metadata-only",
    "replicas": "metadata-only",  # a scale: tasks added or removed, none replaced
    "mode": "recreate",
}

_RANK = {"metadata-only": 1, "rolling-restart": 2, "recreate": 3}


def worst(effects: list[Effect]) -> Effect | None:
    """The costliest of ``effects`` (None for none)."""
    best: Effect | None = None
    for effect in effects:
        if best is None or _RANK[effect] > _RANK[best]:
            best = effect
    return best


def healthcheck_spec(health: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{test, interval, timeout, retries, start_period}`` (ns; 0 = the engine's default), or None."""
    if not health or not health.get("test"):
        return None
    return {
        "test": [str(t) for t in health["test"]],
        "interval": int(health.get("interval") or 0),
        "timeout": int(health.get("timeout") or 0),
        "retries": int(health.get("retries") or 0),
        "start_period": int(health.get("start_period") or 0),
    }


def restart_policy_spec(policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{condition, delay, max_attempts, window}`` (ns), or None when unset."""
    if policy is None:
        return None
    return {
        "condition": str(policy.get("condition") or "any"),
        "delay": int(policy.get("delay") or 0),
        "max_attempts": int(policy.get("max_attempts") or 0),
        "window": int(policy.get("window") or 0),
    }


def update_spec(update: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{parallelism, delay, failure_action, monitor, max_failure_ratio, order}`` (ns), or None.

    Defaults as docker/cli ``convertUpdateConfig`` and swarmkit fill them: parallelism 1,
    failure_action pause, order stop-first, delay and monitor 0 (the engine's default applies).
    """
    if update is None:
        return None
    return {
        "parallelism": int(update.get("parallelism", 1)),
        "delay": int(update.get("delay") or 0),
        "failure_action": str(update.get("failure_action") or "pause"),
        "monitor": int(update.get("monitor") or 0),
        "max_failure_ratio": float(update.get("max_failure_ratio") or 0),
        "order": str(update.get("order") or "stop-first"),
    }
