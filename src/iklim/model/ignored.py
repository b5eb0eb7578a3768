"""Model keys the renderer would ignore, and members the renderer cannot place (issue 16).

A key that is accepted but has no effect misleads the operator who sets it (``rabbitmq.ports``
publishes nothing; ``redis.volume`` moves no data). The tables below say, per component, which of
the common :class:`~iklim.model.schema.Component` fields its builder in ``iklim.components``
reads; setting any other is an error at that key. They must follow the builders: each entry names
what the builder does instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.model.schema import Component, Environment, VolumeKind

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]

# component -> {field: what the builder does instead}
IGNORED: dict[str, dict[str, str]] = {
    "redis": {"volume": "each member keeps its data in its own local volume at /data"},
    "rabbitmq": {"ports": "RabbitMQ stays on the overlay network and is reached through SWAG"},
    "apisix": {
        "nodes": "APISIX replicas are spread over the service nodes",
        "ports": "APISIX is reached through SWAG on the overlay network",
        "volume": "APISIX keeps its configuration in etcd",
    },
    "apisix_dashboard": {
        "nodes": "the dashboard is placed on any service node",
        "ports": "the dashboard is reached on the overlay network",
        "volume": "the dashboard keeps its configuration in etcd",
    },
    "cert_reloader": {
        "ports": "the reloader serves nothing",
        "volume": "the reloader reads cert_distributor's StorageBox path",
    },
    "cert_distributor": {"ports": "the distributor serves nothing"},
    "grafana": {"ports": "Grafana is reached through SWAG on the overlay network"},
    "prometheus": {"ports": "Prometheus is reached on the overlay network"},
    "alertmanager": {
        "ports": "Alertmanager is reached by Prometheus on the overlay network",
        "volume": "Alertmanager keeps silences in its container (see the model's comment)",
    },
}
# Components whose members are pinned one per node: `nodes` lists one node per member.
PINNED = ("etcd", "patroni", "mongodb", "redis", "rabbitmq", "vault")
# Components the builders run as one instance (a single pinned or placed replica).
SINGLE = ("swag", "cert_reloader", "cert_distributor", "prometheus", "grafana", "alertmanager")
# Components whose volume is a named local Docker volume: only `target` is read.
LOCAL_VOLUME = ("etcd", "patroni", "mongodb", "rabbitmq", "vault", "swag", "prometheus")


def ignored_problems(env: Environment) -> list[tuple[Loc, str]]:
    """Keys of ``env`` that would have no effect, and members without a node, as (key path, message)."""
    return [*_ignored(env), *_placement(env)]


def _ignored(env: Environment) -> Found:
    for name, spec in env.services:
        assert isinstance(spec, Component)
        loc: Loc = ("services", name)
        for field, instead in IGNORED.get(name, {}).items():
            if field in spec.model_fields_set:
                yield loc + (field,), f"{name}.{field} is not used by the renderer ({instead}): remove it"
        volume = spec.volume
        if name in LOCAL_VOLUME and volume is not None:
            if volume.kind is not VolumeKind.LOCAL:
                yield loc + ("volume", "kind"), f"{name} keeps its data on a local Docker volume: use kind: local"
            for field in ("path", "env"):
                if field in volume.model_fields_set:
                    yield loc + ("volume", field), f"{name}'s local volume has no {field}: remove it"


def _placement(env: Environment) -> Found:
    for name in PINNED:
        spec = getattr(env.services, name)
        if not spec.nodes:
            yield ("services", name), f"{name} pins one member per node: list {spec.members} nodes under `nodes`"
    sentinel = env.services.redis.sentinel
    if not sentinel.nodes:
        yield ("services", "redis", "sentinel"), f"list {sentinel.members} nodes under `nodes`, one per Sentinel"
    for name in SINGLE:
        spec = getattr(env.services, name)
        if spec.members != 1:
            yield ("services", name, "members"), f"{name} runs as a single instance: members must be 1"
