"""A Swarm's live state through the Engine API, as a JSON snapshot, and its services as normalised :data:`Spec`.

:func:`read_snapshot` asks a manager (``GET /nodes``, ``/services``, ``/tasks``, ``/configs``,
``/secrets``, ``/networks``; Docker Engine API v1.41) and keeps only what a plan needs, as plain
JSON: the fixture in ``tests/plan/`` is one such snapshot of the Swarm lab. A secret's data is
never returned by the Engine API (``GET /secrets`` omits ``Spec.Data``), and a config's data is
kept only as its sha256. :func:`live_spec` is the pure half: one service's Engine API ``Spec``
(``ServiceSpec``, docs.docker.com/engine/api/v1.41/#tag/Service) brought to the shape
:mod:`.compose` produces.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from iklim.plan.spec import IMAGE_LABEL, Spec, healthcheck_spec, restart_policy_spec, update_spec

SNAPSHOT_SCHEMA = "iklim.plan.snapshot/v1"
Snapshot = dict[str, Any]

#: ContainerSpec keys :func:`live_spec` models, and the values of the others that mean "unset".
_MODELLED = frozenset(
    {"Image", "Command", "Args", "Env", "Hostname", "User", "Dir", "Labels", "Configs", "Secrets", "Mounts",
     "Healthcheck", "StopGracePeriod", "StopSignal"}
)  # fmt: skip
_UNSET: Mapping[str, Any] = {"Isolation": "default"}


def _ns(value: Any) -> int:
    return int(value or 0)


def _refs(refs: list[Mapping[str, Any]] | None, name_key: str) -> list[dict[str, Any]]:
    out = []
    for ref in refs or []:
        file = ref.get("File") or {}
        out.append(
            {
                "name": str(ref.get(name_key, "")),
                "target": str(file.get("Name", "")),
                "uid": str(file.get("UID", "0")),
                "gid": str(file.get("GID", "0")),
                "mode": int(file.get("Mode", 0o444)),
            }
        )
    return sorted(out, key=lambda r: (r["target"], r["name"]))


def _mounts(mounts: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for mount in mounts or []:
        item: dict[str, Any] = {
            "type": str(mount.get("Type", "volume")),
            "source": str(mount.get("Source", "")),
            "target": str(mount.get("Target", "")),
            "read_only": bool(mount.get("ReadOnly", False)),
        }
        if item["type"] == "volume":
            driver = ((mount.get("VolumeOptions") or {}).get("DriverConfig") or {}).get("Name")
            item["driver"] = str(driver or "local")
        out.append(item)
    return sorted(out, key=lambda m: m["target"])


def _resources(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, key in (("limits", "Limits"), ("reservations", "Reservations")):
        body = (resources or {}).get(key) or {}
        for field, api in (("nano_cpus", "NanoCPUs"), ("memory_bytes", "MemoryBytes"), ("pids", "Pids")):
            if body.get(api):
                out[f"{kind}.{field}"] = int(body[api])
    return out


def _update(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return update_spec(
        {
            "parallelism": block.get("Parallelism", 1),
            "delay": block.get("Delay"),
            "failure_action": block.get("FailureAction"),
            "monitor": block.get("Monitor"),
            "max_failure_ratio": block.get("MaxFailureRatio"),
            "order": block.get("Order"),
        }
    )


def live_spec(raw: Mapping[str, Any], network_names: Mapping[str, str]) -> Spec:
    """One Engine API ``ServiceSpec`` as a normalised :data:`Spec`.

    ``network_names``: network ID -> name (the manager stores attachments by ID, docker/cli sends
    names). A ContainerSpec field this module does not model and that is not at its unset value
    becomes ``other.<Field>`` so that it cannot hide a difference.
    """
    task = raw.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    placement = task.get("Placement") or {}
    endpoint = raw.get("EndpointSpec") or {}
    mode = raw.get("Mode") or {}
    kind = next(iter(mode), "Replicated")
    restart = task.get("RestartPolicy")
    health = container.get("Healthcheck")
    spec: Spec = {
        "image": str(container.get("Image", "")),
        "command": [str(c) for c in container["Command"]] if container.get("Command") else None,
        "args": [str(a) for a in container["Args"]] if container.get("Args") else None,
        "env": sorted(str(e) for e in container.get("Env") or []),
        "hostname": str(container.get("Hostname", "")),
        "user": str(container.get("User", "")),
        "workdir": str(container.get("Dir", "")),
        "container_labels": dict(container.get("Labels") or {}),
        "configs": _refs(container.get("Configs"), "ConfigName"),
        "secrets": _refs(container.get("Secrets"), "SecretName"),
        "mounts": _mounts(container.get("Mounts")),
        "networks": sorted(
            (
                {
                    "target": network_names.get(str(n.get("Target")), str(n.get("Target"))),
                    "aliases": sorted(set(n.get("Aliases") or [])),
                }
                for n in task.get("Networks") or raw.get("Networks") or []
            ),
            key=lambda n: n["target"],
        ),  # fmt: skip
        "healthcheck": healthcheck_spec(
            None
            if health is None
            else {
                "test": health.get("Test"),
                "interval": health.get("Interval"),
                "timeout": health.get("Timeout"),
                "retries": health.get("Retries"),
                "start_period": health.get("StartPeriod"),
            }
        ),
        "stop_grace_period": _ns(container["StopGracePeriod"]) if "StopGracePeriod" in container else None,
        "stop_signal": str(container.get("StopSignal", "")),
        "ports": sorted(
            (
                {
                    "protocol": str(p.get("Protocol", "tcp")),
                    "target": int(p.get("TargetPort", 0)),
                    "published": int(p.get("PublishedPort", 0)),
                    "mode": str(p.get("PublishMode", "ingress")),
                }
                for p in endpoint.get("Ports") or []
            ),
            key=lambda p: (p["published"], p["target"], p["protocol"]),
        ),  # fmt: skip
        "endpoint_mode": str(endpoint.get("Mode") or "vip"),
        "constraints": [str(c) for c in placement.get("Constraints") or []],
        "preferences": [
            str((p.get("Spread") or {}).get("SpreadDescriptor", "")) for p in placement.get("Preferences") or []
        ],
        "max_replicas": int(placement.get("MaxReplicas") or 0),
        "resources": _resources(task.get("Resources")),
        "restart_policy": None
        if restart is None
        else restart_policy_spec(
            {
                "condition": restart.get("Condition"),
                "delay": restart.get("Delay"),
                "max_attempts": restart.get("MaxAttempts"),
                "window": restart.get("Window"),
            }
        ),
        "labels": {k: v for k, v in (raw.get("Labels") or {}).items() if k != IMAGE_LABEL},
        "update_config": _update(raw.get("UpdateConfig")),
        "rollback_config": _update(raw.get("RollbackConfig")),
        "mode": {"Replicated": "replicated", "Global": "global"}.get(kind, kind.lower()),
        "replicas": int((mode.get("Replicated") or {}).get("Replicas", 1)) if kind == "Replicated" else None,
    }
    for key in sorted(set(container) - _MODELLED):
        if container[key] != _UNSET.get(key) and not _empty(container[key]):
            spec[f"other.{key}"] = container[key]
    return spec


def _empty(value: Any) -> bool:
    """True for a value whose every leaf is unset (``{"CredentialSpec": None, "SELinuxContext": None}``)."""
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return value in (None, "", False, 0)


def read_snapshot(
    client: Any,
    node_images: Mapping[str, Callable[[], list[dict[str, list[str]]]]] | None = None,
) -> Snapshot:
    """The live state of the Swarm ``client`` (a ``docker.DockerClient`` on a manager) manages.

    ``node_images``: hostname -> a function listing that node's images as ``{"tags", "digests"}``
    (the lab reaches every node's engine; in production only the manager's own is known). Raises
    ``docker.errors.APIError`` (e.g. 503 when the Swarm has no leader).
    """
    api = client.api
    nodes = []
    for node in api.nodes():
        manager = node.get("ManagerStatus")
        nodes.append(
            {
                "id": node["ID"],
                "hostname": node["Description"]["Hostname"],
                "role": node["Spec"].get("Role", "worker"),
                "labels": dict(node["Spec"].get("Labels") or {}),
                "platform": {
                    "os": str((node["Description"].get("Platform") or {}).get("OS", "")),
                    "arch": str((node["Description"].get("Platform") or {}).get("Architecture", "")),
                },
                "availability": node["Spec"].get("Availability", "active"),
                "state": node["Status"].get("State", "unknown"),
                "manager": None
                if manager is None
                else {"leader": bool(manager.get("Leader")), "reachability": manager.get("Reachability", "unknown")},
            }
        )
    hostnames = {n["id"]: n["hostname"] for n in nodes}
    tasks_by_service: dict[str, list[dict[str, str]]] = {}
    for task in api.tasks(filters={"desired-state": "running"}):
        tasks_by_service.setdefault(task["ServiceID"], []).append(
            {"node": hostnames.get(task.get("NodeID", ""), ""), "state": task["Status"]["State"]}
        )
    services = [
        {
            "id": s["ID"],
            "name": s["Spec"]["Name"],
            "version": s["Version"]["Index"],
            "update_state": (s.get("UpdateStatus") or {}).get("State", ""),
            "spec": s["Spec"],
            "tasks": sorted(tasks_by_service.get(s["ID"], []), key=lambda t: t["node"]),
        }
        for s in api.services()
    ]
    configs = []
    for config in api.configs():
        data = base64.b64decode(config["Spec"].get("Data") or "")
        configs.append(
            {
                "id": config["ID"],
                "name": config["Spec"]["Name"],
                "labels": dict(config["Spec"].get("Labels") or {}),
                "data_sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    secrets = [
        {"id": s["ID"], "name": s["Spec"]["Name"], "labels": dict(s["Spec"].get("Labels") or {})} for s in api.secrets()
    ]
    networks = [
        {"id": n["Id"], "name": n["Name"], "driver": n.get("Driver", ""), "scope": n.get("Scope", "")}
        for n in api.networks()
    ]
    images = {host: list_images() for host, list_images in (node_images or {}).items()}
    return {
        "schema": SNAPSHOT_SCHEMA,
        "nodes": sorted(nodes, key=lambda n: n["hostname"]),
        "services": sorted(services, key=lambda s: s["name"]),
        "configs": sorted(configs, key=lambda c: c["name"]),
        "secrets": sorted(secrets, key=lambda s: s["name"]),
        "networks": sorted(networks, key=lambda n: n["name"]),
        "images": images,
    }


def engine_images(client: Any) -> list[dict[str, list[str]]]:
    """One engine's images as ``[{"tags": [...], "digests": [...]}]`` (``GET /images/json``)."""
    return [
        {"tags": sorted(i.get("RepoTags") or []), "digests": sorted(i.get("RepoDigests") or [])}
        for i in client.api.images()
    ]


def live_specs(snapshot: Snapshot) -> dict[str, Spec]:
    """Service name -> normalised :data:`Spec`, for every service of ``snapshot``."""
    names = {n["id"]: n["name"] for n in snapshot["networks"]}
    return {s["name"]: live_spec(s["spec"], names) for s in snapshot["services"]}
