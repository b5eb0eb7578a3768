"""HCL2 expressions for :mod:`iklim.check.hcl`: the whole grammar of the HCL native syntax.

Literals come back as Python values (str, int, float, bool, None, :class:`YList`, :class:`YMap`);
everything else (references, calls, operators, conditionals, ``for`` expressions, splats,
templates with ``${...}``/``%{...}``) as an :class:`Expr`: its source text, its syntax tree
(``node``, a tuple tagged by its first item) and its position. :mod:`iklim.check.hcl_eval`
evaluates the tree where the values are literal.
"""

from __future__ import annotations

import json
from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl_lexer import Tok, tokenize
from iklim.check.yamlload import Pos, YList, YMap
from iklim.model.bounded import MAX_DEPTH

#: Binary operators by precedence (HCL spec: higher binds tighter).
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4, "+": 5, "-": 5}
PRECEDENCE.update({"*": 6, "/": 6, "%": 6})


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
        return "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
    return str(value)


class ExprParser:
    """Token-stream state and the expression grammar; :mod:`iklim.check.hcl` adds bodies."""

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
        """A whole expression: a conditional or a binary operation."""
        self.enter()
        try:
            start = self.peek()
            test = self.binary(0)
            if not self.at("?"):
                return test
            self.next()
            then = self.expr()
            self.expect(":")
            other = self.expr()
            return Expr(
                f"{show(test)} ? {show(then)} : {show(other)}", ("cond", test, then, other), (start[2], start[3])
            )
        finally:
            self.depth -= 1

    def binary(self, above: int) -> Any:
        start = self.peek()
        left = self.unary()
        while True:
            tok = self.peek() if self.nested else self.toks[self.i]
            level = PRECEDENCE.get(str(tok[1])) if tok[0] == "op" else None
            if level is None or level <= above:
                return left
            self.next()
            self.enter()
            try:
                right = self.binary(level)
            finally:
                self.depth -= 1
            left = Expr(f"{show(left)} {tok[1]} {show(right)}", ("op", tok[1], left, right), (start[2], start[3]))

    def unary(self) -> Any:
        tok = self.peek()
        if tok[0] == "op" and tok[1] in ("-", "!"):
            self.next()
            self.enter()
            try:
                value = self.unary()
            finally:
                self.depth -= 1
            if tok[1] == "-" and isinstance(value, int | float) and not isinstance(value, bool):
                return -value
            return Expr(f"{tok[1]}{show(value)}", ("unary", tok[1], value), (tok[2], tok[3]))
        return self.postfix(self.primary())

    def primary(self) -> Any:
        tok = self.next()
        kind, value = tok[0], tok[1]
        if kind == "number":
            return value
        if kind == "string":
            return self.template(value, tok) if ("${" in value or "%{" in value) else value
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            return self.name(tok)
        if kind == "punct" and value == "[":
            return self.sequence(tok)
        if kind == "punct" and value == "{":
            return self.obj(tok)
        if kind == "punct" and value == "(":
            self.nested += 1
            inner = self.expr()
            self.expect(")")
            self.nested -= 1
            return Expr(f"({show(inner)})", ("paren", inner), (tok[2], tok[3]))
        raise self.fail(tok, "a value")

    def name(self, tok: Tok) -> Expr:
        """A variable, or a function call ``f(...)`` / ``provider::ns::f(...)``."""
        text = str(tok[1])
        while self._colons():
            self.i += 2
            part = self.next()
            if part[0] != "ident":
                raise self.fail(part, "a function name after '::'")
            text += f"::{part[1]}"
        here = self.toks[self.i]
        if not (here[0] == "punct" and here[1] == "("):
            if "::" in text:
                raise self.fail(here, "'(' after a provider function name")
            return Expr(text, ("ref", text), (tok[2], tok[3]))
        self.next()
        self.nested += 1
        args: list[Any] = []
        expand = False
        while not self.at(")"):
            args.append(self.expr())
            if self.at("..."):
                self.next()
                expand = True
            if not self.at(")"):
                self.expect(",")
        self.next()
        self.nested -= 1
        shown = f"{text}({', '.join(map(show, args))}{'...' if expand else ''})"
        return Expr(shown, ("call", text, tuple(args), expand), (tok[2], tok[3]))

    def _colons(self) -> bool:
        a, b = self.toks[self.i], self.toks[self.i + 1] if self.i + 1 < len(self.toks) else ("eof", None, 0, 0)
        return a[1] == ":" == b[1] and a[0] == "op" == b[0] and a[2] == b[2] and b[3] == a[3] + 1

    def postfix(self, value: Any) -> Any:
        """Attribute access, indexing and splats after any value."""
        while True:
            tok = self.toks[self.i]
            op = self._traversal_op()
            if op is None:
                return value
            pos = value.pos if isinstance(value, Expr) else (tok[2], tok[3])
            if op[0] == "splat":
                ops: list[tuple[str, Any]] = []
                while (more := self._traversal_op(splat=False)) is not None:
                    ops.append(more)
                shown = show(value) + op[1] + "".join(f".{o[1]}" if o[0] == "attr" else f"[{show(o[1])}]" for o in ops)
                value = Expr(shown, ("splat", value, tuple(ops)), pos)
            elif op[0] == "attr":
                value = Expr(f"{show(value)}.{op[1]}", ("attr", value, op[1]), pos)
            else:
                value = Expr(f"{show(value)}[{show(op[1])}]", ("index", value, op[1]), pos)

    def _traversal_op(self, splat: bool = True) -> tuple[str, Any] | None:
        tok = self.toks[self.i]
        if tok[0] == "punct" and tok[1] == ".":
            self.i += 1
            part = self.next()
            if part[0] == "op" and part[1] == "*" and splat:
                return ("splat", ".*")
            if part[0] == "ident":
                return ("attr", part[1])
            if part[0] == "number" and isinstance(part[1], int):
                return ("index", part[1])
            raise self.fail(part, "a name after '.'")
        if tok[0] == "punct" and tok[1] == "[":
            after = self.toks[self.i + 1]
            if after[0] == "op" and after[1] == "*" and splat:
                self.i += 2
                self.expect("]")
                return ("splat", "[*]")
            self.next()
            self.nested += 1
            key = self.expr()
            self.expect("]")
            self.nested -= 1
            return ("index", key)
        return None

    def for_intro(self) -> tuple[str | None, str, Any]:
        """``for k, v in coll :`` (the ``for`` already read): key var, value var, collection."""
        first = self.next()
        if first[0] != "ident":
            raise self.fail(first, "a variable name after 'for'")
        key: str | None = None
        var = str(first[1])
        if self.at(","):
            self.next()
            second = self.next()
            if second[0] != "ident":
                raise self.fail(second, "a second variable name")
            key, var = var, str(second[1])
        tok = self.next()
        if tok[0] != "ident" or tok[1] != "in":
            raise self.fail(tok, "'in'")
        collection = self.expr()
        self.expect(":")
        return key, var, collection

    def for_rest(self, opening: Tok, closing: str, is_object: bool) -> Expr:
        self.next()  # "for"
        key_var, var, collection = self.for_intro()
        key = None
        if is_object:
            key = self.expr()
            self.expect("=>")
        value = self.expr()
        grouping = False
        if is_object and self.at("..."):
            self.next()
            grouping = True
        condition = None
        if self.at_word("if"):
            self.next()
            condition = self.expr()
        self.expect(closing)
        self.nested -= 1
        names = f"{key_var}, {var}" if key_var else var
        body = f"{show(key)} => {show(value)}{'...' if grouping else ''}" if is_object else show(value)
        cond = f" if {show(condition)}" if condition is not None else ""
        shown = f"{opening[1]}for {names} in {show(collection)} : {body}{cond}{closing}"
        node = ("for", key_var, var, collection, key, value, condition, grouping)
        return Expr(shown, node, (opening[2], opening[3]))

    def _is_for(self) -> bool:
        return self.at_word("for") and self.peek2()[0] == "ident"

    def sequence(self, opening: Tok) -> YList | Expr:
        self.nested += 1
        if self._is_for():
            return self.for_rest(opening, "]", False)
        out = YList((opening[2], opening[3]))
        while not self.at("]"):
            tok = self.peek()
            if tok[0] == "eof":
                raise InputError(self.path, opening[2], "invalid HCL: this '[' is never closed")
            out.append(self.expr())
            out.ipos.append((tok[2], tok[3]))
            if not self.at("]"):
                self.expect(",")
        self.next()
        self.nested -= 1
        return out

    def obj(self, opening: Tok) -> YMap | Expr:
        self.nested += 1
        if self._is_for():
            return self.for_rest(opening, "}", True)
        out = YMap((opening[2], opening[3]))
        while not self.at("}"):
            tok = self.peek()
            if tok[0] == "eof":
                raise InputError(self.path, opening[2], "invalid HCL: this '{' is never closed")
            after = self.peek2()
            if tok[0] == "ident" and after[0] in ("punct", "op") and after[1] in ("=", ":"):
                self.next()
                key = str(tok[1])
            else:
                key = show(self.expr())
            sep = self.next()
            if sep[1] not in ("=", ":") or sep[0] not in ("punct", "op"):
                raise self.fail(sep, "'=' or ':'")
            value_tok = self.peek()
            out[key] = self.expr()
            out.kpos[key] = (tok[2], tok[3])
            out.vpos[key] = (value_tok[2], value_tok[3])
            if self.at(","):
                self.next()
        self.next()
        self.nested -= 1
        return out

    def template(self, text: str, tok: Tok) -> Expr:
        """A string with ``${...}``/``%{...}``: its parts, interpolations parsed (``$${`` is literal)."""
        parts: list[Any] = []
        i, n, literal = 0, len(text), ""
        while i < n:
            if text.startswith(("$${", "%%{"), i):
                literal += text[i + 1 : i + 3]
                i += 3
                continue
            if text.startswith(("${", "%{"), i):
                end = _closing(text, i + 2)
                if end < 0:
                    raise InputError(self.path, tok[2], "invalid HCL: unterminated template sequence")
                if literal:
                    parts.append(literal)
                    literal = ""
                inner = text[i + 2 : end].strip().strip("~").strip()
                if text[i] == "%":
                    parts.append(("directive", inner))
                else:
                    parts.append(self._interpolation(inner, tok))
                i = end + 1
                continue
            literal += text[i]
            i += 1
        if literal:
            parts.append(literal)
        return Expr(text, ("template", tuple(parts)), (tok[2], tok[3]))

    def _interpolation(self, inner: str, tok: Tok) -> Any:
        try:
            toks = [(k, v, line + tok[2] - 1, col) for k, v, line, col in tokenize(inner, self.path)]
        except InputError as exc:
            raise InputError(self.path, tok[2] + max(exc.line, 1) - 1, exc.message) from None
        sub = ExprParser(toks, self.path)
        sub.nested = 1
        sub.depth = self.depth
        value = sub.expr()
        if sub.peek()[0] != "eof":
            raise sub.fail(sub.peek(), "'}' closing the interpolation")
        return value


def _closing(text: str, i: int) -> int:
    """The index of the ``}`` closing a template sequence opened before ``i`` (-1: none)."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1
