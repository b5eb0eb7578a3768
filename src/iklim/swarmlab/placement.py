"""Which lab node may run which image: the stacks' placement constraints evaluated against the model's nodes.

Used to copy each image only to the nodes whose constraints can run one of its services (each
node stores its own copy, so copying everything everywhere costs time and disk). A constraint
this module does not understand counts as satisfied, so an image is never withheld from a node
that might need it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iklim.swarmlab.nodes import LabNode
from iklim.swarmlab.standins import UNAVAILABLE

_CONSTRAINT = re.compile(r"^\s*(node\.[\w.-]+)\s*(==|!=)\s*(\S+)\s*$")


def node_attribute(node: LabNode, key: str) -> str | None:
    """The value of a Swarm constraint key (``node.hostname``, ``node.role``, ``node.labels.X``) on ``node``."""
    if key == "node.hostname":
        return node.hostname
    if key == "node.role":
        return "manager" if node.manager else "worker"
    if key.startswith("node.labels."):
        return node.labels.get(key.removeprefix("node.labels."))
    return None


def satisfies(node: LabNode, constraints: list[str]) -> bool:
    """True when ``node`` meets every one of ``constraints`` (Swarm ``==``/``!=`` syntax)."""
    for constraint in constraints:
        match = _CONSTRAINT.match(constraint)
        if match is None:
            continue
        key, op, want = match.groups()
        if key not in ("node.hostname", "node.role") and not key.startswith("node.labels."):
            continue
        have = node_attribute(node, key)
        if (have == want) != (op == "=="):
            return False
    return True


def images_per_node(stacks: Mapping[str, Mapping[str, Any]], nodes: list[LabNode]) -> dict[str, list[str]]:
    """Hostname -> the image references that node may run (sorted), over every stack document.

    Services whose image is in :data:`.standins.UNAVAILABLE` (0 replicas in the lab) are skipped.
    """
    wanted: dict[str, set[str]] = {node.hostname: set() for node in nodes}
    for stack in stacks.values():
        for service in (stack.get("services") or {}).values():
            image = service.get("image")
            if not isinstance(image, str) or image in UNAVAILABLE:
                continue
            constraints = ((service.get("deploy") or {}).get("placement") or {}).get("constraints") or []
            for node in nodes:
                if satisfies(node, [str(c) for c in constraints]):
                    wanted[node.hostname].add(image)
    return {host: sorted(refs) for host, refs in wanted.items()}
