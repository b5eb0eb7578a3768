"""Rules that relate several fields of a model, each answered with the key path it is about.

The seed's placement boundary is enforced here first, before anything is rendered: DB services on
``iklim-db-*`` nodes with host-mode ports; everything else on ``type=service`` nodes; a node's
name (``iklim-db-*``, ``iklim-app-*``) and its ``type`` label agree with its role; Redis,
Sentinel and RabbitMQ overlay-only; quorum clusters with an odd member count; etcd prefixes apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iklim.model.boundaries import boundary_problems
from iklim.model.ignored import ignored_problems
from iklim.model.ports import port_problems
from iklim.model.schema import DB_COMPONENTS, QUORUM_COMPONENTS, Component, Environment, Placement
from iklim.model.seedfacts import seed_problems
from iklim.model.timings import timing_problems
from iklim.model.tls import lifetime_problems, overlay_problems

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]
# The seed's node naming: DB services run on iklim-db-*, service infrastructure on iklim-app-*.
NODE_PREFIX = {Placement.DB: "iklim-db-", Placement.SERVICE: "iklim-app-"}


def etcd_paths_overlap(a: str, b: str) -> bool:
    """True when one etcd key prefix contains the other (``/apisix`` and ``/apisix/x``, or equal)."""
    first, second = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return first.startswith(second) or second.startswith(first)


def _nodes(env: Environment) -> Found:
    seen: set[str] = set()
    for i, node in enumerate(env.nodes):
        if node.name in seen:
            yield ("nodes", i, "name"), f"node {node.name!r} is listed twice"
        seen.add(node.name)
        subnet = env.network.db_subnet if node.role is Placement.DB else env.network.app_subnet
        if node.private_ip not in subnet:
            yield ("nodes", i, "private_ip"), f"{node.private_ip} is outside the {node.role} subnet {subnet}"
        role = "DB" if node.role is Placement.DB else "service"
        prefix = NODE_PREFIX[node.role]
        if not node.name.startswith(prefix):
            yield ("nodes", i, "name"), f"{role} node {node.name!r} must be named {prefix}*"
        label = node.labels.get("type")
        if label != node.role.value:
            where: Loc = ("nodes", i, "labels", "type") if label is not None else ("nodes", i, "labels")
            found = f"is labelled type={label}" if label is not None else "has no type label"
            yield (
                where,
                f"{role} node {node.name!r} {found}: label it type={node.role.value}; the stacks place "
                f"{'DB services' if node.role is Placement.DB else 'service infrastructure'} by "
                f"node.labels.type == {node.role.value}",
            )


def _network(env: Environment) -> Found:
    net = env.network
    for key in ("app_subnet", "db_subnet"):
        subnet = getattr(net, key)
        if not subnet.subnet_of(net.ip_range):
            yield ("network", key), f"{subnet} is not inside the network range {net.ip_range}"
    if net.app_subnet.overlaps(net.db_subnet):
        yield ("network", "db_subnet"), "the app and DB subnets overlap"
    if env.overlay.subnet.overlaps(net.ip_range):
        yield ("overlay", "subnet"), "the overlay subnet overlaps the private network"


def _membership(env: Environment, name: str, spec: Any, placement: Placement, loc: Loc) -> Found:
    if spec.nodes and len(spec.nodes) != spec.members:
        yield loc + ("nodes",), f"{len(spec.nodes)} nodes listed for {spec.members} members"
    if len(set(spec.nodes)) != len(spec.nodes):
        yield loc + ("nodes",), "a node is listed twice; members of one cluster need separate nodes"
    for i, node_name in enumerate(spec.nodes):
        try:
            node = env.node(node_name)
        except KeyError:
            yield loc + ("nodes", i), f"unknown node {node_name!r}"
            continue
        if node.role is not placement:
            yield loc + ("nodes", i), f"{name} runs on {placement} nodes, but {node_name} is a {node.role} node"


def _components(env: Environment) -> Found:
    for name, spec in env.services:
        assert isinstance(spec, Component)
        loc: Loc = ("services", name)
        wanted = Placement.DB if name in DB_COMPONENTS else Placement.SERVICE
        if spec.placement is not wanted:
            where = "iklim-db-* nodes" if wanted is Placement.DB else "nodes labelled type=service"
            yield loc + ("placement",), f"{name} must be placed on {where} (placement: {wanted})"
        yield from _membership(env, name, spec, spec.placement, loc)
        if name in QUORUM_COMPONENTS and (spec.members < 3 or spec.members % 2 == 0):
            yield loc + ("members",), f"{name} is a quorum cluster: use an odd member count of 3 or more"
        for i, port in enumerate(spec.ports):
            if wanted is Placement.DB and port.mode != "host":
                yield loc + ("ports", i, "mode"), f"{name} is a DB service: publish port {port.port} in host mode"
            if port.public and name != "swag":
                yield loc + ("ports", i, "public"), f"only SWAG may be public; {name} port {port.port} is not"
    for i, _ in enumerate(env.services.redis.ports):
        yield ("services", "redis", "ports", i), "redis stays on the overlay network: publish no ports"
    sentinel = env.services.redis.sentinel
    if sentinel.ports:
        yield ("services", "redis", "sentinel", "ports"), "Sentinel stays on the overlay network: no ports"
    yield from _membership(env, "sentinel", sentinel, Placement.SERVICE, ("services", "redis", "sentinel"))
    if sentinel.members < 3 or sentinel.members % 2 == 0:
        yield ("services", "redis", "sentinel", "members"), "use an odd number of 3 or more Sentinels"
    if not sentinel.members // 2 < sentinel.quorum <= sentinel.members:
        yield ("services", "redis", "sentinel", "quorum"), "quorum must be a majority of the Sentinels"


def _etcd_and_timings(env: Environment) -> Found:
    svc = env.services
    if svc.apisix.etcd_prefix != "/apisix":
        yield ("services", "apisix", "etcd_prefix"), "the seed fixes APISIX's etcd prefix to /apisix"
    if etcd_paths_overlap(svc.apisix.etcd_prefix, svc.patroni.namespace):
        yield (
            ("services", "patroni", "namespace"),
            (f"Patroni's namespace {svc.patroni.namespace} collides with APISIX's prefix {svc.apisix.etcd_prefix}"),
        )
    if len(svc.etcd.aliases) != svc.etcd.members:
        yield ("services", "etcd", "aliases"), "give one overlay alias per etcd member"
    if svc.vault.key_threshold > svc.vault.key_shares:
        yield ("services", "vault", "key_threshold"), "key_threshold cannot exceed key_shares"
    prom = svc.prometheus.volume
    if prom is None or prom.kind != "local":
        yield ("services", "prometheus", "volume"), "Prometheus TSDB must stay on a local Docker volume"
    graf = svc.grafana.volume
    if graf is None or graf.kind != "storagebox" or graf.env != "GRAFANA_DATA_DIR" or not graf.path:
        yield ("services", "grafana", "volume"), "Grafana data must be the GRAFANA_DATA_DIR StorageBox path"


def semantic_problems(env: Environment) -> list[tuple[Loc, str]]:
    """Every cross-field problem of ``env`` as (key path, message); empty when the model is sound.
    Includes the production boundaries (:mod:`iklim.model.boundaries`), the keys the renderer
    would ignore (:mod:`iklim.model.ignored`), the seed's fixed facts (:mod:`iklim.model.seedfacts`) and the failover
    timing relations (:mod:`iklim.model.timings`)."""
    return [
        *_nodes(env),
        *_network(env),
        *_components(env),
        *_etcd_and_timings(env),
        *timing_problems(env),
        *boundary_problems(env),
        *ignored_problems(env),
        *port_problems(env),
        *seed_problems(env),
        *lifetime_problems(env.tls),
        *overlay_problems(env.tls),
    ]
