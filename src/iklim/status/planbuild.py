"""Build a :class:`~iklim.status.plan.Plan` from the model (the slow path: imports pydantic).

Production addresses: members that publish host-mode ports (etcd, Patroni, MongoDB, Vault) are
reached on their node's private IP; overlay-only services (Redis, Sentinel, RabbitMQ, Prometheus,
Grafana, APISIX) by their overlay names, so those need a shell attached to the overlay. Lab
addresses come from the lab target (loopback per node), ports are the production ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from iklim.components import apisix, etcd, grafana, mongodb, patroni, ports, rabbitmq, redis
from iklim.components.base import member_names
from iklim.components.target import LabTarget, ProductionTarget, split_member
from iklim.model.loader import load_environment
from iklim.model.schema import Component, Environment, Sentinel
from iklim.status.plan import ComponentPlan, Endpoint, Plan

Locate = Callable[[str], tuple[str, str]]  # member -> (display name, host)


def _spec(env: Environment, family: str) -> Component | Sentinel:
    if family == "redis-sentinel":
        return env.services.redis.sentinel
    spec: Component = getattr(env.services, family.replace("-", "_"))
    return spec


def production_locator(env: Environment) -> Locate:
    overlay = ProductionTarget(env)

    def locate(member: str) -> tuple[str, str]:
        family, index = split_member(member)
        spec = _spec(env, family)
        name = overlay.host(member)
        if spec.nodes and any(p.mode == "host" for p in spec.ports):
            return name, str(env.node(spec.nodes[index - 1]).private_ip)
        return name, name

    return locate


def lab_locator(env: Environment, root: str) -> Locate:
    target = LabTarget(env, Path(root))
    return lambda member: (member, target.host(member))


def _members(locate: Locate, family: str, count: int, port: int, kind: str = "") -> tuple[Endpoint, ...]:
    out = []
    for member in member_names(family, count):
        name, host = locate(member)
        out.append(Endpoint(name, host, port, kind))
    return tuple(out)


def build_plan(env_path: str | Path, target: str, root: str = "") -> Plan:
    env = load_environment(env_path)
    locate = lab_locator(env, root) if target == "lab" else production_locator(env)
    svc = env.services
    apisix_status: tuple[Endpoint, ...]
    if target == "lab":
        apisix_status = _members(locate, "apisix", svc.apisix.members, apisix.METRICS_PORT, "status")
    else:  # one Swarm service with N tasks: its tasks.<service> DNS name lists them all
        apisix_status = (Endpoint("apisix", f"tasks.{env.stacks.infra}_apisix", apisix.METRICS_PORT, "tasks"),)
    admin_name, admin_host = locate("apisix-1")
    settings: dict[str, dict[str, Any]] = {
        "patroni": {
            "scope": svc.patroni.scope,
            "max_replica_lag_bytes": svc.patroni.max_replica_lag_bytes,
            "synchronous_mode": svc.patroni.synchronous_mode,
        },
        "redis": {"master_name": svc.redis.master_name, "quorum": svc.redis.sentinel.quorum},
        "rabbitmq": {"user": "admin", "partition_handling": svc.rabbitmq.partition_handling},
        "mongodb": {"replica_set": svc.mongodb.replica_set, "user": "root", "exporter_user": mongodb.EXPORTER_USER},
        "apisix": {"members": svc.apisix.members},
    }
    endpoints = {
        "etcd": _members(locate, "etcd", svc.etcd.members, etcd.CLIENT_PORT),
        "patroni": _members(locate, "patroni", svc.patroni.members, patroni.REST_PORT),
        "redis": _members(locate, "redis", svc.redis.members, redis.REDIS_PORT, "redis")
        + _members(locate, "redis-sentinel", svc.redis.sentinel.members, redis.SENTINEL_PORT, "sentinel"),
        "rabbitmq": _members(locate, "rabbitmq", svc.rabbitmq.members, rabbitmq.MANAGEMENT_PORT),
        "vault": _members(locate, "vault", svc.vault.members, svc.vault.api_port),
        "mongodb": _members(locate, "mongodb", svc.mongodb.members, mongodb.PORT),
        "apisix": apisix_status + (Endpoint(admin_name, admin_host, apisix.ADMIN_PORT, "admin"),),
        "grafana": _members(locate, "grafana", 1, grafana.HTTP_PORT),
        "prometheus": _members(locate, "prometheus", 1, ports.PROMETHEUS_PORT),
    }
    binaries = {"mongodb": "mongod", "apisix": "apisix", "grafana": "grafana-server"}
    return Plan(
        target,
        root,
        tuple(
            ComponentPlan(name, eps, settings.get(name, {}), binaries.get(name, "")) for name, eps in endpoints.items()
        ),
    )
