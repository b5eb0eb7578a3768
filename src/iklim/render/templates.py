"""Plain-text templates shipped in ``iklim/templates``, filled with ``@@name@@`` placeholders.

Shell scripts are full of ``$``, ``{{ }}`` and ``[[ ]]``; a placeholder syntax none of them uses
keeps the templates readable as the scripts they become. Every placeholder must be filled and
every value used, so a template and its caller cannot drift apart silently.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


@cache
def _template(name: str) -> str:
    return files("iklim").joinpath("templates", name).read_text(encoding="utf-8")


def fill(name: str, **values: str) -> str:
    """The template ``name`` with each ``@@key@@`` replaced by ``values[key]``."""
    text = _template(name)
    wanted = set(_PLACEHOLDER.findall(text))
    missing, unused = wanted - values.keys(), values.keys() - wanted
    if missing or unused:
        raise ValueError(f"template {name}: missing {sorted(missing)}, unused {sorted(unused)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
