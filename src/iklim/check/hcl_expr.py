"""HCL2 expressions for :mod:`iklim.check.hcl`: the whole grammar of the HCL native syntax.

Literals come back as Python values (str, int, float, bool, None, :class:`YList`, :class:`YMap`);
everything else (references, calls, operators, conditionals, ``for`` expressions, splats,
templates with ``${...}``/``%{...}``) as an :class:`Expr`: its source text, its syntax tree
(``node``, a tuple tagged by its first item) and its position. :mod:`iklim.check.hcl_eval`
evaluates the tree where the values are literal.

The grammar is split by part: :mod:`iklim.check.hcl_stream` (:class:`Expr`, :func:`show`, token
reads), :mod:`iklim.check.hcl_collections` (tuples, objects, ``for``),
:mod:`iklim.check.hcl_template` (templates); this module has operators, values, calls and
traversals (attributes, indexes, splats).
"""

from __future__ import annotations

from typing import Any

from iklim.check.hcl_collections import CollectionParser
from iklim.check.hcl_lexer import Tok
from iklim.check.hcl_stream import Expr, show
from iklim.check.hcl_template import TemplateParser

#: Binary operators by precedence (HCL spec: higher binds tighter).
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4, "+": 5, "-": 5}
PRECEDENCE.update({"*": 6, "/": 6, "%": 6})


class ExprParser(CollectionParser, TemplateParser):
    """The expression grammar; :mod:`iklim.check.hcl` adds bodies.

    Token reads come from :class:`~iklim.check.hcl_stream.TokenStream`, tuples, objects and
    ``for`` expressions from :class:`~iklim.check.hcl_collections.CollectionParser`, templates
    from :class:`~iklim.check.hcl_template.TemplateParser`.
    """

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

    def sub_parser(self, toks: list[Tok]) -> ExprParser:
        """A parser of a template's interpolation: always an expression parser."""
        return ExprParser(toks, self.path)
