"""Where the rendered configs will run: production containers, or the one-machine lab.

The lab and production differ only here, never in the config builders: a member's address, the
address it listens on, where its data and its config includes live. Members are named as in the
stacks (``etcd-1``, ``patroni-2``, ``redis-sentinel-3``, ``vault-1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Protocol

from iklim.model.schema import Environment, Placement


def split_member(member: str) -> tuple[str, int]:
    """``redis-sentinel-2`` -> (``redis-sentinel``, 2). A bare cluster name (``rabbitmq``) is the
    name clients use for any member: production resolves it to the shared overlay alias, the lab
    to member 1."""
    match = re.fullmatch(r"(.+)-(\d+)", member)
    if not match:
        return member, 1
    return match.group(1), int(match.group(2))


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

    def node_address(self, node_name: str) -> str:
        node = self.env.node(node_name)
        same_role = [n.name for n in self.env.nodes if n.role is node.role]
        return f"{LAB_SUBNETS[node.role]}.{same_role.index(node_name) + 1}"

    def host(self, member: str) -> str:
        family, index = split_member(member)
        if family == "vault":
            return f"{self.vault_prefix}.{index}"
        nodes = self._nodes(family)
        return self.node_address(nodes[(index - 1) % len(nodes)])

    def _nodes(self, family: str) -> list[str]:
        svc = self.env.services
        by_family = {
            "redis-sentinel": svc.redis.sentinel.nodes,
            "swag": svc.swag.nodes,
            "prometheus": svc.prometheus.nodes,
        }
        nodes = by_family.get(family)
        if nodes is None:
            spec = getattr(svc, family.replace("-", "_"), None)
            nodes = spec.nodes if spec is not None else []
        return nodes or [n.name for n in self.env.nodes if n.role is Placement.SERVICE]

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
