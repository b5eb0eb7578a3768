"""Compose's variable interpolation and its merge of a second ``-c`` file, as ``docker stack deploy`` does them.

Interpolation (compose file reference, "Interpolation"): ``$VAR``, ``${VAR}``, ``${VAR:-default}``
(unset or empty), ``${VAR-default}`` (unset), ``${VAR:?message}``/``${VAR?message}`` (required),
and ``$$`` for a literal ``$`` (the stacks write ``$$`` for a shell's ``$``). Merge (docker/cli
``cli/compose/loader/merge.go``, simplified to what the Swarm lab override uses): mappings merge
key by key, anything else is replaced by the later file's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: ``docker stack deploy`` substitutes a blank string for an unset variable and only warns
#: (docker/cli ``cli/compose/template``; "The X variable is not set. Defaulting to a blank string.").
UNSET_WARNING = "variable {name} is not set: docker stack deploy substitutes a blank string"


class ComposeError(ValueError):
    """A stack file that cannot be converted faithfully; one line naming the file, service and key."""


_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{))")


def interpolate(text: str, environ: Mapping[str, str], unset: set[str] | None = None) -> str:
    """Compose interpolation of one string (``$$`` -> ``$``); raises ComposeError on ``${VAR:?msg}`` unset.

    ``unset``, when given, collects the names of plain ``$VAR``/``${VAR}`` references that are not
    set (each becomes a blank string, as the CLI does: :data:`UNSET_WARNING`)."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        if match.group(4):  # "${" with no closing brace: docker/cli's "Invalid template"
            raise ComposeError(f"invalid interpolation format (no closing brace): {text[:80]!r}")
        body = match.group(2) if match.group(2) is not None else match.group(3)
        for sep in (":-", "-", ":?", "?"):
            if sep in body:
                name, rest = body.split(sep, 1)
                value = environ.get(name)
                if sep == ":-":
                    return value if value else rest
                if sep == "-":
                    return value if value is not None else rest
                if (sep == ":?" and not value) or (sep == "?" and value is None):
                    raise ComposeError(f"${{{body}}}: {rest or 'required variable ' + name + ' is not set'}")
                return value or ""
        if body not in environ and unset is not None:
            unset.add(body)
        return environ.get(body, "")

    return _VAR.sub(one, text)


def interpolate_all(value: Any, environ: Mapping[str, str], unset: set[str] | None = None) -> Any:
    """:func:`interpolate` of every string in ``value`` (nested lists and mappings; keys are kept)."""
    if isinstance(value, str):
        return interpolate(value, environ, unset)
    if isinstance(value, list):
        return [interpolate_all(v, environ, unset) for v in value]
    if isinstance(value, dict):
        return {k: interpolate_all(v, environ, unset) for k, v in value.items()}
    return value


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Compose's merge of a second ``-c`` file: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
