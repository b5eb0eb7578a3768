"""YAML read the way Docker reads it, keeping the position of every key and value.

Mappings load as :class:`YMap` and sequences as :class:`YList`; scalars are plain Python values.
A container knows where each of its keys (``kpos``) and values (``vpos``/``ipos``) is written,
so a value reached through an anchor or a ``<<`` merge key reports the line where it is written.
Plain scalars resolve with the YAML 1.2 core schema as Docker's Go parser does (``80:80`` is a
string, ``yes`` is a string), duplicate keys are an error (in a compose file, two ``<<`` merge
keys in one mapping too: Docker's ``go.yaml.in/yaml/v3`` compares every key's text, merge keys included, and refuses
the file with "mapping key "<<" already defined"), and compose files get Docker's
``${VAR}`` interpolation (the text before interpolation is kept in ``raw``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from iklim.check.findings import InputError
from iklim.model.bounded import Unusable
from iklim.model.yamlcompose import compose

Pos = tuple[int, int]
_MERGE = "tag:yaml.org,2002:merge"
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")


class YMap(dict[str, Any]):
    """A mapping with the positions of its keys and values (1-based line, column)."""

    __slots__ = ("pos", "kpos", "vpos", "raw")

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.kpos: dict[str, Pos] = {}
        self.vpos: dict[str, Pos] = {}
        self.raw: dict[str, str] = {}

    def at(self, key: str) -> Pos:
        """Where the value of ``key`` is written, else the mapping itself."""
        return self.vpos.get(key, self.pos)


class YList(list[Any]):
    """A sequence with the position of each item."""

    __slots__ = ("pos", "ipos", "raw")

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.ipos: list[Pos] = []
        self.raw: dict[int, str] = {}

    def at(self, index: int) -> Pos:
        return self.ipos[index] if 0 <= index < len(self.ipos) else self.pos


def _plain(text: str) -> Any:
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if text.startswith(("0o", "0x")):
        try:
            return int(text, 0)
        except ValueError:
            return text
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text)
    if text.lstrip("+-") in {".inf", ".Inf", ".INF"}:
        return float("-inf") if text.startswith("-") else float("inf")
    if text in {".nan", ".NaN", ".NAN"}:
        return float("nan")
    return text


_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(value: str, where: str, line: int) -> str:
    """Docker's interpolation with every variable unset: defaults apply, bare references stay."""

    def one(match: re.Match[str]) -> str:
        escaped, braced, bare, unclosed = match.groups()
        if escaped:
            return "$"
        if unclosed or bare:
            if unclosed:
                raise InputError(where, line, f"invalid interpolation format in {value!r}: missing '}}'")
            return match.group(0)
        name = _NAME.match(braced)
        if name is None:
            raise InputError(where, line, f"invalid interpolation format in {value!r}")
        rest = braced[name.end() :]
        for op in (":-", "-"):
            if rest.startswith(op):
                return rest[len(op) :]
        if rest.startswith((":+", "+")):
            return ""
        if rest and not rest.startswith((":?", "?")):
            raise InputError(where, line, f"invalid interpolation format in {value!r}")
        return match.group(0)

    return _VAR.sub(one, value) if "$" in value else value


class _Builder:
    def __init__(self, path: str, interp: bool) -> None:
        self.path = path
        self.interp = interp
        self.done: dict[int, Any] = {}
        self.busy: set[int] = set()

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.style:
            return node.value
        try:
            return _plain(node.value)
        except ValueError:  # an integer beyond Python's digit limit
            raise InputError(
                self.path, node.start_mark.line + 1, f"number too large ({len(node.value)} characters)"
            ) from None

    def value(self, node: yaml.Node, store: Callable[[Any, str | None], None]) -> None:
        if isinstance(node, yaml.ScalarNode):
            val = self.scalar(node)
            raw = None
            if self.interp and isinstance(val, str) and "$" in val:
                raw, val = val, interpolate(val, self.path, node.start_mark.line + 1)
            store(val, raw if raw != val else None)
        else:
            store(self.build(node), None)

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        key = id(node)
        if key in self.done:
            return self.done[key]
        if key in self.busy:
            raise InputError(self.path, node.start_mark.line + 1, "recursive YAML alias")
        self.busy.add(key)
        pos = (node.start_mark.line + 1, node.start_mark.column + 1)
        out: Any = self.mapping(node, pos) if isinstance(node, yaml.MappingNode) else self.sequence(node, pos)
        self.busy.discard(key)
        self.done[key] = out
        return out

    def sequence(self, node: yaml.Node, pos: Pos) -> YList:
        out = YList(pos)
        for item in node.value:

            def store(val: Any, raw: str | None, item: yaml.Node = item) -> None:
                if raw is not None:
                    out.raw[len(out)] = raw
                out.append(val)
                out.ipos.append((item.start_mark.line + 1, item.start_mark.column + 1))

            self.value(item, store)
        return out

    def mapping(self, node: yaml.Node, pos: Pos) -> YMap:
        out = YMap(pos)
        merges: list[YMap] = []
        seen: dict[str, int] = {}  # key text -> line; in compose files merge keys too (Docker's yaml.v3)
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise InputError(self.path, knode.start_mark.line + 1, "mapping keys must be scalars")
            line = knode.start_mark.line + 1
            if knode.value in seen and (self.interp or knode.tag != _MERGE):
                raise InputError(
                    self.path, line, f"mapping key {knode.value!r} already defined at line {seen[knode.value]}"
                )
            seen[knode.value] = line
            if knode.tag == _MERGE:
                merges.extend(self.merge_sources(vnode))
                continue
            name = knode.value

            def store(val: Any, raw: str | None, name: str = name, vnode: yaml.Node = vnode) -> None:
                out[name] = val
                out.vpos[name] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
                if raw is not None:
                    out.raw[name] = raw

            out.kpos[name] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            self.value(vnode, store)
        for source in merges:
            for name, val in source.items():
                if name not in out:
                    out[name] = val
                    out.kpos[name] = source.kpos[name]
                    out.vpos[name] = source.vpos[name]
                    if name in source.raw:
                        out.raw[name] = source.raw[name]
        return out

    def merge_sources(self, node: yaml.Node) -> list[YMap]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in nodes:
            built = self.build(item)
            if not isinstance(built, YMap):
                raise InputError(self.path, item.start_mark.line + 1, "a '<<' merge key needs a mapping")
            out.append(built)
        return out


def load_yaml(text: str, path: str, interp: bool = False) -> Any:
    """Parse one YAML document; ``interp`` applies compose interpolation to string values.

    The document is composed under the project's bounds (:mod:`iklim.model.yamlcompose`: depth,
    alias and merge-key expansion, time); any problem raises :class:`InputError` with its line.
    """
    try:
        node = compose(text, path)
    except Unusable as exc:
        raise InputError(path, max(exc.line, 1), exc.message) from None
    if node is None:
        return None
    return _Builder(path, interp).build(node)
