"""APISIX's own environment interpolation in ``config.yaml``: ``${{VAR}}`` and ``${{VAR:=default}}``.

APISIX (``apisix/cli/file.lua``, ``resolve_conf_var``) rewrites every string *value* of the user
``config.yaml`` (keys are left alone) before it reads it, with the Lua pattern
``%$%{%{%s*([%w_]+[%:%=]?.-)%s*%}%}``: ``${{`` and optional blanks, a name that starts with an
ASCII letter, digit or underscore, everything up to the first ``}}`` (trailing blanks dropped).
When that text holds ``:=``, the part before it is the variable and the trimmed part after it the
default. The value is ``os.getenv(var)``, else the default (``${{X:=}}`` gives the empty string);
with neither, APISIX refuses to start ("can't find environment variable"). Documented at
https://apisix.apache.org/docs/apisix/profile/ ("Using environment variables in the
configuration file"). The APISIX Dashboard (``conf.yaml``, read by viper) expands nothing.

The checker does not know the runtime environment: a variable resolves to the value an APISIX
service of the checked stacks sets literally, else to its default; without either it cannot be
evaluated and :func:`expand` says which variables are missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_BLANKS = " \t\n\v\f\r"  # Lua's %s in the C locale
_OPEN = "${{"


@dataclass(frozen=True)
class Expansion:
    """``value``: the text as APISIX reads it, None when a variable has neither a value nor a
    default; ``unset``: those variables, in order of appearance; ``used``: whether any
    ``${{...}}`` was expanded."""

    value: str | None
    unset: tuple[str, ...] = ()
    used: bool = False


def _name_start(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def expand(text: str, env: Mapping[str, str] | None = None) -> Expansion:
    """Expand ``${{VAR}}`` / ``${{VAR:=default}}`` in ``text`` as APISIX does; linear time.

    ``env`` holds the variables known to be set (name -> value); every other variable takes its
    default. Text without a well-formed reference is returned unchanged.
    """
    if _OPEN not in text:
        return Expansion(text)
    env = env or {}
    out: list[str] = []
    unset: list[str] = []
    used = False
    i = 0
    while True:
        start = text.find(_OPEN, i)
        if start < 0:
            break
        j = start + len(_OPEN)
        while j < len(text) and text[j] in _BLANKS:
            j += 1
        if j >= len(text) or not _name_start(text[j]):
            out.append(text[i : start + 1])  # Lua's gsub moves on by one character
            i = start + 1
            continue
        end = text.find("}}", j)
        if end < 0:
            break  # no later reference can close either
        inner = text[j:end].rstrip(_BLANKS)
        name, sep, default = inner.partition(":=")
        out.append(text[i:start])
        used = True
        if name in env:
            out.append(env[name])
        elif sep:
            out.append(default.strip(_BLANKS))
        else:
            unset.append(name)
        i = end + 2
    out.append(text[i:])
    if unset:
        return Expansion(None, tuple(dict.fromkeys(unset)), used)
    return Expansion("".join(out), (), used)
