"""Compose durations (Go's ``time.ParseDuration`` syntax, as ``docker stack deploy`` reads them) in nanoseconds."""

from __future__ import annotations

import re

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
_UNITS["h"] = 60 * _UNITS["m"]
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def to_ns(value: object) -> int:
    """``"1m30s"`` -> 90_000_000_000; an int is taken as nanoseconds already (the Engine API's form).

    Raises ValueError on anything else (``"10"``, ``"-1s"``, ``""``): Go's parser refuses a number
    without a unit, and so would ``docker stack deploy``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(f"not a duration: {value!r} (Go syntax: 10s, 1m30s, 500ms)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError(f"not a duration: {value!r}")
    return int(round(total))


def seconds(ns: int) -> str:
    """Nanoseconds as a short text for messages: ``90_000_000_000`` -> ``"90s"``, ``1_500_000_000`` -> ``"1.5s"``."""
    value = ns / 1e9
    return f"{value:g}s"
