"""HCL string templates: ``"a ${b} %{if c}d%{endif}"`` split into literal parts, parsed
interpolations and ``("directive", text)`` parts, for :class:`iklim.check.hcl_expr.ExprParser`.
"""

from __future__ import annotations

from typing import Any

from iklim.check.findings import InputError
from iklim.check.hcl_lexer import Tok, tokenize
from iklim.check.hcl_stream import Expr, TokenStream


class TemplateParser(TokenStream):
    """Templates; an interpolation is read by a fresh parser from :meth:`sub_parser`."""

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
        sub = self.sub_parser(toks)
        sub.nested = 1
        sub.depth = self.depth
        value = sub.expr()
        if sub.peek()[0] != "eof":
            raise sub.fail(sub.peek(), "'}' closing the interpolation")
        return value

    def sub_parser(self, toks: list[Tok]) -> TokenStream:
        """A parser of a whole expression over ``toks`` (the grammar provides it)."""
        raise NotImplementedError


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
