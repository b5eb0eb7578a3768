"""Which nodes an ``hcloud_firewall`` applies to: its ``apply_to`` blocks and attachments.

A firewall is a DB firewall because it applies to DB nodes, never because of its name. A node is
a DB node by its hostname (the policy's DB node prefix, or a ``node.hostname == X`` constraint
of a DB component in the stacks) or by a label (the policy's ``type=db``, or a
``node.labels.K == V`` constraint of a DB component). Servers are followed through
``data.hcloud_server.N`` / ``hcloud_server.N`` to their ``name``; ``hcloud_firewall_attachment``
resources and servers' ``firewall_ids`` count too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from iklim.check.compose import DB_KINDS, constraints
from iklim.check.documents import Documents
from iklim.check.hcl import Block, Expr
from iklim.check.hcl_eval import Scope, Unevaluated, evaluate
from iklim.check.policy import Policy
from iklim.check.yamlload import Pos

Note = tuple[str, Pos, str]  # path, position, what could not be evaluated and what that means


@dataclass(frozen=True)
class Module:
    """The terraform blocks of one folder (one module) and its evaluation scope."""

    blocks: list[tuple[str, Block]]
    scope: Scope

    def find(self, kind: str, rtype: str, name: str) -> tuple[str, Block] | None:
        for path, block in self.blocks:
            if block.type == kind and block.labels[:2] == (rtype, name):
                return path, block
        return None

    def resources(self, rtype: str) -> Iterator[tuple[str, Block]]:
        return ((p, b) for p, b in self.blocks if b.type == "resource" and b.labels[:1] == (rtype,))


def modules(docs: Documents) -> list[Module]:
    folders: dict[str, list[tuple[str, Block]]] = {}
    for path, blocks in docs.terraform:
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        folders.setdefault(folder, []).extend((path, b) for b in blocks)
    return [Module(items, Scope([b for _, b in items])) for items in folders.values()]


class NodeRoles:
    """Tells DB nodes from app nodes by hostname or label, from the policy and the stacks."""

    def __init__(self, docs: Documents, policy: Policy) -> None:
        self.policy = policy
        key = policy.type_label.removeprefix("node.labels.").lower()
        self.labels: dict[tuple[str, str], str] = {(key, policy.service_label.lower()): "app"}
        self.hosts: dict[str, str] = {}
        for ref in docs.services():
            role = "db" if ref.kind in DB_KINDS else "app"
            for c in constraints(ref.spec):
                if c.op != "==":
                    continue
                if c.key == "node.hostname":
                    self.hosts.setdefault(c.value.lower(), role)
                elif c.key.startswith("node.labels."):
                    self.labels.setdefault((c.key.removeprefix("node.labels.").lower(), c.value.lower()), role)
        self.labels[(key, policy.db_label.lower())] = "db"

    def host(self, name: str) -> str | None:
        lowered = name.lower()
        if lowered in self.hosts:
            return self.hosts[lowered]
        if lowered.startswith(self.policy.db_node_prefix.lower()):
            return "db"
        if lowered.startswith(self.policy.app_node_prefix.lower()):
            return "app"
        return None

    def selector(self, text: str) -> str | None:
        """The role a Hetzner label selector (``type=db``, ``role in (db,x)``) selects, if known."""
        roles = set()
        for term in text.split(","):
            match = re.fullmatch(r"\s*([\w./-]+)\s*(==?|in)\s*\(?([^()]*)\)?\s*", term)
            if match is None:
                continue
            for value in match.group(3).split(","):
                role = self.labels.get((match.group(1).lower(), value.strip().lower()))
                if role is not None:
                    roles.add(role)
        return "db" if "db" in roles else roles.pop() if roles else None


def _server(module: Module, roles: NodeRoles, ref: object, path: str, pos: Pos) -> tuple[str | None, str]:
    """(role, why unknown) of a server reference ``data.hcloud_server.N.id`` / ``hcloud_server.N.id``."""
    text = str(ref)
    match = re.fullmatch(r"(data\.)?hcloud_server\.([\w-]+)\.id", text) if isinstance(ref, Expr) else None
    if match is None:
        return None, f"server = {text}: not a reference to a named hcloud_server"
    found = module.find("data" if match.group(1) else "resource", "hcloud_server", match.group(2))
    if found is None:
        return None, f"{text}: no such hcloud_server in this module"
    block = found[1]
    for attr, judge in (("name", roles.host), ("with_selector", roles.selector)):
        if attr in block.attrs:
            try:
                value = evaluate(block.attrs[attr], module.scope)
            except Unevaluated as exc:
                return None, f"{text}: {attr} {exc.what} cannot be evaluated ({exc.why})"
            role = judge(str(value))
            return role, "" if role else f"{text}: {attr} {value!r} is neither a DB nor an app node"
    return None, f"{text}: the server has no name or with_selector"


def targets(module: Module, roles: NodeRoles, path: str, fw: Block) -> tuple[frozenset[str], list[Note]]:
    """The roles of the nodes ``fw`` applies to, and notes on what could not be told."""
    found: set[str] = set()
    notes: list[Note] = []
    name = fw.labels[1] if len(fw.labels) > 1 else ""

    def add(role: str | None, why: str, where: str, pos: Pos) -> None:
        if role is not None:
            found.add(role)
        else:
            notes.append((where, pos, f"firewall {name!r} applies to {why}: cannot tell whether it covers DB nodes"))

    for apply_to in fw.children("apply_to"):
        for attr in ("server", "label_selector"):
            if attr not in apply_to.attrs:
                continue
            pos = apply_to.attrs.at(attr)
            if attr == "server":
                add(*_server(module, roles, apply_to.attrs[attr], path, pos), path, pos)
                continue
            try:
                selector = str(evaluate(apply_to.attrs[attr], module.scope))
            except Unevaluated as exc:
                add(None, f"label_selector {exc.what} ({exc.why})", path, pos)
                continue
            add(roles.selector(selector), f"label_selector {selector!r}, which names no DB or app label", path, pos)
    ref = f"hcloud_firewall.{name}.id"
    for where, block in module.resources("hcloud_firewall_attachment"):
        if str(block.attrs.get("firewall_id", "")) != ref:
            continue
        for key in ("server_ids", "label_selectors"):
            value, pos = block.attrs.get(key), block.attrs.at(key)
            if value is not None and not isinstance(value, list):
                add(None, f"{key} = {value} (not a literal list)", where, pos)
                continue
            for item in value or ():
                if key == "server_ids":
                    add(*_server(module, roles, item, where, pos), where, pos)
                else:
                    add(roles.selector(str(item)), f"label_selector {item!r}", where, pos)
    for where, block in module.resources("hcloud_server"):
        ids = block.attrs.get("firewall_ids")
        if isinstance(ids, list) and ref in (str(x) for x in ids) and len(block.labels) > 1:
            server = Expr(f"hcloud_server.{block.labels[1]}.id")
            add(
                *_server(module, roles, server, where, block.attrs.at("firewall_ids")),
                where,
                (block.line, block.column),
            )
    return frozenset(found), notes
