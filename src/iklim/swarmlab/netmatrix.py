"""What the network boundary should let through, derived from the model (never from the rendered
firewall, which is what the probe tests).

Shapes: a :class:`Source` sends from a public and/or a private address (or from a container on the
overlay / on another overlay); a :class:`Target` is a node's public address, its private address,
or an overlay service name, each with the :class:`Port` s to try. :func:`expected` says, for one
(source, target, port), whether a TCP connection should succeed in the lab.

Policy (issue 10, from the seed and the model):

- a node's public address: SWAG's public ports (``ports[].public``) from anywhere; SSH only from
  the admin CIDRs; nothing else from anywhere (Hetzner firewall; the private-source rules never
  match a public source);
- a node's private address: reachable only from the private network (the outside has no route);
  the host-mode ports that are not public (every DB port, Vault's API) only from the app and DB
  subnets and the overlay (DOCKER-USER); other listening ports (Swarm, SSH, SWAG) from the
  private network (Hetzner firewalls do not filter it);
- an overlay service name (Redis, Sentinel, RabbitMQ): only from a container on the overlay;
- RabbitMQ management through SWAG (``https`` targets: HTTPS to SWAG's node with the model's
  ``management_host``): 200 to a source inside ``management_allow``, 403 to any other, probed
  only from the sources that reach SWAG's https port on that address;
- a port is reachable at all only where something listens: a component's host-mode ports on its
  nodes (``nodes``, else every node of its placement), Swarm 2377 on managers and 7946 on every
  node, SSH on every node (a FAKE sshd in the lab); not what the lab cannot run
  (:data:`iklim.swarmlab.standins.UNAVAILABLE`, e.g. mongod), named in :func:`lab_gaps`.

UDP ports (7946/udp, 4789/udp) are not in the matrix: a UDP probe gets no answer from an open or
a filtered port alike, so it could not tell the cells apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from iklim.components.base import member_names
from iklim.model.catalogue import engine_port
from iklim.model.ports import port_of
from iklim.model.schema import Component, Environment
from iklim.render.terraform import SWARM_PORTS
from iklim.swarmlab.standins import UNAVAILABLE

#: sshd's port: the firewall's SSH rule (render.terraform) opens the same default.
SSH_PORT = 22
SWARM_MANAGEMENT = next(port for proto, port, what in SWARM_PORTS if proto == "tcp" and "management" in what)
SWARM_GOSSIP = next(port for proto, port, what in SWARM_PORTS if proto == "tcp" and "gossip" in what)


@dataclass(frozen=True)
class Port:
    """``label`` (e.g. ``patroni postgres``), TCP port ``number``."""

    label: str
    number: int


@dataclass(frozen=True)
class Target:
    """``label`` (``iklim-db-01 public``, ``redis-1``), ``host`` (address or name), ``node``
    (hostname; None for a service name), ``kind`` public/private/service, the ``ports`` to try."""

    label: str
    host: str
    node: str | None
    kind: str
    ports: tuple[Port, ...]
    server_name: str | None = None  # an https target: SNI and Host


@dataclass(frozen=True)
class Source:
    """``name``; ``public``/``private``: the address its packets carry on that side (None: no route
    there); ``node``: the node it sits on (a node itself, or a container's host); ``overlay``:
    True for a container on the model's overlay (its service names resolve)."""

    name: str
    public: str | None
    private: str | None
    node: str | None = None
    overlay: bool = False


@dataclass(frozen=True)
class Listener:
    """A port listening on some nodes: ``component`` (for lab availability) and the hostnames."""

    port: Port
    nodes: frozenset[str]
    component: str | None
    public: bool = False
    guarded: bool = False  # a private host-mode port: app + DB subnets and overlay only


def _component_nodes(env: Environment, spec: Component) -> frozenset[str]:
    if spec.nodes:
        return frozenset(spec.nodes)
    return frozenset(n.name for n in env.nodes if n.role is spec.placement)


def listeners(env: Environment) -> list[Listener]:
    """Every TCP port that listens on a node address, by the model (see the module docstring)."""
    found = []
    for name, spec in env.services:
        assert isinstance(spec, Component)
        for p in spec.ports:
            if p.protocol == "tcp":
                port = Port(f"{name} {p.name}", p.port)
                public = p.public
                found.append(Listener(port, _component_nodes(env, spec), name, public, not public and p.mode == "host"))
    managers = frozenset(n.name for n in env.nodes if n.swarm_role == "manager")
    everyone = frozenset(n.name for n in env.nodes)
    found.append(Listener(Port("swarm management", SWARM_MANAGEMENT), managers, None))
    found.append(Listener(Port("swarm gossip", SWARM_GOSSIP), everyone, None))
    found.append(Listener(Port("ssh", SSH_PORT), everyone, None))
    return found


def overlay_only_ports(env: Environment) -> list[tuple[Port, list[str], str]]:
    """(port, service names, component) of the overlay-only engines the policy names: Redis,
    Sentinel, RabbitMQ (AMQP and management) and Vault's cluster port."""
    redis, rabbit = env.services.redis, env.services.rabbitmq
    rabbit_names = member_names("rabbitmq", rabbit.members)
    return [
        (Port("redis", engine_port("redis", "redis")), member_names("redis", redis.members), "redis"),
        (
            Port("redis sentinel", engine_port("redis", "sentinel")),
            member_names("redis-sentinel", redis.sentinel.members),
            "redis",
        ),
        (Port("rabbitmq amqp", engine_port("rabbitmq", "amqp")), rabbit_names, "rabbitmq"),
        (Port("rabbitmq management", engine_port("rabbitmq", "management")), rabbit_names, "rabbitmq"),
        (
            Port("vault cluster", env.services.vault.cluster_port),
            member_names("vault", env.services.vault.members),
            "vault",
        ),  # fmt: skip
    ]


def node_ports(env: Environment) -> tuple[Port, ...]:
    """Every port tried on every node address: the listeners' and the overlay-only ones (which
    must answer nowhere on a node address)."""
    seen: dict[int, Port] = {}
    for item in listeners(env):
        seen.setdefault(item.port.number, item.port)
    for port, _, _ in overlay_only_ports(env):
        seen.setdefault(port.number, port)
    return tuple(sorted(seen.values(), key=lambda p: p.number))


def targets(env: Environment, public_of: dict[str, str]) -> list[Target]:
    """Each node's public address (``public_of``: hostname -> address) and private address, then
    each overlay service name with its ports."""
    ports = node_ports(env)
    found = []
    for node in env.nodes:
        found.append(Target(f"{node.name} public", public_of[node.name], node.name, "public", ports))
        found.append(Target(f"{node.name} private", str(node.private_ip), node.name, "private", ports))
    by_name: dict[str, list[Port]] = {}
    for port, names, _ in overlay_only_ports(env):
        for name in names:
            by_name.setdefault(name, []).append(port)
    found.extend(Target(name, name, None, "service", tuple(p)) for name, p in by_name.items())
    return found + https_targets(env, public_of)


def https_targets(env: Environment, public_of: dict[str, str]) -> list[Target]:
    """RabbitMQ management through SWAG: each SWAG node's public and private address."""
    rabbit, swag = env.services.rabbitmq, env.services.swag
    port = Port("rabbitmq management via swag", port_of(swag, "https"))
    found = []
    for node in env.nodes:
        if node.name in _component_nodes(env, swag):
            for side, host in (("public", public_of[node.name]), ("private", str(node.private_ip))):
                label = f"{rabbit.management_host} via {node.name} {side}"
                found.append(Target(label, host, node.name, "https", (port,), rabbit.management_host))
    return found


def probed(env: Environment, source: Source, target: Target) -> bool:
    """Whether ``source`` probes ``target`` at all: never the node it sits on; an https target only
    from a source that reaches SWAG's https port on that address (else there is no answer to read)."""
    if target.node is not None and target.node == source.node:
        return False
    if target.kind != "https":
        return True
    side = "public" if target.label.endswith(" public") else "private"
    twin = Target(f"{target.node} {side}", target.host, target.node, side, target.ports)
    return expected(env, source, twin, target.ports[0]) and _lab_runs(env, "rabbitmq")


def _lab_runs(env: Environment, component: str | None) -> bool:
    if component is None:
        return True
    spec = getattr(env.services, component)
    return str(spec.image) not in UNAVAILABLE


def lab_gaps(env: Environment) -> list[str]:
    """Ports the model publishes whose engine the lab cannot run (so no cell can show them open)."""
    return [
        f"{item.port.label} {item.port.number}/tcp: {UNAVAILABLE[str(getattr(env.services, item.component).image)]}"
        for item in listeners(env)
        if not _lab_runs(env, item.component) and item.component is not None
    ]


def _in(address: str | None, networks: list[IPv4Network]) -> bool:
    return address is not None and any(IPv4Address(address) in net for net in networks)


def expected(env: Environment, source: Source, target: Target, port: Port) -> bool:
    """Whether a TCP connection from ``source`` to ``port`` on ``target`` should succeed (see the
    module docstring for the policy)."""
    if target.kind == "https":
        address = source.public if target.label.endswith(" public") else source.private
        return _in(address, list(env.services.rabbitmq.management_allow))
    if target.kind == "service":
        component = next(c for p, names, c in overlay_only_ports(env) if p == port and target.host in names)
        return source.overlay and _lab_runs(env, component)
    items = [i for i in listeners(env) if i.port.number == port.number and target.node in i.nodes]
    items = [i for i in items if _lab_runs(env, i.component)]
    if not items:
        return False
    item = items[0]
    if target.kind == "public":
        if source.public is None:
            return False
        if item.public:
            return True
        return item.port.number == SSH_PORT and _in(source.public, list(env.network.admin_cidrs))
    if source.private is None:
        return False
    if item.guarded:
        allowed = [env.network.app_subnet, env.network.db_subnet, env.overlay.subnet]
        return _in(source.private, allowed)
    return True
