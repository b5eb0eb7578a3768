"""Escape a value for the language it lands in: shell, shell inside a compose file, HCL, nginx.

The model's patterns (:mod:`iklim.model.strings`) already refuse anything that could change the
meaning of a rendered file; these helpers are the second line, so a value is data wherever it is
written even if a pattern is ever loosened. Each returns the value unchanged when it is a plain
token, so the rendered tree of a sound model does not change.
"""

from __future__ import annotations

import json
import re
import shlex

_NGINX_PLAIN = re.compile(r"[A-Za-z0-9._:/*~-]+")
_HCL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def sh(value: object) -> str:
    """``value`` as one shell word (``shlex.quote``): never expanded, split or globbed."""
    return shlex.quote(str(value))


def sh_comment(value: object) -> str:
    """``value`` for a shell comment: one line of printable ASCII (a JSON string when it is not)."""
    text = str(value)
    if text.isascii() and text.isprintable():
        return sh(text)
    return json.dumps(text, ensure_ascii=True)


def compose_sh(value: object) -> str:
    """``value`` as one shell word inside a compose file's command: quoted, ``$`` doubled so
    ``docker stack deploy`` does not interpolate it."""
    return sh(value).replace("$", "$$")


def hcl_string(value: object) -> str:
    """``value`` as a quoted HCL string literal: quotes, backslashes and control characters
    escaped, and the ``{`` of ``${`` or ``%{`` written ``\\u007b`` so no template sequence is ever
    evaluated (Terraform and python-hcl2 both read it as a literal ``{``; ``$${`` is not read by
    python-hcl2 when no ``}`` follows)."""
    out = []
    previous = ""
    for char in str(value):
        if char in _HCL_ESCAPES:
            out.append(_HCL_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        elif char == "{" and previous in ("$", "%"):
            out.append("\\u007b")
        else:
            out.append(char)
        previous = char
    return '"' + "".join(out) + '"'


def nginx_word(value: object) -> str:
    """``value`` as one nginx token: unchanged when plain, else double-quoted with ``\\`` and ``"``
    escaped (nginx reads ``;``, ``{``, ``#`` and line breaks inside quotes as data)."""
    text = str(value)
    if _NGINX_PLAIN.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
