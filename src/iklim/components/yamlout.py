"""Deterministic YAML text: insertion order kept, block style, lists indented under their key.

Below every component (config builders emit YAML) and used by the renderer for the stacks.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Indents sequences inside mappings (``key:\\n  - item``), as compose files are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")  # YAML line breaks besides \n and \r


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL, LS and PS raw in plain, single-quoted and block scalars, where a reader
    # folds them into spaces: only double quotes (escaped as \N, \L, \P) keep them.
    style = '"' if any(c in value for c in _OTHER_BREAKS) else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """``data`` as YAML; equal data always gives equal bytes."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=True
    )
    return text
