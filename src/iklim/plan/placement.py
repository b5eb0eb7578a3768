"""Swarm placement constraints evaluated against a node of a snapshot (or of the model).

Syntax and attributes as ``docker service create --constraint`` documents them
(docs.docker.com/engine/swarm/services/#placement-constraints): ``<attribute> ==|!= <value>``
with ``node.id``, ``node.hostname``, ``node.role``, ``node.labels.<key>``,
``node.platform.os``/``arch`` and ``engine.labels.<key>``. A node here is a snapshot node
(``{"id", "hostname", "role", "labels", "platform", ...}``; ``platform`` ``{"os", "arch"}`` only in
a live snapshot); attributes it does not carry (the model's nodes have no platform; engine labels)
make :func:`satisfies` return None: "cannot tell", never a silent yes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_CONSTRAINT = re.compile(r"^\s*([\w.-]+)\s*(==|!=)\s*(.+?)\s*$")


class ConstraintError(ValueError):
    """A constraint that is not ``<attribute> ==|!= <value>``."""


def attribute(node: Mapping[str, Any], key: str) -> str | None:
    """The value of constraint attribute ``key`` on ``node`` (None when the node has no such label)."""
    if key == "node.hostname":
        return str(node["hostname"])
    if key == "node.role":
        return str(node["role"])
    if key == "node.id":
        return str(node.get("id", ""))
    if key.startswith("node.labels."):
        value = (node.get("labels") or {}).get(key.removeprefix("node.labels."))
        return None if value is None else str(value)
    if key in ("node.platform.os", "node.platform.arch") and node.get("platform"):
        # as the engine reports them (Description.Platform: "linux", "x86_64"), compared without case
        return str(node["platform"].get(key.rsplit(".", 1)[1], "")).lower() or None
    raise KeyError(key)


def satisfies(node: Mapping[str, Any], constraints: list[str]) -> bool | None:
    """True when ``node`` meets every constraint, False when one fails, None when one cannot be judged.

    Raises :class:`ConstraintError` on a constraint that does not parse (Swarm refuses it too).
    """
    unknown = False
    for constraint in constraints:
        match = _CONSTRAINT.match(constraint)
        if match is None:
            raise ConstraintError(f"constraint {constraint!r}: expected '<attribute> ==|!= <value>'")
        key, op, want = match.groups()
        try:
            have = attribute(node, key)
        except KeyError:
            unknown = True
            continue
        if key.startswith("node.platform."):
            want = want.lower()
        if (have == want) != (op == "=="):
            return False
    return None if unknown else True
