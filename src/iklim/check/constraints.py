"""Placement constraints as Swarm reads them: parsed, validated and compared like swarmkit.

The semantics follow swarmkit's ``manager/constraint/constraint.go`` (moby/swarmkit):

- ``Parse`` tries the operators in the order ``==``, ``!=``: the first one *contained* in the
  expression splits it once; neither is an error. Key and value are ``strings.TrimSpace``-d; the
  key must match ``^(?i)[a-z_][a-z0-9\\-_.]+$`` and the value
  ``^(?i)[a-z0-9:\\-_\\s\\.\\*\\(\\)\\?\\+\\[\\]\\\\\\^\\$\\|\\/]+$``, so a quoted value
  (``node.labels.type == "db"``), an empty one or one holding another operator is refused: the
  manager's ``validatePlacement`` (``manager/controlapi/service.go``) rejects the service with
  InvalidArgument, and ``docker stack deploy`` fails.
- ``Match`` compares the value with ``strings.EqualFold``: ``node.labels.type == DB`` is the same
  constraint as ``== db``, and ``node.hostname == IKLIM-DB-01`` matches node ``iklim-db-01``.
- ``NodeMatches`` recognises ``node.id``, ``node.hostname``, ``node.ip``, ``node.role``,
  ``node.platform.os``, ``node.platform.arch`` (all case-insensitively) and the prefixes
  ``node.labels.`` / ``engine.labels.`` (prefix case-insensitive, the label name itself
  case-sensitive); any other key matches no node, so the task never leaves ``pending``.

``docker stack deploy`` also validates the file against the compose schema first: ``constraints``
must be a list of strings (``config_schema_v3.*.json``), so a single string is refused there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from iklim.check.yamlload import Pos, YList, YMap

# swarmkit's (?i)[a-z...] spelled out (ASCII; Go's case folding also lets U+212A and U+017F in);
# Go's \s is [\t\n\f\r ] (ASCII only).
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9\-_.]+\Z")
_VALUE = re.compile(r"[A-Za-z0-9:\-_\t\n\f\r .*()?+\[\]\\^$|/]+\Z")
# Go's strings.TrimSpace: unicode.IsSpace (Python's str.strip() also strips \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
_OPERATORS = ("==", "!=")
_UNRESOLVED = re.compile(r"\$(?:\{|[A-Za-z_])")
_ATTRIBUTES = ("node.id", "node.hostname", "node.ip", "node.role", "node.platform.os", "node.platform.arch")
_PREFIXES = ("node.labels.", "engine.labels.")


class Constraint(NamedTuple):
    """One constraint Swarm accepts: ``key`` canonical (:func:`canonical_key`), ``value`` as written."""

    key: str
    op: str
    value: str
    pos: Pos

    def equals(self, value: str) -> bool:
        """Whether the constraint's value is ``value`` as Swarm compares them (case-insensitively)."""
        return fold(self.value) == fold(value)

    def starts_with(self, prefix: str) -> bool:
        """Whether the value begins with ``prefix``, case-insensitively (a hostname family)."""
        return fold(self.value).startswith(fold(prefix))

    def names(self, label_key: str, label_value: str, host_prefix: str) -> bool:
        """Whether the constraint is about one group of nodes, whatever its operator: the label
        ``label_key`` with value ``label_value`` or a hostname beginning with ``host_prefix``
        (``names("node.labels.type", "db", "iklim-db-")``), compared as Swarm compares them."""
        return self.labels(label_key, label_value) or (self.key == "node.hostname" and self.starts_with(host_prefix))

    def labels(self, label_key: str, label_value: str) -> bool:
        """Whether the constraint is about the node label ``label_key`` (``node.labels.type``)
        having ``label_value``, whatever its operator; the value compared case-insensitively."""
        return self.key == (canonical_key(label_key) or label_key) and self.equals(label_value)


class Rejected(NamedTuple):
    """A constraint (or ``constraints`` value) Docker refuses or no node can match: why, and where."""

    reason: str
    pos: Pos


def fold(text: str) -> str:
    """``text`` folded as Go's ``strings.EqualFold`` compares (simple Unicode case folding)."""
    return text.lower()


def unresolved(text: str) -> bool:
    """Whether ``text`` still holds a variable (``${HOST}``, ``$HOST``) left unset here."""
    return _UNRESOLVED.search(text) is not None


def canonical_key(key: str) -> str | None:
    """The key Swarm means (``NODE.Labels.type`` -> ``node.labels.type``); None if it means none."""
    low = key.lower()
    if low in _ATTRIBUTES:
        return low
    for prefix in _PREFIXES:
        if low.startswith(prefix) and len(key) > len(prefix):
            return prefix + key[len(prefix) :]
    return None


def parse(expr: str) -> tuple[str, str, str] | str:
    """``(key, operator, value)`` of one expression, or the reason swarmkit's ``Parse`` refuses it."""
    for op in _OPERATORS:
        if op not in expr:
            continue
        key, _, value = expr.partition(op)
        key, value = key.strip(_GO_SPACE), value.strip(_GO_SPACE)
        if not _KEY.match(key):
            return f"key {key!r} is invalid"
        if not _VALUE.match(value):
            hint = ": quotes are not allowed (Swarm compares values case-insensitively, unquoted)"
            return f"value {value!r} is invalid" + (hint if any(q in value for q in "\"'") else "")
        return key, op, value
    return "a constraint needs the operator == or !="


def _items(service: YMap) -> tuple[list[tuple[Any, Pos]], Rejected | None]:
    deploy = service.get("deploy")
    placement = deploy.get("placement") if isinstance(deploy, YMap) else None
    if not isinstance(placement, YMap) or placement.get("constraints") is None:
        return [], None
    items = placement["constraints"]
    if isinstance(items, YList):
        return [(v, items.at(i)) for i, v in enumerate(items)], None
    kind = "a string" if isinstance(items, str) else "a mapping" if isinstance(items, YMap) else repr(items)
    reason = f"docker stack deploy rejects the file: 'constraints' must be a list of strings, not {kind}"
    return [], Rejected(reason, placement.at("constraints"))


def rejected(service: YMap) -> Iterator[Rejected]:
    """Every part of the service's ``deploy.placement.constraints`` Docker refuses or no node can
    match, in order. An expression still holding a variable (``${HOST}``, unset here) is left out:
    its deployed text is unknown."""
    items, whole = _items(service)
    if whole is not None:
        yield whole
    for value, pos in items:
        if not isinstance(value, str):
            yield Rejected(f"docker stack deploy rejects the file: constraint {value!r} must be a string", pos)
            continue
        if unresolved(value):
            continue
        parts = parse(value)
        if isinstance(parts, str):
            yield Rejected(f"Docker rejects the service: constraint {value!r}: {parts}", pos)
        elif canonical_key(parts[0]) is None:
            known = ", ".join(_ATTRIBUTES + tuple(p + "<name>" for p in _PREFIXES))
            yield Rejected(
                f"constraint {value!r}: Swarm knows no attribute {parts[0]!r}, so no node matches and the "
                f"service never starts (known: {known})",
                pos,
            )


def constraints(service: YMap) -> Iterator[Constraint]:
    """The constraints Swarm accepts and applies, keys canonical; refused ones are left out.

    A constraint Docker refuses (see :func:`rejected`) never counts as a pin.
    """
    items, _ = _items(service)
    for value, pos in items:
        if not isinstance(value, str):
            continue
        parts = parse(value)
        if isinstance(parts, str):
            continue
        key = canonical_key(parts[0])
        if key is not None:
            yield Constraint(key, parts[1], parts[2], pos)
