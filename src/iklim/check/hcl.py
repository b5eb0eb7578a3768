"""An HCL2 reader that keeps positions: blocks, attributes and every HCL2 expression.

It reads blocks (``resource "t" "n" { ... }``), nested blocks, and attributes whose values are
literals (str, numbers, booleans, null, lists, objects) or :class:`Expr` (references, calls,
operators, conditionals, ``for`` expressions, splats, templates; see :mod:`iklim.check.hcl_expr`).
Comments ``#``, ``//`` and ``/* */`` and heredocs are understood. Invalid HCL raises
:class:`InputError` with ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass

from iklim.check.findings import InputError
from iklim.check.hcl_expr import ExprParser
from iklim.check.hcl_lexer import Tok, tokenize
from iklim.check.hcl_stream import Expr
from iklim.check.yamlload import YMap

__all__ = ["Block", "Expr", "load_hcl"]


@dataclass(frozen=True)
class Block:
    """``type "label" ... { body }`` at a 1-based line and column."""

    type: str
    labels: tuple[str, ...]
    attrs: YMap
    blocks: tuple[Block, ...]
    line: int
    column: int

    def children(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.type == kind]


class _Parser(ExprParser):
    """Bodies: attributes and blocks; expressions come from :class:`ExprParser`."""

    def body(self, opening: Tok | None) -> tuple[YMap, list[Block]]:
        self.enter()
        try:
            return self._body(opening)
        finally:
            self.depth -= 1

    def _body(self, opening: Tok | None) -> tuple[YMap, list[Block]]:
        attrs = YMap((opening[2], opening[3]) if opening else (1, 1))
        blocks: list[Block] = []
        while True:
            tok = self.next()
            if tok[0] == "nl":
                continue
            if tok[0] == "eof":
                if opening is not None:
                    raise InputError(self.path, opening[2], "invalid HCL: this '{' is never closed")
                return attrs, blocks
            if tok[0] == "punct" and tok[1] == "}" and opening is not None:
                return attrs, blocks
            if tok[0] != "ident":
                raise self.fail(tok, "an attribute or a block")
            after = self.peek()
            if after[0] == "punct" and after[1] == "=":
                self.next()
                if tok[1] in attrs:
                    raise InputError(self.path, tok[2], f"invalid HCL: attribute {tok[1]!r} set twice")
                value_tok = self.peek()
                attrs[tok[1]] = self.expr()
                attrs.kpos[tok[1]] = (tok[2], tok[3])
                attrs.vpos[tok[1]] = (value_tok[2], value_tok[3])
                end = self.peek()
                if end[0] not in ("nl", "eof") and not (end[0] == "punct" and end[1] == "}"):
                    raise self.fail(end, "a newline after the attribute")
                continue
            labels: list[str] = []
            while self.peek()[0] in ("string", "ident"):
                labels.append(str(self.next()[1]))
            brace = self.expect("{")
            inner, nested = self.body(brace)
            blocks.append(Block(tok[1], tuple(labels), inner, tuple(nested), tok[2], tok[3]))


def load_hcl(text: str, path: str) -> list[Block]:
    """The top-level blocks of an HCL file (top-level attributes are not used by the rules)."""
    _, blocks = _Parser(tokenize(text, path), path).body(None)
    return blocks
