"""Where the rendered configs will run: production containers, or the one-machine lab.

The lab and production differ only here, never in the config builders: a member's address, the
address it listens on, where its data and its config includes live. Members are named as in the
stacks (``etcd-1``, ``patroni-2``, ``redis-sentinel-3``, ``vault-1``).

Three questions have one answer each, here: which model node runs member N (:func:`node_of`),
which number a port name stands for (:func:`port_number`: the model's ``ports`` first, else the
catalogue's engine port), and how a tool outside the cluster reaches member N on a named port
(:meth:`Target.endpoint`): in production a host-mode port on its node's private address, any
other on the overlay name; in the lab the member's loopback address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Protocol

from iklim.model.catalogue import CATALOGUE, Entry
from iklim.model.ports import MissingPort
from iklim.model.schema import Component, Environment, Placement, PortSpec, Sentinel


def split_member(member: str) -> tuple[str, int]:
    """``redis-sentinel-2`` -> (``redis-sentinel``, 2). A bare cluster name (``rabbitmq``) is the
    name clients use for any member: production resolves it to the shared overlay alias, the lab
    to member 1."""
    match = re.fullmatch(r"(.+)-(\d+)", member)
    if not match:
        return member, 1
    return match.group(1), int(match.group(2))


def section_of(env: Environment, family: str) -> Component | Sentinel | None:
    """The model section of a member family (``redis-sentinel`` -> ``services.redis.sentinel``,
    ``apisix-dashboard`` -> ``services.apisix_dashboard``); None for a family without one (an
    exporter, which runs beside its component)."""
    if family == "redis-sentinel":
        return env.services.redis.sentinel
    spec = getattr(env.services, family.replace("-", "_"), None)
    return spec if isinstance(spec, Component) else None


def entry_of(family: str) -> Entry:
    """The catalogue entry a member family belongs to (``redis-exporter`` -> ``redis``).

    Raises KeyError naming the family when no entry owns it.
    """
    section = family.replace("-", "_")
    for e in CATALOGUE:
        if family == e.key or family.startswith(e.key + "-") or section in e.sections:
            return e
    raise KeyError(f"no catalogue entry owns {family!r}")


def _model_port(env: Environment, family: str, name: str) -> PortSpec | None:
    spec = section_of(env, family)
    return next((p for p in spec.ports if p.name == name), None) if spec is not None else None


def port_number(env: Environment, family: str, name: str) -> int:
    """The number of port ``name`` of ``family``'s members: the model's ``ports`` entry of that
    name, else the catalogue's engine port (``redis``/``sentinel``, ``management``, ...).

    Raises :class:`~iklim.model.ports.MissingPort` when neither has it.
    """
    found = _model_port(env, family, name)
    if found is not None:
        return found.port
    ports = entry_of(family).engine_ports
    if name in ports:
        return ports[name]
    raise MissingPort(f"{family} has no port named {name!r} in the model's ports or the catalogue")


def node_of(env: Environment, member: str) -> str | None:
    """The model node that runs ``member`` (``patroni-2`` -> the second of patroni's ``nodes``,
    cycling when there are fewer nodes than members); None when its component is not pinned."""
    family, index = split_member(member)
    spec = section_of(env, family)
    nodes = spec.nodes if spec is not None else []
    return nodes[(index - 1) % len(nodes)] if nodes else None


@dataclass(frozen=True)
class Address:
    """How a tool reaches one member: ``name`` as the target calls it, ``host`` and ``port``;
    ``tasks`` when ``host`` is Swarm's ``tasks.<service>`` name listing every replica."""

    name: str
    host: str
    port: int
    tasks: bool = False


#: Clusters whose members are separate Swarm services (``etcd-1``...); the others are one service.
PER_MEMBER_SERVICES = frozenset(
    {"etcd", "patroni", "mongodb", "mongodb-exporter", "redis", "redis-sentinel", "rabbitmq", "vault"}
)


class Target(Protocol):
    """How one deployment target addresses members and lays out their files."""

    @property
    def name(self) -> str:
        """``prod`` or ``lab``."""

    def host(self, member: str) -> str:
        """The address other members and clients use to reach ``member``."""

    def listen(self, member: str) -> str:
        """The address ``member`` binds to."""

    def data_dir(self, member: str, container_path: str) -> str:
        """Where ``member`` keeps its data (``container_path`` inside a container)."""

    def path(self, member: str, container_path: str) -> str:
        """Where a file that production keeps at ``container_path`` lives for ``member``."""

    def trusted_cidr(self, network: IPv4Network) -> IPv4Network | None:
        """A production client CIDR as this target sees it; None when it cannot occur here."""

    def erlang_node(self, member: str) -> str:
        """The Erlang node name of a RabbitMQ member."""

    def postgres_bin_dir(self, major: int) -> str:
        """Where the PostgreSQL binaries of ``major`` are."""

    @property
    def vault_engine(self) -> str:
        """``vault`` (HashiCorp Vault, production) or ``openbao`` (the lab's API-compatible fork)."""

    def vault_keys_file(self) -> Path:
        """Where the Vault bootstrap keeps the init result (unseal keys, root token) by default."""

    def pki_dir(self) -> Path:
        """The environment CA's folder (``iklim pki``): the model's ``tls.pki_dir`` on the manager,
        ``<root>/pki`` in the loopback lab."""

    def endpoint(self, member: str, port_name: str) -> Address:
        """How a tool outside the cluster (``status``, the Vault bootstrap) reaches ``member`` on
        its port called ``port_name`` (:func:`port_number`)."""

    def replicas(self, family: str, count: int, port_name: str) -> list[Address]:
        """The addresses of ``count`` members of ``family`` on ``port_name``; a replicated Swarm
        service (one service, ``count`` tasks) is one ``tasks.`` address in production."""


@dataclass(frozen=True)
class ProductionTarget:
    """Swarm services on the overlay: per-member names, containers listening on every address."""

    env: Environment
    name: str = "prod"

    def host(self, member: str) -> str:
        family, index = split_member(member)
        if family == "etcd":
            return self.env.services.etcd.aliases[index - 1]
        return member if family in PER_MEMBER_SERVICES else family

    def listen(self, member: str) -> str:
        return "0.0.0.0"

    def data_dir(self, member: str, container_path: str) -> str:
        return container_path

    def path(self, member: str, container_path: str) -> str:
        return container_path

    def trusted_cidr(self, network: IPv4Network) -> IPv4Network | None:
        return network

    def erlang_node(self, member: str) -> str:
        return f"rabbit@{member}"

    def postgres_bin_dir(self, major: int) -> str:
        return f"/usr/lib/postgresql/{major}/bin"

    @property
    def vault_engine(self) -> str:
        return "vault"

    def vault_keys_file(self) -> Path:
        return Path(self.env.services.vault.keys_file)

    def pki_dir(self) -> Path:
        """The model's ``tls.pki_dir``: the CA folder on the manager."""
        return Path(self.env.tls.pki_dir)

    def endpoint(self, member: str, port_name: str) -> Address:
        family, _ = split_member(member)
        name = self.host(member)
        port = port_number(self.env, family, port_name)
        spec = _model_port(self.env, family, port_name)
        node = node_of(self.env, member)
        if node is not None and spec is not None and spec.mode == "host":  # published on its node
            return Address(name, str(self.env.node(node).private_ip), port)
        return Address(name, name, port)

    def replicas(self, family: str, count: int, port_name: str) -> list[Address]:
        if family in PER_MEMBER_SERVICES or count == 1:
            return [self.endpoint(m, port_name) for m in _members(family, count)]
        tasks = f"tasks.{self.env.stacks.infra}_{family}"  # one service: its tasks name lists them all
        return [Address(family, tasks, port_number(self.env, family, port_name), tasks=True)]


#: The lab's address plan: each node class is a loopback /24, node N is .N.
LAB_SUBNETS = {Placement.DB: "127.0.1", Placement.SERVICE: "127.0.2", "vault": "127.0.3"}
LAB_PRIVATE = IPv4Network("127.0.0.0/16")


@dataclass(frozen=True)
class LabTarget:
    """Every node of the model becomes a loopback address; ports stay the production ones.

    DB nodes are 127.0.1.N, service nodes 127.0.2.N, Vault members 127.0.3.N. The private network
    and the overlay map onto 127.0.0.0/16 (the DB and app subnets onto 127.0.1.0/24 and
    127.0.2.0/24), so an allow-list entry for the private network admits lab members while any
    other loopback source (127.1.x.x and up) stays outside it.
    """

    env: Environment
    root: Path
    postgres_bin: str = "/usr/lib/postgresql/15/bin"
    vault_prefix: str = LAB_SUBNETS["vault"]
    name: str = "lab"

    def erlang_node(self, member: str) -> str:
        return f"{member}@localhost"  # one host: the members differ by node name and dist port

    def postgres_bin_dir(self, major: int) -> str:
        return self.postgres_bin  # the lab runs the PostgreSQL the machine has

    @property
    def vault_engine(self) -> str:
        return "openbao"

    def vault_keys_file(self) -> Path:
        return self.root / "secrets" / "vault-init.json"

    def pki_dir(self) -> Path:
        """``<root>/pki``: the loopback lab's own CA (:mod:`iklim.lab.pkifiles`)."""
        return self.root / "pki"

    def node_address(self, node_name: str) -> str:
        node = self.env.node(node_name)
        same_role = [n.name for n in self.env.nodes if n.role is node.role]
        return f"{LAB_SUBNETS[node.role]}.{same_role.index(node_name) + 1}"

    def host(self, member: str) -> str:
        family, index = split_member(member)
        if family == "vault":
            return f"{self.vault_prefix}.{index}"
        node = node_of(self.env, member)
        if node is None:  # not pinned: the service nodes in turn
            service = [n.name for n in self.env.nodes if n.role is Placement.SERVICE]
            node = service[(index - 1) % len(service)]
        return self.node_address(node)

    def endpoint(self, member: str, port_name: str) -> Address:
        family, _ = split_member(member)
        return Address(member, self.host(member), port_number(self.env, family, port_name))

    def replicas(self, family: str, count: int, port_name: str) -> list[Address]:
        return [self.endpoint(m, port_name) for m in _members(family, count)]

    def listen(self, member: str) -> str:
        return self.host(member)

    def member_dir(self, member: str) -> Path:
        return self.root / member

    def data_dir(self, member: str, container_path: str) -> str:
        return str(self.member_dir(member) / "data")

    def path(self, member: str, container_path: str) -> str:
        return str(self.member_dir(member) / container_path.lstrip("/"))

    def trusted_cidr(self, network: IPv4Network) -> IPv4Network | None:
        net = self.env.network
        fixed = {
            self.env.overlay.subnet: LAB_PRIVATE,  # members reach each other over loopback
            net.app_subnet: IPv4Network(f"{LAB_SUBNETS[Placement.SERVICE]}.0/24"),
            net.db_subnet: IPv4Network(f"{LAB_SUBNETS[Placement.DB]}.0/24"),
        }
        if network in fixed:
            return fixed[network]
        private = net.ip_range
        if not network.subnet_of(private):
            return None
        offset = int(network.network_address) - int(private.network_address)
        prefix = network.prefixlen - private.prefixlen + LAB_PRIVATE.prefixlen
        return IPv4Network((int(LAB_PRIVATE.network_address) + offset, prefix))


def _members(family: str, count: int) -> list[str]:
    return [f"{family}-{i}" for i in range(1, count + 1)]


def make_target(env: Environment, name: str, root: Path | str = ".lab") -> ProductionTarget | LabTarget:
    """The target called ``name`` (``prod`` or ``lab``; the lab's state under ``root``).

    Raises ValueError for another name.
    """
    if name == "lab":
        return LabTarget(env, Path(root))
    if name == "prod":
        return ProductionTarget(env)
    raise ValueError(f"unknown target {name!r} (prod or lab)")
