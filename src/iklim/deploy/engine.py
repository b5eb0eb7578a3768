"""The inverse of :func:`iklim.plan.live.live_spec`: a desired normalised :data:`Spec` as an Engine API ``ServiceSpec``.

``engine_spec(name, desired, ids, base)`` builds the JSON body of ``POST /services/create`` and
``POST /services/{id}/update`` (Docker Engine API v1.41, docs.docker.com/engine/api/v1.41/#tag/Service,
``ServiceSpec``) the way ``docker stack deploy`` converts a compose service (docker/cli
``cli/compose/convert/service.go``), so that ``live_spec(engine_spec(desired)) == desired``: what
``iklim plan`` predicts is exactly what ``iklim deploy`` sends.

- ``base``: the service's live raw ``Spec`` when it exists. Fields the plan does not model survive
  (``TaskTemplate.LogDriver``, ``Runtime``, ``Placement.Platforms``, ``ForceUpdate``...); every modelled
  field is replaced, and a ContainerSpec field the plan reports as ``other.<Field>`` (set live, not in
  the stack) is dropped, as ``docker stack deploy`` would drop it.
- An image the plan judges unchanged (:func:`iklim.plan.diff.image_matches`: the tag as written,
  live pinned to a digest) keeps the live, pinned reference.
- ``ids``: the live objects' IDs (:class:`ObjectIds`); configs and secrets are referenced by ID and
  name, networks by ID (the manager stores attachments by ID). A reference to an object that does
  not exist raises :class:`~iklim.deploy.api.DeployError`.

Shapes: durations in nanoseconds (as the Engine API), modes as integers (0o444 = 292).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iklim.deploy.api import DeployError
from iklim.plan.diff import image_matches
from iklim.plan.live import _MODELLED, _UNSET, Snapshot, _empty
from iklim.plan.spec import IMAGE_LABEL, STACK_LABEL, Spec


@dataclass(frozen=True)
class ObjectIds:
    """Live object name -> ID, per kind (``GET /configs``, ``/secrets``, ``/networks``)."""

    configs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)

    @property
    def network_names(self) -> dict[str, str]:
        """Network ID -> name (what :func:`iklim.plan.live.live_spec` takes)."""
        return {v: k for k, v in self.networks.items()}


def ids_from_snapshot(snapshot: Snapshot) -> ObjectIds:
    """The :class:`ObjectIds` of a plan snapshot (swarm-scoped networks only)."""
    return ObjectIds(
        configs={c["name"]: c["id"] for c in snapshot["configs"]},
        secrets={s["name"]: s["id"] for s in snapshot["secrets"]},
        networks={n["name"]: n["id"] for n in snapshot["networks"] if n.get("scope") == "swarm"},
    )


def ids_from_engine(client: Any) -> ObjectIds:
    """The :class:`ObjectIds` a manager (``docker.DockerClient``) reports now. Raises ``docker.errors.APIError``."""
    api = client.api
    return ObjectIds(
        configs={c["Spec"]["Name"]: c["ID"] for c in api.configs()},
        secrets={s["Spec"]["Name"]: s["ID"] for s in api.secrets()},
        networks={n["Name"]: n["Id"] for n in api.networks() if n.get("Scope") == "swarm"},
    )


def _lookup(kind: str, table: Mapping[str, str], name: str, service: str) -> str:
    if name not in table:
        raise DeployError(f"{service}: {kind} {name!r} does not exist on the target")
    return table[name]


def _refs(refs: list[dict[str, Any]], kind: str, table: Mapping[str, str], service: str) -> list[dict[str, Any]]:
    key = "Config" if kind == "config" else "Secret"
    out = [
        {
            "File": {"Name": r["target"], "UID": r["uid"], "GID": r["gid"], "Mode": r["mode"]},
            f"{key}ID": _lookup(kind, table, r["name"], service),
            f"{key}Name": r["name"],
        }
        for r in refs
    ]
    return sorted(out, key=lambda r: (r[f"{key}Name"], r["File"]["Name"]))  # docker/cli sorts by name


def _mounts(mounts: list[dict[str, Any]], stack: str) -> list[dict[str, Any]]:
    out = []
    for m in mounts:
        item: dict[str, Any] = {"Type": m["type"], "Source": m["source"], "Target": m["target"]}
        if m["read_only"]:
            item["ReadOnly"] = True
        if m["type"] == "volume":
            item["VolumeOptions"] = {"Labels": {STACK_LABEL: stack}, "DriverConfig": {"Name": m["driver"]}}
        out.append(item)
    return out


def _duration_block(block: Mapping[str, Any] | None, keys: Mapping[str, str]) -> dict[str, Any] | None:
    if block is None:
        return None
    return {api: block[key] for key, api in keys.items()}


_HEALTH = {
    "test": "Test",
    "interval": "Interval",
    "timeout": "Timeout",
    "retries": "Retries",
    "start_period": "StartPeriod",
}
_RESTART = {"condition": "Condition", "delay": "Delay", "max_attempts": "MaxAttempts", "window": "Window"}
_UPDATE = {
    "parallelism": "Parallelism", "delay": "Delay", "failure_action": "FailureAction", "monitor": "Monitor",
    "max_failure_ratio": "MaxFailureRatio", "order": "Order",
}  # fmt: skip


def _resources(resources: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, dict[str, int]] = {}
    for key, value in resources.items():
        kind, name = key.split(".", 1)
        api = {"nano_cpus": "NanoCPUs", "memory_bytes": "MemoryBytes", "pids": "Pids"}[name]
        out.setdefault("Limits" if kind == "limits" else "Reservations", {})[api] = int(value)
    return out


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    """``target[key] = value``, or drop the key when ``value`` is None, "" or an empty list/mapping.

    A list that holds the same items as the one already there, in another order, keeps the order
    there: swarmkit compares task specs with ``reflect.DeepEqual`` (``IsTaskDirty``), so a mere
    reordering would replace every task of the service.
    """
    if value is None or value == "" or value == [] or value == {}:
        target.pop(key, None)
        return
    old = target.get(key)
    if isinstance(value, list) and isinstance(old, list) and _same_items(value, old):
        return
    target[key] = value


def _same_items(a: list[Any], b: list[Any]) -> bool:
    def canon(items: list[Any]) -> list[str]:
        return sorted(json.dumps(i, sort_keys=True) for i in items)

    return len(a) == len(b) and canon(a) == canon(b)


def _health(health: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``Healthcheck`` with the zero durations and retries left out (Go ``omitempty``, as the CLI sends it)."""
    block = _duration_block(health, _HEALTH)
    return None if block is None else {k: v for k, v in block.items() if v not in (0, None)}


def _container(desired: Spec, ids: ObjectIds, live: Mapping[str, Any], name: str) -> dict[str, Any]:
    container = {
        k: v for k, v in live.items() if k in _MODELLED or v == _UNSET.get(k) or _empty(v)
    }  # the other.* fields the plan reports as differences go, as docker stack deploy drops them
    image = desired["image"]
    live_image = str(live.get("Image", ""))
    container["Image"] = live_image if live_image and image_matches(image, live_image) else image
    _set(container, "Command", desired["command"])
    _set(container, "Args", desired["args"])
    _set(container, "Env", list(desired["env"]))
    _set(container, "Hostname", desired["hostname"])
    _set(container, "User", desired["user"])
    _set(container, "Dir", desired["workdir"])
    _set(container, "Labels", dict(desired["container_labels"]))
    _set(container, "Configs", _refs(desired["configs"], "config", ids.configs, name))
    _set(container, "Secrets", _refs(desired["secrets"], "secret", ids.secrets, name))
    stack = desired["labels"].get(STACK_LABEL, "")
    _set(container, "Mounts", _mounts(desired["mounts"], stack))
    _set(container, "Healthcheck", _health(desired["healthcheck"]))
    _set(container, "StopGracePeriod", desired["stop_grace_period"])
    _set(container, "StopSignal", desired["stop_signal"])
    return container


def engine_spec(name: str, desired: Spec, ids: ObjectIds, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Engine API ``ServiceSpec`` that makes service ``name`` what ``desired`` describes.

    ``desired``: one service of :class:`iklim.plan.compose.Desired`; ``ids``: the live objects;
    ``base``: the live raw ``Spec`` (None for a service to create). Returns a new dict (``base``
    is not modified). Raises :class:`DeployError` for a config, secret or network that does not
    exist on the target.
    """
    spec: dict[str, Any] = copy.deepcopy(dict(base or {}))
    spec["Name"] = name
    task = spec.setdefault("TaskTemplate", {})
    task["ContainerSpec"] = _container(desired, ids, task.get("ContainerSpec") or {}, name)
    spec.pop("Networks", None)  # deprecated top-level attachments (API < 1.25): TaskTemplate.Networks
    _set(
        task,
        "Networks",
        [
            {"Target": _lookup("network", ids.networks, n["target"], name), "Aliases": list(n["aliases"])}
            for n in desired["networks"]
        ],
    )
    placement = {k: v for k, v in (task.get("Placement") or {}).items() if k == "Platforms"}
    _set(placement, "Constraints", list(desired["constraints"]))
    _set(placement, "Preferences", [{"Spread": {"SpreadDescriptor": p}} for p in desired["preferences"]])
    _set(placement, "MaxReplicas", desired["max_replicas"] or None)
    _set(task, "Placement", placement)
    task["Resources"] = _resources(desired["resources"])
    _set(task, "RestartPolicy", _duration_block(desired["restart_policy"], _RESTART))
    endpoint: dict[str, Any] = {k: v for k, v in (spec.get("EndpointSpec") or {}).items() if k == "Ports"}
    endpoint["Mode"] = desired["endpoint_mode"]
    ports = []
    for p in desired["ports"]:
        port = {"Protocol": p["protocol"], "TargetPort": p["target"], "PublishMode": p["mode"]}
        if p["published"]:
            port["PublishedPort"] = p["published"]
        ports.append(port)
    _set(endpoint, "Ports", ports)
    spec["EndpointSpec"] = endpoint
    spec["Labels"] = {**desired["labels"], IMAGE_LABEL: desired["image"]}
    _set(spec, "UpdateConfig", _duration_block(desired["update_config"], _UPDATE))
    _set(spec, "RollbackConfig", _duration_block(desired["rollback_config"], _UPDATE))
    if desired["mode"] == "global":
        spec["Mode"] = {"Global": {}}
    else:
        spec["Mode"] = {"Replicated": {"Replicas": int(desired["replicas"] or 0)}}
    return spec
