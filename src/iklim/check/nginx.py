"""A small nginx configuration reader (directives, blocks, comments, quotes) with line numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from iklim.check.findings import InputError
from iklim.model.bounded import MAX_DEPTH

_TOKEN = re.compile(r"""\s+|\#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{};]|[^\s{};"'#]+""", re.DOTALL)


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    line: int
    block: tuple[Directive, ...] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]


def parse(text: str, path: str) -> tuple[Directive, ...]:
    """The top-level directives of ``text``; :class:`InputError` with the line on bad input."""
    stack: list[list[Directive]] = [[]]
    heads: list[tuple[str, tuple[str, ...], int]] = []
    words: list[str] = []
    start = 0
    line = 1
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated quote
            raise InputError(path, line, "invalid nginx config: unterminated quote")
        tok = m.group(0)
        if tok in ("{", ";", "}"):
            if tok == "}":
                if words or len(stack) == 1:
                    raise InputError(path, line, "invalid nginx config: unexpected '}'")
                name, args, at = heads.pop()
                body = stack.pop()
                stack[-1].append(Directive(name, args, at, tuple(body)))
            elif not words:
                raise InputError(path, line, f"invalid nginx config: unexpected {tok!r}")
            elif tok == "{":
                if len(heads) >= MAX_DEPTH:
                    raise InputError(path, line, f"invalid nginx config: blocks nested more than {MAX_DEPTH} deep")
                heads.append((words[0], tuple(words[1:]), start))
                stack.append([])
                words = []
            else:
                stack[-1].append(Directive(words[0], tuple(words[1:]), start))
                words = []
        elif not tok[0].isspace() and tok[0] != "#":
            if not words:
                start = line
            words.append(tok[1:-1] if tok[0] in "\"'" else tok)
        line += tok.count("\n")
        pos = m.end()
    if heads or words:
        raise InputError(path, line, "invalid nginx config: missing '}' or ';' at end of file")
    return tuple(stack[0])
