"""The Swarm nodes the model declares, and placement constraints evaluated against them.

Evaluation follows swarmkit's ``NodeMatches`` (``manager/constraint/constraint.go``):
``node.hostname``, ``node.role`` and ``node.labels.<name>`` compare the value with
``strings.EqualFold`` (``==`` matches an equal value, ``!=`` any other; a missing label is the
empty string); ``node.ip`` compares an address with ``net.IP.Equal`` or tests a CIDR for
containment, and a value that is neither matches no node. Swarm does not glob:
``node.hostname == iklim-db-*`` is a literal. What the model does not know (``node.id``,
``node.platform.*``, ``engine.labels.*``) is unknown: it never rules a node out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iklim.check.constraints import Constraint, fold, unresolved


@dataclass(frozen=True)
class SwarmNode:
    """One node as Swarm sees it: ``hostname``, ``ip`` (its address, the model's ``private_ip``),
    ``role`` (``manager`` or ``worker``) and the node ``labels`` the runbook adds."""

    hostname: str
    ip: str
    role: str = "worker"
    labels: Mapping[str, str] = field(default_factory=dict)


def nodes_from_model(raw: Any, type_key: str = "type") -> tuple[SwarmNode, ...]:
    """The model's ``nodes`` (a list of mappings, read as plain YAML) as :class:`SwarmNode`; the
    ``type`` label defaults to the node's ``role``. Entries without a string ``name`` are skipped;
    an empty tuple when ``raw`` is not a list."""
    found: list[SwarmNode] = []
    for node in raw if isinstance(raw, list) else []:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            continue
        labels = node.get("labels")
        known = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        if isinstance(node.get("role"), str):
            known.setdefault(type_key, node["role"])
        role = node.get("swarm_role")
        found.append(SwarmNode(node["name"], str(node.get("private_ip") or ""), str(role or "worker"), known))
    return tuple(found)


def _ip_matches(c: Constraint, address: str) -> bool:
    try:
        node_ip = ipaddress.ip_address(address)
    except ValueError:
        return c.op == "!="  # an unknown address equals no value
    value = c.value.strip()
    try:
        hit = ipaddress.ip_address(value) == node_ip
    except ValueError:
        try:
            hit = node_ip in ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False  # swarmkit: a malformed address/network matches no node
    return hit if c.op == "==" else not hit


def matches(c: Constraint, node: SwarmNode) -> bool | None:
    """Whether ``node`` satisfies ``c``; None when the model cannot tell (unknown attribute, or a
    value still holding an unset variable)."""
    if unresolved(c.value):
        return None
    if c.key == "node.ip":
        return _ip_matches(c, node.ip)
    if c.key == "node.hostname":
        actual = node.hostname
    elif c.key == "node.role":
        actual = node.role
    elif c.key.startswith("node.labels."):
        actual = node.labels.get(c.key[len("node.labels.") :], "")
    else:
        return None
    equal = fold(c.value) == fold(actual)
    return equal if c.op == "==" else not equal


def satisfiable(cs: Iterable[Constraint], nodes: Iterable[SwarmNode]) -> bool:
    """Whether some node might satisfy every constraint in ``cs`` (unknown counts as maybe)."""
    listed = list(cs)
    return any(all(matches(c, n) is not False for c in listed) for n in nodes)
