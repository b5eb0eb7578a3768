"""The HCL expression parser's foundation: :class:`Expr` (a value that is not a literal),
:func:`show` (a value as HCL source) and :class:`TokenStream` (the token-stream state and the
small reads every part of the grammar uses: peek, next, expect, errors, the depth bound).
"""

from __future__ import annotations

import json
from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl_lexer import Tok
from iklim.check.yamlload import Pos
from iklim.model.bounded import MAX_DEPTH


class Expr(str):
    """A value that is not a literal: its source text, with ``node`` (syntax tree) and ``pos``.

    Nodes: ``("ref", name)``, ``("attr", obj, name)``, ``("index", obj, key)``,
    ``("splat", obj, ops)``, ``("call", name, args, expand)``, ``("op", op, left, right)``,
    ``("unary", op, value)``, ``("cond", test, then, other)``, ``("paren", value)``,
    ``("for", key_var, value_var, collection, key, value, condition, grouping)`` (key None for
    a tuple), ``("template", parts)`` (parts: str or values; ``("directive", text)``).
    """

    node: Any
    pos: Pos

    def __new__(cls, text: str, node: Any = None, pos: Pos = (0, 0)) -> Expr:
        obj = super().__new__(cls, text)
        obj.node = node if node is not None else ("ref", text)
        obj.pos = pos
        return obj


def show(value: Any) -> str:
    """A value as HCL source: expressions as written, literals in HCL spelling."""
    if isinstance(value, Expr):
        return '"' + str(value) + '"' if value.node[0] == "template" else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(show, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _key(key: str) -> str:
    """An object key as HCL source: a name bare, any other string quoted, an expression as written."""
    if isinstance(key, Expr):
        return show(key)
    return key if key.isidentifier() else json.dumps(key)


class TokenStream:
    """Token-stream state; :class:`iklim.check.hcl_expr.ExprParser` adds the grammar."""

    def __init__(self, toks: list[Tok], path: str) -> None:
        self.toks = toks
        self.i = 0
        self.path = path
        self.nested = 0  # inside brackets newlines are not significant
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

    def peek2(self) -> Tok:
        """The token after the next one (newlines skipped inside brackets)."""
        self.peek()
        j = self.i + 1
        while self.nested and j < len(self.toks) and self.toks[j][0] == "nl":
            j += 1
        return self.toks[min(j, len(self.toks) - 1)]

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

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok[0] in ("punct", "op") and tok[1] == value

    def at_word(self, word: str) -> bool:
        tok = self.peek()
        return tok[0] == "ident" and tok[1] == word

    def expr(self) -> Any:
        """A whole expression (the grammar defines it)."""
        raise NotImplementedError
