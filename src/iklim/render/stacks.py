"""Assemble the two stack files from the components' contributions."""

from __future__ import annotations

import hashlib
from typing import Any

from iklim.components.base import Contribution, Mount, SecretMount, header, monitor_covering
from iklim.components.quoting import sh_comment
from iklim.components.yamlout import dump_yaml
from iklim.model.schema import Environment

COMPOSE_VERSION = "3.9"
STACK_FILES = {"infra": "docker-stack-infra_db-prod.yml", "vault": "docker-stack-vault.yml"}


def config_key(path: str) -> str:
    """The stack-local key of a config file: ``config/patroni/patroni-1.yml`` -> ``patroni_patroni-1.yml``."""
    return path.removeprefix("config/").replace("/", "_")


def config_name(stack: str, path: str, content: str) -> str:
    """The Swarm object name: content-addressed, so a changed file rolls the services that mount it."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:10]
    return f"{stack}_{config_key(path)}_{digest}"


def _secret_entry(mount: SecretMount) -> str | dict[str, Any]:
    if mount.target is None and mount.uid is None and mount.mode is None:
        return mount.name
    entry: dict[str, Any] = {"source": mount.name, "target": mount.target or mount.name}
    if mount.uid is not None:
        entry["uid"] = mount.uid
        entry["gid"] = mount.uid
    if mount.mode is not None:
        entry["mode"] = mount.mode
    return entry


def _configs_entry(mounts: list[Mount]) -> list[dict[str, Any]]:
    return [{"source": config_key(m.path), "target": m.target, "mode": 0o444} for m in mounts]


def stack_document(env: Environment, stack: str, parts: list[Contribution], files: dict[str, str]) -> str:
    """The text of one stack file: services, then configs, secrets, volumes and networks."""
    stack_name = getattr(env.stacks, stack)
    services: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    secrets: set[str] = set()
    volumes: list[str] = []
    for part in parts:
        if part.stack != stack:
            continue
        for name, body in part.services.items():
            service = dict(body)
            mounts = part.mounts.get(name, [])
            if mounts:
                service["configs"] = _configs_entry(mounts)
                for m in mounts:
                    configs[config_key(m.path)] = {
                        "file": f"./{m.path}",
                        "name": config_name(stack_name, m.path, files[m.path]),
                    }
            secret_mounts = part.secret_mounts.get(name, [])
            if secret_mounts:
                service["secrets"] = [_secret_entry(s) for s in secret_mounts]
                secrets.update(s.name for s in secret_mounts)
            services[name] = _ordered(monitor_covering(service))
        volumes.extend(part.volumes)
    document: dict[str, Any] = {"version": COMPOSE_VERSION, "services": services}
    if configs:
        document["configs"] = dict(sorted(configs.items()))
    if secrets:
        document["secrets"] = {name: {"external": True} for name in sorted(secrets)}
    if volumes:
        document["volumes"] = {name: {"driver": "local"} for name in volumes}
    document["networks"] = {env.overlay.name: {"external": True}}
    shown = sh_comment(stack_name)  # a shell word on one comment line, whatever the name holds
    intro = f"# Stack {shown}: deploy with `docker stack deploy -c {STACK_FILES[stack]} {shown}`.\n"
    return header("#") + intro + dump_yaml(document)


_KEY_ORDER = (
    "image",
    "hostname",
    "entrypoint",
    "command",
    "environment",
    "configs",
    "secrets",
    "volumes",
    "networks",
    "ports",
    "healthcheck",
    "stop_grace_period",
    "deploy",
)


def _ordered(service: dict[str, Any]) -> dict[str, Any]:
    """A service's keys in one reading order, whatever order the component wrote them in."""
    known = {k: service[k] for k in _KEY_ORDER if k in service}
    return known | {k: v for k, v in service.items() if k not in known}
