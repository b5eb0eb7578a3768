"""Values the schema accepts that production cannot run or must not run (issue 16, kind 10).

Each rule answers with the key path it is about, like :mod:`iklim.model.semantics`:

- ``admin_cidrs``: nothing wider than ``/16`` (SSH is never open to the world);
- ``management_allow``: RFC 1918 ranges, or ranges inside ``admin_cidrs`` (an allow-list is never
  wider than the operators' own addresses);
- SWAG publishes only 80 and 443 publicly;
- no service publishes 22 (SSH) or Swarm's 2377, 7946, 4789, and no two services (or one twice)
  publish the same port and protocol on one node (ingress ports count on every node);
- node IPs are unique, inside their subnet, neither its network nor its broadcast address, nor
  the Hetzner network gateway (the first address of the network range);
- the overlay stays clear of the private network and of Docker's own ranges (below);
- etcd aliases are unique and never the name of a service of the stacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from iklim.model.schema import Component, Environment, Placement

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]

ADMIN_MIN_PREFIX = 16
RFC1918 = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
DOCUMENTATION = tuple(IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
PUBLIC_PORTS = (80, 443)
RESERVED_PORTS = {22: "SSH", 2377: "Swarm cluster management", 7946: "Swarm gossip", 4789: "Swarm VXLAN"}
# Docker's own address ranges on every node: docker0 (172.17.0.0/16) and the default local
# address pools (172.17-31.0.0/16 and 192.168.0.0/16, where docker_gwbridge and any bridge
# network come from), plus the Swarm ingress network's default 10.0.0.0/24. An overlay inside
# one of them collides with a bridge on some node sooner or later.
DOCKER_RANGES = (IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"), IPv4Network("10.0.0.0/24"))
EXTRA_SERVICE_PREFIXES = ("redis-sentinel", "redis-exporter", "mongodb-exporter", "swag-exporter")


def _networks(env: Environment) -> Found:
    for i, cidr in enumerate(env.network.admin_cidrs):
        if cidr.prefixlen < ADMIN_MIN_PREFIX:
            yield (
                ("network", "admin_cidrs", i),
                f"{cidr} is too wide for SSH: list the bastion or VPN egress ranges (/{ADMIN_MIN_PREFIX} or narrower)",
            )
    for i, cidr in enumerate(env.services.rabbitmq.management_allow):
        if not any(cidr.subnet_of(allowed) for allowed in (*RFC1918, *env.network.admin_cidrs)):
            yield (
                ("services", "rabbitmq", "management_allow", i),
                f"{cidr} is neither a private range nor inside admin_cidrs: admit operators through the bastion or VPN",
            )
    overlay = env.overlay.subnet
    for docker in DOCKER_RANGES:
        if overlay.overlaps(docker):
            yield ("overlay", "subnet"), f"the overlay {overlay} overlaps Docker's own range {docker}"


def _node_ips(env: Environment) -> Found:
    seen: dict[str, str] = {}
    gateway = next(env.network.ip_range.hosts())
    for i, node in enumerate(env.nodes):
        ip = node.private_ip
        subnet = env.network.db_subnet if node.role is Placement.DB else env.network.app_subnet
        if str(ip) in seen:
            yield ("nodes", i, "private_ip"), f"{ip} is already the address of {seen[str(ip)]}"
        seen.setdefault(str(ip), node.name)
        if ip in subnet and ip in (subnet.network_address, subnet.broadcast_address):
            yield ("nodes", i, "private_ip"), f"{ip} is the network or broadcast address of {subnet}"
        elif ip == gateway:
            yield ("nodes", i, "private_ip"), f"{ip} is the gateway of the network {env.network.ip_range}"


def _nodes_of(env: Environment, spec: Component) -> list[str]:
    """The nodes a service may publish on: its pinned nodes, else every node of its role."""
    return list(spec.nodes) or [n.name for n in env.nodes if n.role is spec.placement]


def _ports(env: Environment) -> Found:
    taken: dict[tuple[str, str, int], str] = {}
    everywhere = [n.name for n in env.nodes]
    for name, spec in env.services:
        assert isinstance(spec, Component)
        for i, port in enumerate(spec.ports):
            loc: Loc = ("services", name, "ports", i, "port")
            if port.port in RESERVED_PORTS:
                yield loc, f"{name} cannot publish {port.port}: the node's {RESERVED_PORTS[port.port]} port"
                continue
            if port.public and name == "swag" and port.port not in PUBLIC_PORTS:
                yield loc, f"SWAG publishes only 80 and 443 publicly, not {port.port}"
            nodes = _nodes_of(env, spec) if port.mode == "host" else everywhere
            for node in nodes:
                key = (node, port.protocol, port.port)
                if key in taken:
                    yield loc, f"{port.port}/{port.protocol} on {node} is already published by {taken[key]}"
                    break
            for node in nodes:
                taken.setdefault((node, port.protocol, port.port), name)


def _service_names(env: Environment) -> set[str]:
    prefixes = [name.replace("_", "-") for name, _ in env.services] + list(EXTRA_SERVICE_PREFIXES)
    return set(prefixes) | {f"{p}-{i}" for p in prefixes for i in range(1, 16)}


def _aliases(env: Environment) -> Found:
    services = _service_names(env)
    seen: set[str] = set()
    for i, alias in enumerate(env.services.etcd.aliases):
        loc: Loc = ("services", "etcd", "aliases", i)
        if alias in seen:
            yield loc, f"etcd alias {alias!r} is listed twice"
        elif alias in services:
            yield loc, f"etcd alias {alias!r} is the name of a service of the stacks"
        seen.add(alias)


def boundary_problems(env: Environment) -> list[tuple[Loc, str]]:
    """Every value of ``env`` that production cannot or must not run, as (key path, message)."""
    return [*_networks(env), *_node_ips(env), *_ports(env), *_aliases(env)]


def boundary_warnings(env: Environment) -> list[tuple[Loc, str]]:
    """Values that run but are almost certainly placeholders: documentation address ranges."""
    found: list[tuple[Loc, str]] = []
    for i, cidr in enumerate(env.network.admin_cidrs):
        if any(cidr.subnet_of(doc) for doc in DOCUMENTATION):
            found.append(
                (
                    ("network", "admin_cidrs", i),
                    f"{cidr} is a documentation range (RFC 5737): replace it with the bastion's address",
                )
            )
    return found
