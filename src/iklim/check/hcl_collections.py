"""Collection constructors and ``for`` expressions of HCL: ``[a, b]``, ``{k = v}``,
``[for v in coll : v if c]`` and ``{for k, v in coll : k => v... if c}``, for
:class:`iklim.check.hcl_expr.ExprParser`.
"""

from __future__ import annotations

from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl_lexer import Tok
from iklim.check.hcl_stream import Expr, TokenStream, show
from iklim.check.yamlload import Pos, YList, YMap


def object_key(value: Any, pos: Pos) -> str:
    """An object key written as an expression: its string value (``"2379"`` is ``2379``).

    A literal string is itself, a number or boolean its HCL string form; anything else (a
    template ``"x${var.y}"``, ``(local.k)``) stays an :class:`Expr`, evaluated with the object
    by :func:`iklim.check.hcl_eval.evaluate`.
    """
    if isinstance(value, str):  # an Expr too
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return Expr(show(value), ("paren", value), pos)  # null or a collection: refused when evaluated


class CollectionParser(TokenStream):
    """Tuples, objects and the ``for`` expressions written inside their brackets."""

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
                key = object_key(self.expr(), (tok[2], tok[3]))
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
