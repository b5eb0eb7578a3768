"""Terraform's JSON syntax (``*.tf.json``) read into the block model of :mod:`iklim.check.hcl`.

https://developer.hashicorp.com/terraform/language/syntax/json: the root object's properties
are block types; ``resource``/``data`` nest two labels (type, name), ``variable``, ``output``,
``module``, ``provider`` and ``dynamic`` one, others none; at any level an array declares several
blocks. In a body, a property whose value is an object (or an array of objects) and whose name is
a nested block type Terraform knows (``rule``, ``apply_to``, ``dynamic``, ``content``, ...) is a
block; everything else is an attribute. Strings are templates: ``"${local.x}"`` is an
:class:`Expr` as in native HCL. ``"//"`` properties are comments. Positions come from the JSON
text (strings, objects and arrays; numbers and booleans take their object's). Invalid JSON raises
:class:`InputError` with ``file:line:col``.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl import Block
from iklim.check.hcl_expr import ExprParser
from iklim.check.yamlload import Pos, YList, YMap

__all__ = ["load_tf_json"]

LABELS = {"resource": 2, "data": 2, "variable": 1, "output": 1, "module": 1, "provider": 1, "dynamic": 1}
NESTED = {"rule", "apply_to", "dynamic", "content", "lifecycle", "provisioner", "connection", "precondition"}


class _Str(str):
    pos: Pos


class _Obj(list[tuple[str, Any]]):
    pos: Pos


class _Arr(list[Any]):
    pos: Pos


class _Decoder(json.JSONDecoder):
    """A JSON decoder whose strings, objects and arrays know their 1-based line and column."""

    def __init__(self, text: str) -> None:
        super().__init__(object_pairs_hook=list)
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

        def string(s: str, end: int, strict: bool) -> tuple[str, int]:
            value, after = json.decoder.scanstring(s, end, strict)  # type: ignore[attr-defined]
            out = _Str(value)
            out.pos = self.where(end - 1)
            return out, after

        def obj(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
            pairs, after = json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
            out = _Obj(pairs)
            out.pos = self.where(s_and_end[1] - 1)
            return out, after

        def arr(s_and_end: tuple[str, int], scan: Any) -> tuple[Any, int]:
            items, after = json.decoder.JSONArray(s_and_end, scan)  # type: ignore[attr-defined]
            out = _Arr(items)
            out.pos = self.where(s_and_end[1] - 1)
            return out, after

        self.parse_string = string
        self.parse_object = obj
        self.parse_array = arr
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]  # hooks above

    def where(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.exprs = ExprParser([("eof", None, 1, 1)], path)

    def value(self, raw: Any, literal: bool = False) -> Any:
        """A JSON value as the HCL reader returns it: templates parsed (not when ``literal``: a
        variable's default is a plain value), mappings and lists positioned."""
        if isinstance(raw, _Str):
            if not literal and ("${" in raw or "%{" in raw):
                return self.exprs.template(str(raw), ("string", str(raw), raw.pos[0], raw.pos[1]))
            return str(raw)
        if isinstance(raw, _Obj):
            out = YMap(raw.pos)
            for key, item in raw:
                if key == "//":
                    continue
                out[str(key)] = self.value(item, literal)
                out.kpos[str(key)] = _pos(key, raw.pos)
                out.vpos[str(key)] = _pos(item, raw.pos)
            return out
        if isinstance(raw, _Arr):
            seq = YList(raw.pos)
            for item in raw:
                seq.append(self.value(item, literal))
                seq.ipos.append(_pos(item, raw.pos))
            return seq
        return raw

    def blocks(self, kind: str, raw: Any, labels: tuple[str, ...], left: int, pos: Pos) -> list[Block]:
        """The blocks of type ``kind`` declared by ``raw`` (``left`` labels still to read)."""
        if isinstance(raw, _Arr):
            return [b for item in raw for b in self.blocks(kind, item, labels, left, _pos(item, pos))]
        if not isinstance(raw, _Obj):
            raise InputError(self.path, pos[0], f"invalid Terraform JSON: {kind!r} must be an object", pos[1])
        if left:
            out: list[Block] = []
            for key, item in raw:
                if key != "//":
                    out += self.blocks(kind, item, (*labels, str(key)), left - 1, _pos(item, raw.pos))
            return out
        return [self.body(kind, labels, raw)]

    def body(self, kind: str, labels: tuple[str, ...], raw: _Obj) -> Block:
        attrs = YMap(raw.pos)
        nested: list[Block] = []
        for key, item in raw:
            if key == "//":
                continue
            if key in NESTED and kind not in ("locals", "variable") and _is_block(item):
                nested += self.blocks(key, item, (), LABELS.get(key, 0) if key == "dynamic" else 0, item.pos)
                continue
            attrs[str(key)] = self.value(item, kind == "variable" and key == "default")
            attrs.kpos[str(key)] = _pos(key, raw.pos)
            attrs.vpos[str(key)] = _pos(item, raw.pos)
        return Block(kind, labels, attrs, tuple(nested), raw.pos[0], raw.pos[1])


def _is_block(item: Any) -> bool:
    return isinstance(item, _Obj) or (isinstance(item, _Arr) and all(isinstance(x, _Obj) for x in item))


def _pos(item: Any, default: Pos) -> Pos:
    found: Pos | None = getattr(item, "pos", None)
    return found if found is not None else default


def load_tf_json(text: str, path: str) -> list[Block]:
    """The top-level blocks of a ``*.tf.json`` file; raises :class:`InputError` on invalid input."""
    try:
        root = _Decoder(text).decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"invalid JSON: {exc.msg}", exc.colno) from None
    except RecursionError:
        raise InputError(path, 1, "invalid JSON: nested too deeply") from None
    if not isinstance(root, _Obj):
        raise InputError(path, 1, "invalid Terraform JSON: the file must be one JSON object")
    reader = _Reader(path)
    out: list[Block] = []
    for key, item in root:
        if key != "//":
            out += reader.blocks(str(key), item, (), LABELS.get(str(key), 0), _pos(item, root.pos))
    return out
