"""The inbound rules of ``hcloud_firewall`` resources, with the nodes each firewall applies to."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from iklim.check.documents import Documents
from iklim.check.hcl import Block, Expr
from iklim.check.yamlload import Pos, YList

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Firewall:
    path: str
    name: str
    role: str | None  # "db", "app" or None when unknown
    block: Block


@dataclass(frozen=True)
class FwRule:
    firewall: Firewall
    block: Block
    protocol: str
    ports: tuple[int, int] | None  # None: not a port protocol
    sources: tuple[tuple[str, Pos], ...]

    @property
    def pos(self) -> Pos:
        return (self.block.line, self.block.column)

    def port_pos(self) -> Pos:
        return self.block.attrs.at("port") if "port" in self.block.attrs else self.pos

    def sources_pos(self) -> Pos:
        return self.block.attrs.at("source_ips") if "source_ips" in self.block.attrs else self.pos

    def covers(self, port: int, protocol: str = "tcp") -> bool:
        return self.protocol == protocol and self.ports is not None and self.ports[0] <= port <= self.ports[1]


def _role(block: Block) -> str | None:
    name = block.labels[1] if len(block.labels) > 1 else ""
    words = [name, str(block.attrs.get("name", ""))]
    for apply_to in block.children("apply_to"):
        words.append(str(apply_to.attrs.get("label_selector", "")))
    text = " ".join(words).lower()
    if "db" in text:
        return "db"
    if "app" in text or "service" in text:
        return "app"
    return None


def firewalls(docs: Documents) -> Iterator[Firewall]:
    for path, block in docs.resources("hcloud_firewall"):
        name = block.labels[1] if len(block.labels) > 1 else ""
        yield Firewall(path, name, _role(block), block)


def _ports(value: object, protocol: str) -> tuple[int, int] | None:
    if protocol not in ("tcp", "udp"):
        return None
    text = str(value).strip() if value is not None else "any"
    if text == "any" or isinstance(value, Expr):
        return (1, 65535)
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        return (1, 65535)


def inbound(firewall: Firewall) -> Iterator[FwRule]:
    for block in firewall.block.children("rule"):
        if str(block.attrs.get("direction", "in")) != "in":
            continue
        protocol = str(block.attrs.get("protocol", "tcp")).lower()
        raw = block.attrs.get("source_ips")
        sources: list[tuple[str, Pos]] = []
        if isinstance(raw, YList):
            sources = [(item, raw.at(i)) for i, item in enumerate(raw) if isinstance(item, str)]
        yield FwRule(firewall, block, protocol, _ports(block.attrs.get("port"), protocol), tuple(sources))


def network(cidr: str) -> Network | None:
    if isinstance(cidr, Expr):
        return None
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def within(cidr: str, parents: tuple[str, ...]) -> bool | None:
    """Whether ``cidr`` lies inside one of ``parents``; None when it is not a literal network."""
    net = network(cidr)
    if net is None:
        return None
    for parent in parents:
        outer = network(parent)
        if outer is not None and outer.version == net.version and net.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False
