"""The HCL lexer behind :mod:`iklim.check.hcl`: tokens with 1-based line and column.

Strings keep their ``${...}``/``%{...}`` templates as written (nested quotes included); heredocs
become one string token; comments vanish; newlines are tokens (they end attributes).
"""

from __future__ import annotations

import re
from typing import Any

from iklim.check.findings import InputError
from iklim.model.bounded import MAX_DEPTH

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+|\\\n)|(?P<nl>\n)|(?P<comment>\#[^\n]*|//[^\n]*)|(?P<block>/\*)
    |(?P<heredoc><<-?(?P<tag>[A-Za-z_][A-Za-z0-9_]*)[ \t]*\n)
    |(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_\-]*)
    |(?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|[-+*/%<>!?:])
    |(?P<punct>[{}\[\]().,=])|(?P<quote>")""",
    re.VERBOSE | re.DOTALL,
)


Tok = tuple[str, Any, int, int]


def _string(text: str, i: int, path: str, line: int, level: int = 1) -> tuple[str, int, int]:
    """Read a quoted string starting after its opening quote; returns (value, end, newlines).

    ``level`` counts strings nested in templates (``"${"${...}"}"``), at most ``MAX_DEPTH``.
    """
    if level > MAX_DEPTH:
        raise InputError(path, line, f"invalid HCL: strings nested more than {MAX_DEPTH} levels deep")
    out: list[str] = []
    depth = 0
    n = len(text)
    start_line = line
    while i < n:
        c = text[i]
        if depth == 0 and c == '"':
            return "".join(out), i + 1, line - start_line
        if c == "\n":
            if depth == 0:
                break
            line += 1
        if c == "\\" and depth == 0 and i + 1 < n:
            esc = text[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}.get(esc, "\\" + esc))
            i += 2
            continue
        if c in "$%" and text.startswith("{", i + 1):
            depth += 1
            out.append(c + "{")
            i += 2
            continue
        if depth and c == '"':
            inner, i, lines = _string(text, i + 1, path, line, level + 1)
            line += lines
            out.append('"' + inner + '"')
            continue
        if depth and c == "{":
            depth += 1
        elif depth and c == "}":
            depth -= 1
        out.append(c)
        i += 1
    raise InputError(path, start_line, "unterminated string")


def tokenize(text: str, path: str) -> list[Tok]:
    """The tokens of ``text`` in one linear pass; :class:`InputError` with the line on bad input."""
    toks: list[Tok] = []
    i, line, bol = 0, 1, 0
    n = len(text)
    while i < n:
        m = _TOKEN.match(text, i)
        if m is None:
            raise InputError(path, line, f"unexpected character {text[i]!r}")
        kind = m.lastgroup if m.lastgroup != "tag" else "heredoc"
        col = i - bol + 1
        if kind == "quote":
            value, end, lines = _string(text, m.end(), path, line)
            toks.append(("string", value, line, col))
            line += lines
            i = end
            continue
        if kind == "block":  # found with str.find: one pass even over many unterminated '/*'
            close = text.find("*/", m.end())
            if close < 0:
                raise InputError(path, line, f"invalid HCL: the '/*' comment at column {col} is never closed")
            line += text.count("\n", i, close)
            newline = text.rfind("\n", i, close)
            bol = newline + 1 if newline >= 0 else bol
            i = close + 2
            continue
        if kind == "heredoc":
            tag = m.group("tag")
            body_start = m.end()
            end_re = re.compile(r"^[ \t]*" + re.escape(tag) + r"[ \t]*$", re.MULTILINE)
            closing = end_re.search(text, body_start)
            if closing is None:
                raise InputError(path, line, f"heredoc {tag} is never closed")
            toks.append(("string", text[body_start : closing.start()], line, col))
            line += text.count("\n", i, closing.end())
            i = closing.end()
            bol = text.rfind("\n", 0, i) + 1
            continue
        chunk = m.group(0)
        if kind == "nl" or (kind in ("comment", "ws") and "\n" in chunk):
            line += chunk.count("\n")
            bol = i + chunk.rfind("\n") + 1
            if kind == "nl":
                toks.append(("nl", "\n", line - 1, col))
        elif kind == "number":
            try:
                number: float | int = float(chunk) if any(c in chunk for c in ".eE") else int(chunk)
            except ValueError:  # an integer beyond Python's digit limit
                raise InputError(path, line, f"invalid HCL: number too large ({len(chunk)} digits)") from None
            toks.append(("number", number, line, col))
        elif kind in ("ident", "op", "punct"):
            toks.append((kind, chunk, line, col))
        i = m.end()
    toks.append(("eof", None, line, 1))
    return toks
