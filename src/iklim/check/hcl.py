"""A small HCL reader that keeps positions, for the terraform subset the rendered tree uses.

It reads blocks (``resource "t" "n" { ... }``), nested blocks, and attributes whose values are
strings (templates kept as written), numbers, booleans, null, lists, objects, references and
function calls (kept as :class:`Expr`, their source text). Comments ``#``, ``//`` and ``/* */``
and heredocs are understood. Anything else raises :class:`InputError` with ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl_lexer import Tok, tokenize
from iklim.check.yamlload import YList, YMap
from iklim.model.bounded import MAX_DEPTH


class Expr(str):
    """A value that is not a literal (a reference, a call or an operation): its source text."""


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


class _Parser:
    def __init__(self, toks: list[Tok], path: str) -> None:
        self.toks = toks
        self.i = 0
        self.path = path
        self.nested = 0
        self.depth = 0  # blocks and values being read, at most MAX_DEPTH

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            line = self.toks[self.i][2]
            raise InputError(self.path, line, f"invalid HCL: nested more than {MAX_DEPTH} levels deep")

    def peek(self) -> Tok:
        if self.nested:
            while self.toks[self.i][0] == "nl":
                self.i += 1
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.peek()
        if tok[0] != "eof":
            self.i += 1
        return tok

    def fail(self, tok: Tok, what: str) -> InputError:
        shown = "end of file" if tok[0] == "eof" else "newline" if tok[0] == "nl" else repr(tok[1])
        return InputError(self.path, tok[2], f"invalid HCL: expected {what}, found {shown}")

    def expect(self, value: str) -> Tok:
        tok = self.next()
        if tok[1] != value or tok[0] not in ("punct", "op"):
            raise self.fail(tok, repr(value))
        return tok

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

    def expr(self) -> Any:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok[0] != "op" or tok[1] in ("!", "..."):
                return left
            self.next()
            right = self.unary()
            if tok[1] == "?":
                self.expect(":")
                other = self.unary()
                left = Expr(f"{left} ? {right} : {other}")
            else:
                left = Expr(f"{left} {tok[1]} {right}")

    def unary(self) -> Any:
        self.enter()
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Any:
        tok = self.peek()
        if tok[0] == "op" and tok[1] in ("-", "!"):
            self.next()
            value = self.unary()
            if tok[1] == "-" and isinstance(value, int | float) and not isinstance(value, bool):
                return -value
            return Expr(f"{tok[1]}{value}")
        return self.primary()

    def primary(self) -> Any:
        tok = self.next()
        kind, value = tok[0], tok[1]
        if kind in ("string", "number"):
            return value
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            return self.traversal(value)
        if kind == "punct" and value == "[":
            return self.sequence(tok)
        if kind == "punct" and value == "{":
            return self.obj(tok)
        if kind == "punct" and value == "(":
            self.nested += 1
            inner = self.expr()
            self.expect(")")
            self.nested -= 1
            return Expr(f"({inner})")
        raise self.fail(tok, "a value")

    def traversal(self, name: str) -> Expr:
        text = name
        while True:
            tok = self.toks[self.i]
            if tok[0] == "punct" and tok[1] == "(" and text == name:
                self.next()
                self.nested += 1
                args = []
                while not (self.peek()[0] == "punct" and self.peek()[1] == ")"):
                    args.append(str(self.expr()))
                    if self.peek()[1] == "...":
                        self.next()
                    if self.peek()[1] != ")":
                        self.expect(",")
                self.next()
                self.nested -= 1
                text += "(" + ", ".join(args) + ")"
            elif tok[0] == "punct" and tok[1] == ".":
                self.next()
                part = self.next()
                if part[0] not in ("ident", "number") and part[1] != "*":
                    raise self.fail(part, "a name after '.'")
                text += f".{part[1]}"
            elif tok[0] == "punct" and tok[1] == "[":
                self.next()
                self.nested += 1
                index = "*" if self.peek()[1] == "*" and self.next() else self.expr()
                self.expect("]")
                self.nested -= 1
                text += f"[{index}]"
            else:
                return Expr(text)

    def sequence(self, opening: Tok) -> YList:
        out = YList((opening[2], opening[3]))
        self.nested += 1
        while not (self.peek()[0] == "punct" and self.peek()[1] == "]"):
            tok = self.peek()
            if tok[0] == "eof":
                raise InputError(self.path, opening[2], "invalid HCL: this '[' is never closed")
            out.append(self.expr())
            out.ipos.append((tok[2], tok[3]))
            if self.peek()[1] != "]":
                self.expect(",")
        self.next()
        self.nested -= 1
        return out

    def obj(self, opening: Tok) -> YMap:
        out = YMap((opening[2], opening[3]))
        self.nested += 1
        while not (self.peek()[0] == "punct" and self.peek()[1] == "}"):
            tok = self.next()
            if tok[0] not in ("ident", "string"):
                raise self.fail(tok, "an object key")
            sep = self.next()
            if sep[1] not in ("=", ":"):
                raise self.fail(sep, "'=' or ':'")
            value_tok = self.peek()
            key = str(tok[1])
            out[key] = self.expr()
            out.kpos[key] = (tok[2], tok[3])
            out.vpos[key] = (value_tok[2], value_tok[3])
            if self.peek()[1] == ",":
                self.next()
        self.next()
        self.nested -= 1
        return out


def load_hcl(text: str, path: str) -> list[Block]:
    """The top-level blocks of an HCL file (top-level attributes are not used by the rules)."""
    _, blocks = _Parser(tokenize(text, path), path).body(None)
    return blocks
