"""The inbound rules of ``hcloud_firewall`` resources, with the nodes each firewall applies to.

Rule attributes are evaluated (:mod:`iklim.check.hcl_eval`): locals, variable defaults,
``for`` expressions; ``dynamic "rule"`` blocks over a literal ``for_each`` (or a local or
default with a literal value) become one rule per element, ``rule.value``/``rule.key`` (or the
block's ``iterator`` name) bound. What cannot be evaluated is a note (a warning finding) and the
rule counts as unknown: it neither satisfies nor breaks a policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from iklim.check.documents import Documents
from iklim.check.firewall_targets import Module, NodeRoles, Note, modules, targets
from iklim.check.hcl import Block, Expr
from iklim.check.hcl_eval import Scope, Unevaluated, evaluate
from iklim.check.policy import Policy
from iklim.check.yamlload import Pos, YList

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Firewall:
    """An ``hcloud_firewall``; ``roles``: "db"/"app" for the nodes it applies to (empty: none known)."""

    path: str
    name: str
    roles: frozenset[str]
    known: bool  # every apply_to/attachment could be followed
    block: Block
    module: Module

    @property
    def role(self) -> str | None:
        return "db" if "db" in self.roles else "app" if "app" in self.roles else None


@dataclass(frozen=True)
class FwRule:
    """One inbound rule (a ``rule`` block, or one element of a ``dynamic "rule"``), evaluated."""

    firewall: Firewall
    block: Block
    protocol: str
    ports: tuple[int, int] | None  # None: not a port protocol, or not known
    sources: tuple[tuple[str, Pos], ...]
    known: bool = True  # False: part of it could not be evaluated (a warning says which)

    @property
    def pos(self) -> Pos:
        return (self.block.line, self.block.column)

    def port_pos(self) -> Pos:
        return self.block.attrs.at("port") if "port" in self.block.attrs else self.pos

    def covers(self, port: int, protocol: str = "tcp") -> bool:
        return self.protocol == protocol and self.ports is not None and self.ports[0] <= port <= self.ports[1]


def firewalls(docs: Documents, policy: Policy) -> Iterator[Firewall]:
    """Every ``hcloud_firewall`` with the roles of the nodes it applies to."""
    roles = NodeRoles(docs, policy)
    for module in modules(docs):
        for path, block in module.resources("hcloud_firewall"):
            name = block.labels[1] if len(block.labels) > 1 else ""
            found, notes = targets(module, roles, path, block)
            yield Firewall(path, name, found, not notes, block, module)


def target_notes(docs: Documents, policy: Policy) -> Iterator[Note]:
    """What could not be told about the nodes each firewall applies to."""
    roles = NodeRoles(docs, policy)
    for module in modules(docs):
        for path, block in module.resources("hcloud_firewall"):
            yield from targets(module, roles, path, block)[1]


PORT_PROTOCOLS = ("tcp", "udp")


def _ports(value: object) -> tuple[int, int] | None:
    """A tcp/udp rule's ``port`` as (low, high): ``"443"``, ``"6000-7000"``, ``"any"`` or unset
    (1-65535); None when it is none of these (Terraform or Hetzner would refuse it)."""
    if value is None:
        return (1, 65535)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if text == "any":
        return (1, 65535)
    low, dash, high = text.partition("-")
    if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
        return None
    ports = int(low), int(high or low)
    return ports if 1 <= ports[0] <= ports[1] <= 65535 else None


def _rule(fw: Firewall, block: Block, scope: Scope, notes: list[Note]) -> FwRule | None:
    known = True

    def value(key: str, default: Any) -> Any:
        nonlocal known
        if key not in block.attrs:
            return default
        try:
            return evaluate(block.attrs[key], scope)
        except Unevaluated as exc:
            known = False
            notes.append(
                (
                    fw.path,
                    exc.pos,
                    f"firewall {fw.name!r}: {key} {exc.what} cannot be evaluated ({exc.why}): the rule is not checked",
                )
            )
            return None

    direction = value("direction", "in")
    if direction is not None and str(direction) != "in":
        return None
    protocol = str(value("protocol", "tcp")).lower()
    port = value("port", None)
    ports = _ports(port) if known and protocol in PORT_PROTOCOLS else None
    if known and protocol in PORT_PROTOCOLS and ports is None:
        known = False  # never widened to 1-65535 (false errors), never taken as safe: a warning
        shown = f"{block.attrs['port']} = {port!r}" if isinstance(block.attrs["port"], Expr) else repr(port)
        notes.append(
            (
                fw.path,
                block.attrs.at("port"),
                f'firewall {fw.name!r}: port {shown} is not a port, a range N-M (1-65535) or "any": '
                "the rule is not checked",
            )
        )
    raw = block.attrs.get("source_ips")
    sources: list[tuple[str, Pos]] = []
    if isinstance(raw, YList):
        for i, item in enumerate(raw):
            found = item if not isinstance(item, Expr) else _one(fw, item, scope, notes)
            if isinstance(found, str):
                sources.append((found, raw.at(i)))
            elif found is None:
                known = False
    elif raw is not None:
        evaluated = value("source_ips", [])
        pos = block.attrs.at("source_ips")
        if evaluated is not None and not isinstance(evaluated, list):  # never its characters
            known = False
            notes.append(
                (fw.path, pos, f"firewall {fw.name!r}: source_ips {raw} is not a list: the rule is not checked")
            )
            evaluated = []
        sources = [(item, pos) for item in evaluated or [] if isinstance(item, str)]
    return FwRule(fw, block, protocol, ports, tuple(sources), known)


def _one(fw: Firewall, item: Expr, scope: Scope, notes: list[Note]) -> str | None:
    try:
        return str(evaluate(item, scope))
    except Unevaluated as exc:
        notes.append(
            (
                fw.path,
                exc.pos,
                f"firewall {fw.name!r}: source {exc.what} cannot be evaluated ({exc.why}): it is not checked",
            )
        )
        return None


def expand(fw: Firewall) -> tuple[list[FwRule], list[Note]]:
    """The inbound rules of ``fw`` (``dynamic "rule"`` blocks over literal values expanded)."""
    rules: list[FwRule] = []
    notes: list[Note] = []
    scope = fw.module.scope
    for block in fw.block.blocks:
        if block.type == "rule":
            rules.extend(r for r in [_rule(fw, block, scope, notes)] if r is not None)
        elif block.type == "dynamic" and block.labels[:1] == ("rule",):
            rules.extend(_dynamic(fw, block, scope, notes))
    return rules, notes


def _dynamic(fw: Firewall, block: Block, scope: Scope, notes: list[Note]) -> Iterator[FwRule]:
    content = block.children("content")
    iterator = block.attrs.get("iterator", "rule")
    where = (block.line, block.column)
    unknown = FwRule(fw, block, "tcp", None, (), False)
    if not content or "for_each" not in block.attrs:
        notes.append((fw.path, where, f'firewall {fw.name!r}: dynamic "rule" has no for_each or content'))
        yield unknown
        return
    try:
        collection = evaluate(block.attrs["for_each"], scope)
        pairs = list(collection.items()) if isinstance(collection, dict) else list(enumerate(collection))
    except (Unevaluated, TypeError) as exc:
        why = f"{exc.what} cannot be evaluated ({exc.why})" if isinstance(exc, Unevaluated) else "not a collection"
        notes.append(
            (
                fw.path,
                block.attrs.at("for_each"),
                f'firewall {fw.name!r}: dynamic "rule" for_each: {why}: its rules are not checked',
            )
        )
        yield unknown
        return
    for key, item in pairs:
        inner = scope.bind({str(iterator): {"key": key, "value": item}})
        rule = _rule(fw, content[0], inner, notes)
        if rule is not None:
            yield rule


def inbound(firewall: Firewall) -> Iterator[FwRule]:
    """The inbound rules of ``firewall``; see :func:`expand` for what could not be evaluated."""
    return iter(expand(firewall)[0])


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
