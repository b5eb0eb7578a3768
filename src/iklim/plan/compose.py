"""The rendered stack files as the service specs ``docker stack deploy`` would send, normalised.

``docker stack deploy`` converts compose to Engine API specs on the client (docker/cli
``cli/compose/convert``; the Python SDK has no stack support, docker/docker-py#1173), so the
conversion is done here, field by field, for the compose keys the stacks use. A key this module
does not model raises :class:`ComposeError`: a plan that silently ignored a field could not be
trusted to predict a restart. The shape produced (a :data:`Spec`, see :mod:`.spec`) is the one
:mod:`.live` normalises the Engine API's ``Spec`` to, so the two compare with ``==``.

Conversion rules (docker/cli convert/service.go, compose.go; compose file reference v3):

- a service is named ``<stack>_<key>``; the service and container labels get
  ``com.docker.stack.namespace=<stack>``;
- ``entrypoint`` -> ``ContainerSpec.Command``, ``command`` -> ``ContainerSpec.Args`` (a string
  is split as a shell would), ``environment`` -> ``Env`` as sorted ``KEY=value``;
- ``configs``/``secrets``: target defaults to the source key, uid/gid to ``"0"``, mode to 0444;
  a top-level object's ``name:`` is used as is (else ``<stack>_<key>``; external: the key);
- ``networks``: an external network keeps its name, others are ``<stack>_<key>``; the service's
  key is added to each attachment's aliases;
- ``volumes``: a declared named volume is ``<stack>_<name>`` (type volume), an absolute path a bind;
- ``ports``: long syntax, ``mode`` defaulting to ``ingress``, ``protocol`` to ``tcp``;
- durations in Go syntax (``10s``, ``1m30s``), stored in nanoseconds;
- ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$`` are interpolated as the CLI does,
  from the environment the plan runs in (the runbook's).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iklim.plan.durations import to_ns
from iklim.plan.interpolate import ComposeError, interpolate_all, merge
from iklim.plan.spec import STACK_LABEL, Spec, healthcheck_spec, restart_policy_spec, update_spec

#: Service keys the conversion understands (anything else: ComposeError).
SERVICE_KEYS = frozenset(
    {
        "image", "hostname", "entrypoint", "command", "environment", "configs", "secrets", "volumes",
        "networks", "ports", "healthcheck", "stop_grace_period", "stop_signal", "deploy", "labels",
        "user", "working_dir",
    }
)  # fmt: skip
DEPLOY_KEYS = frozenset(
    {"mode", "replicas", "placement", "update_config", "rollback_config", "restart_policy", "resources",
     "labels", "endpoint_mode"}
)  # fmt: skip


@dataclass
class Desired:
    """What the rendered tree would create: services, config objects, secrets and networks it needs.

    ``services``: full service name -> :data:`Spec`. ``configs``: object name -> sha256 of its
    data (hex). ``secrets``: external secret name -> the services that mount it. ``networks``:
    external network name -> the services attached. ``stacks``: full service name -> stack name.
    ``unset``: stack name -> the variables it references that are not set (sorted; the CLI
    substitutes blank strings for them, :data:`iklim.plan.interpolate.UNSET_WARNING`).
    """

    services: dict[str, Spec] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, list[str]] = field(default_factory=dict)
    networks: dict[str, list[str]] = field(default_factory=dict)
    stacks: dict[str, str] = field(default_factory=dict)
    unset: dict[str, list[str]] = field(default_factory=dict)


def _words(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _env(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    out = []
    for key, item in value.items():
        out.append(str(key) if item is None else f"{key}={_scalar(item)}")
    return sorted(out)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file_refs(entries: Any, objects: Mapping[str, Any], stack: str, where: str) -> list[dict[str, Any]]:
    refs = []
    for entry in entries or []:
        item = {"source": entry} if isinstance(entry, str) else dict(entry)
        source = str(item["source"])
        if source not in objects:
            raise ComposeError(f"{where}: {source!r} is not declared at the top level")
        refs.append(
            {
                "name": object_name(stack, source, objects[source] or {}),
                "target": str(item.get("target") or source),
                "uid": str(item.get("uid", "0")),
                "gid": str(item.get("gid", "0")),
                "mode": int(item.get("mode", 0o444)),
            }
        )
    return sorted(refs, key=lambda r: (r["target"], r["name"]))


def object_name(stack: str, key: str, declared: Mapping[str, Any]) -> str:
    """The Swarm name of a top-level config/secret/network ``key``: ``name:``, the key if external, else scoped."""
    if declared.get("name"):
        return str(declared["name"])
    external = declared.get("external")
    if external is True or (isinstance(external, Mapping) and external):
        return str(external.get("name", key)) if isinstance(external, Mapping) else key
    return f"{stack}_{key}"


def _mounts(volumes: Any, declared: Mapping[str, Any], stack: str, where: str) -> list[dict[str, Any]]:
    mounts = []
    for volume in volumes or []:
        if not isinstance(volume, str):
            raise ComposeError(f"{where}: only the short volume syntax is modelled, got {volume!r}")
        parts = volume.split(":")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        if source.startswith(("/", ".", "~")):
            mounts.append({"type": "bind", "source": source, "target": target, "read_only": "ro" in mode.split(",")})
            continue
        if source not in declared:
            raise ComposeError(f"{where}: volume {source!r} is not declared at the top level")
        spec = declared[source] or {}
        mounts.append(
            {
                "type": "volume",
                "source": object_name(stack, source, spec),
                "target": target,
                "read_only": "ro" in mode.split(","),
                "driver": str(spec.get("driver", "local")),
            }
        )
    return sorted(mounts, key=lambda m: m["target"])


def _ports(ports: Any, where: str) -> list[dict[str, Any]]:
    out = []
    for port in ports or []:
        if not isinstance(port, Mapping):
            raise ComposeError(f"{where}: only the long port syntax is modelled, got {port!r}")
        out.append(
            {
                "protocol": str(port.get("protocol", "tcp")),
                "target": int(port["target"]),
                "published": int(port.get("published", 0)),
                "mode": str(port.get("mode", "ingress")),
            }
        )
    return sorted(out, key=lambda p: (p["published"], p["target"], p["protocol"]))


def _networks(networks: Any, declared: Mapping[str, Any], stack: str, key: str) -> list[dict[str, Any]]:
    if not networks:
        networks = {"default": None}
    if isinstance(networks, list):
        networks = dict.fromkeys(networks)
    out = []
    for name, body in networks.items():
        aliases = list((body or {}).get("aliases") or [])
        target = object_name(stack, name, declared.get(name) or {})
        out.append({"target": target, "aliases": sorted({*aliases, key})})
    return sorted(out, key=lambda n: n["target"])


def _resources(resources: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("limits", "reservations"):
        body = (resources or {}).get(kind) or {}
        if "cpus" in body:
            out[f"{kind}.nano_cpus"] = int(round(float(body["cpus"]) * 1e9))
        if "memory" in body:
            out[f"{kind}.memory_bytes"] = _bytes(body["memory"])
        if "pids" in body:
            out[f"{kind}.pids"] = int(body["pids"])
    return out


def _bytes(value: Any) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)b?", str(value).strip().lower())
    if match is None:
        raise ComposeError(f"not a size: {value!r}")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def service_spec(stack: str, key: str, service: Mapping[str, Any], document: Mapping[str, Any], where: str) -> Spec:
    """One compose service as the normalised :data:`Spec` ``docker stack deploy`` would create."""
    unknown = sorted(set(service) - SERVICE_KEYS)
    deploy = service.get("deploy") or {}
    unknown += sorted(f"deploy.{k}" for k in set(deploy) - DEPLOY_KEYS)
    if unknown:
        raise ComposeError(f"{where}: compose key(s) {', '.join(unknown)} not modelled by iklim plan")
    placement = deploy.get("placement") or {}
    labels = {**{str(k): _scalar(v) for k, v in (deploy.get("labels") or {}).items()}, STACK_LABEL: stack}
    container_labels = {**{str(k): _scalar(v) for k, v in (service.get("labels") or {}).items()}, STACK_LABEL: stack}
    mode = str(deploy.get("mode", "replicated"))
    replicas = _replicas(deploy, mode, where)
    image = service.get("image")
    if not isinstance(image, str) or not image:
        raise ComposeError(f"{where}: image: a non-empty string is required, got {image!r}")
    health = service.get("healthcheck")
    spec: Spec = {
        "image": image,
        "command": _words(service.get("entrypoint")),
        "args": _words(service.get("command")),
        "env": _env(service.get("environment")),
        "hostname": str(service.get("hostname", "")),
        "user": str(service.get("user", "")),
        "workdir": str(service.get("working_dir", "")),
        "container_labels": container_labels,
        "configs": _file_refs(service.get("configs"), document.get("configs") or {}, stack, where),
        "secrets": _file_refs(service.get("secrets"), document.get("secrets") or {}, stack, where),
        "mounts": _mounts(service.get("volumes"), document.get("volumes") or {}, stack, where),
        "networks": _networks(service.get("networks"), document.get("networks") or {}, stack, key),
        "healthcheck": healthcheck_spec(_health_ns(health)),
        "stop_grace_period": to_ns(service["stop_grace_period"]) if "stop_grace_period" in service else None,
        "stop_signal": str(service.get("stop_signal", "")),
        "ports": _ports(service.get("ports"), where),
        "endpoint_mode": str(deploy.get("endpoint_mode", "vip")),
        "constraints": [str(c) for c in placement.get("constraints") or []],
        "preferences": [str(p["spread"]) for p in placement.get("preferences") or []],
        "max_replicas": int(placement.get("max_replicas_per_node", 0)),
        "resources": _resources(deploy.get("resources")),
        "restart_policy": restart_policy_spec(_durations(deploy.get("restart_policy"), ("delay", "window"))),
        "labels": labels,
        "update_config": update_spec(_durations(deploy.get("update_config"), ("delay", "monitor"))),
        "rollback_config": update_spec(_durations(deploy.get("rollback_config"), ("delay", "monitor"))),
        "mode": mode,
        "replicas": replicas,
    }
    return spec


def _replicas(deploy: Mapping[str, Any], mode: str, where: str) -> int | None:
    """``deploy.replicas`` as the compose schema and the CLI accept it: a whole number >= 0 for
    ``mode: replicated`` (default 1), absent for ``global`` (docker/cli: "replicas can only be used
    with replicated mode"). Raises ComposeError."""
    if mode not in ("replicated", "global"):
        raise ComposeError(f"{where}: deploy.mode: replicated or global, got {mode!r}")
    value = deploy.get("replicas")
    if mode == "global":
        if value is not None:
            raise ComposeError(f"{where}: deploy.replicas: only for mode replicated (docker/cli refuses it)")
        return None
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ComposeError(f"{where}: deploy.replicas: a whole number >= 0, got {value!r}")
    return value


def _durations(block: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if block is None:
        return None
    out = dict(block)
    for key in keys:
        if key in out:
            out[key] = to_ns(out[key])
    return out


def _health_ns(health: Any) -> dict[str, Any] | None:
    if health is None:
        return None
    if health.get("disable"):
        return {"test": ["NONE"]}
    out = dict(health)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    for key in ("interval", "timeout", "start_period"):
        if key in out:
            out[key] = to_ns(out[key])
    return out


def desired_state(
    documents: Mapping[str, Mapping[str, Any]],
    config_sha256: Mapping[str, str],
    environ: Mapping[str, str],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Desired:
    """The :class:`Desired` state of several stacks.

    ``documents``: stack name -> parsed stack file (``{"services": ...}``); ``config_sha256``: the
    ``file:`` path as written in the stack file (``./config/...``) -> the sha256 of its bytes; ``environ``: for
    interpolation; ``overrides``: stack name -> a second compose file merged over the first (the
    Swarm lab's). Raises :class:`ComposeError`.
    """
    desired = Desired()
    for stack, raw in documents.items():
        unset: set[str] = set()
        try:
            document = interpolate_all(merge(raw, (overrides or {}).get(stack) or {}), environ, unset)
        except ComposeError as exc:
            raise ComposeError(f"stack {stack}: {exc}") from None
        if unset:
            desired.unset[stack] = sorted(unset)
        for key, declared in (document.get("configs") or {}).items():
            declared = declared or {}
            if declared.get("external"):
                continue
            path = str(declared.get("file"))
            if path not in config_sha256:
                raise ComposeError(f"stack {stack}: config {key}: no data for file {path!r}")
            desired.configs[object_name(stack, key, declared)] = config_sha256[path]
        services = document.get("services") or {}
        if not isinstance(services, dict):
            raise ComposeError(f"stack {stack}: services: not a mapping")
        for key, service in services.items():
            name = f"{stack}_{key}"
            where = f"stack {stack}: service {key}"
            if not isinstance(service, dict):
                raise ComposeError(f"{where}: not a mapping")
            try:
                spec = service_spec(stack, key, service, document, where)
            except ComposeError as exc:
                raise ComposeError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
            except (AttributeError, TypeError, ValueError) as exc:  # a field of the wrong shape
                raise ComposeError(f"{where}: {exc}") from None
            desired.services[name] = spec
            desired.stacks[name] = stack
            for ref in spec["secrets"]:
                desired.secrets.setdefault(ref["name"], []).append(name)
            for net in spec["networks"]:
                desired.networks.setdefault(net["target"], []).append(name)
    return desired


def config_hashes(repo: Path, documents: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The sha256 of every config ``file:`` of ``documents``, read relative to ``repo`` (as the CLI
    reads them from the first file's folder); raises OSError naming a missing file, ComposeError
    for a path that leaves the tree, by ``../``, an absolute path or a symbolic link (render never
    writes one: it would ship a file from elsewhere on the manager as a config), or that is not a
    regular file (a FIFO would block the read, a device never end it)."""
    data: dict[str, str] = {}
    top = repo.resolve()
    for document in documents.values():
        configs = document.get("configs") or {}
        if not isinstance(configs, Mapping):
            raise ComposeError("configs: not a mapping")
        for key, declared in configs.items():
            if declared is not None and not isinstance(declared, Mapping):
                raise ComposeError(f"config {key}: not a mapping")
            path = (declared or {}).get("file")
            if path and path not in data:
                real = (repo / str(path)).resolve()
                if not real.is_relative_to(top):
                    raise ComposeError(f"config {key}: file {path!r} is outside the tree")
                if real.exists() and not real.is_file():
                    raise ComposeError(f"config {key}: file {path!r} is not a regular file")
                data[path] = hashlib.sha256(real.read_bytes()).hexdigest()
    return data
