"""Build a :class:`~iklim.status.plan.Plan` from the model (the slow path: imports pydantic).

Every address comes from the target's :meth:`~iklim.components.target.Target.endpoint` with a
port name: in production a member publishing that port in host mode (etcd, Patroni, MongoDB,
Vault) is reached on its node's private IP, an overlay-only one (Redis, Sentinel, RabbitMQ,
Prometheus, Grafana, APISIX, SWAG) by its overlay name, so those need a shell attached to the
overlay; in the lab each member is its loopback address. :data:`PROBED` says which members and
which port each probe asks, by catalogue key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iklim.components.mongodb import EXPORTER_USER
from iklim.components.target import Target, make_target
from iklim.components.trust import CA_SECRET, tls_on
from iklim.model.catalogue import CATALOGUE
from iklim.model.loader import load_environment
from iklim.model.schema import Environment
from iklim.status.plan import ComponentPlan, Endpoint, Plan

#: Catalogue key -> (member family, port name, endpoint kind) of each group of endpoints its probe
#: asks; the member count is the family's model ``members``. APISIX's ``status`` group (its metrics export) is one
#: ``tasks.`` name in production (the probe resolves it to every replica).
PROBED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "etcd": (("etcd", "client", ""),),
    "patroni": (("patroni", "patroni-api", ""),),
    "mongodb": (("mongodb", "mongod", ""),),
    "redis": (("redis", "redis", "redis"), ("redis-sentinel", "sentinel", "sentinel")),
    "rabbitmq": (("rabbitmq", "management", ""),),
    "apisix": (("apisix", "metrics", "status"), ("apisix", "admin", "admin")),
    "swag": (("swag", "status", ""),),
    "prometheus": (("prometheus", "http", ""),),
    "grafana": (("grafana", "http", ""),),
    "alertmanager": (("alertmanager", "http", ""),),
    "vault": (("vault", "api", ""),),
}
#: Binary whose absence explains why the lab does not run a component.
LAB_BINARIES = {"mongodb": "mongod", "apisix": "apisix", "grafana": "grafana-server"}


def _count(env: Environment, family: str) -> int:
    if family == "redis-sentinel":
        return env.services.redis.sentinel.members
    spec: Any = getattr(env.services, family.replace("-", "_"))
    return int(spec.members)


def endpoints(env: Environment, target: Target, key: str) -> tuple[Endpoint, ...]:
    """The endpoints the probe of catalogue entry ``key`` asks, from :data:`PROBED`."""
    out: list[Endpoint] = []
    for family, port_name, kind in PROBED[key]:
        if kind == "admin":  # one member is enough: every replica serves the same Admin API
            addresses = [target.endpoint(f"{family}-1", port_name)]
        else:
            addresses = target.replicas(family, _count(env, family), port_name)
        for a in addresses:
            out.append(Endpoint(a.name, a.host, a.port, "tasks" if a.tasks else kind))
    return tuple(out)


#: Catalogue key -> the TLS cluster (``tls.clusters``) its probe's endpoints serve.
TLS_CLUSTER = {"vault": "vault", "patroni": "patroni_api", "etcd": "etcd"}
#: Catalogue keys whose members ask a client certificate (etcd's ``--client-cert-auth``): the
#: probe presents the tool's own (``iklim-etcd-client``).
CLIENT_CERT = frozenset({"etcd"})


def _tls(env: Environment, target: Target, key: str) -> dict[str, Any]:
    """The probe context's TLS settings for catalogue entry ``key``
    (:meth:`iklim.status.probes.base.ProbeContext.http`)."""
    on = tls_on(env, TLS_CLUSTER[key])
    return {
        "tls": on,
        "ca_default": str(target.pki_dir() / CA_SECRET),
        "production": target.name == "prod",
        **({"client_cert": True} if on and key in CLIENT_CERT else {}),
    }


def _settings(env: Environment, target: Target) -> dict[str, dict[str, Any]]:
    svc = env.services
    return {
        "etcd": _tls(env, target, "etcd"),
        "vault": _tls(env, target, "vault"),
        "patroni": {
            **_tls(env, target, "patroni"),
            "scope": svc.patroni.scope,
            "max_replica_lag_bytes": svc.patroni.max_replica_lag_bytes,
            "synchronous_mode": svc.patroni.synchronous_mode,
        },
        "redis": {"master_name": svc.redis.master_name, "quorum": svc.redis.sentinel.quorum},
        "rabbitmq": {"user": "admin", "partition_handling": svc.rabbitmq.partition_handling},
        "mongodb": {"replica_set": svc.mongodb.replica_set, "user": "root", "exporter_user": EXPORTER_USER},
        "apisix": {"members": svc.apisix.members},
    }


def build_plan(env_path: str | Path, target: str, root: str = "") -> Plan:
    """The plan of every catalogue entry that has a probe, for target ``prod`` or ``lab``, from
    the model at ``env_path`` (the loader's ModelError when it is not valid)."""
    return plan_of(load_environment(env_path), target, root)


def plan_of(env: Environment, target: str, root: str = "") -> Plan:
    """As :func:`build_plan`, from a loaded model."""
    where = make_target(env, target, root)
    settings = _settings(env, where)
    return Plan(
        target,
        root,
        tuple(
            ComponentPlan(e.key, endpoints(env, where, e.key), settings.get(e.key, {}), LAB_BINARIES.get(e.key, ""))
            for e in CATALOGUE
            if e.key in PROBED
        ),
    )
