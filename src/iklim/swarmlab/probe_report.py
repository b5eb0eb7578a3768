"""The probe's matrix as text or JSON.

Text: one row per (target, port), one column per source; a cell is ``O`` (open, as expected),
``.`` (closed, as expected), ``O!`` (open, the model says closed), ``x!`` (closed, the model says
open), blank (not probed: the source sits on that node). Then every difference with the state the
probe saw (refused / timeout / unreachable / unresolved), the cells probed twice (the first
attempt differed from the model; ``first_state``, empty when probed once), the per-connection
timeout and timings.

JSON: ``{"timeout_s", "times": {...}, "sources": [...], "cells": [{"source", "target", "port",
"label", "state", "ms", "expected", "ok", "first_state"}], "differences": [same shape], "gaps": [...]}``.
"""

from __future__ import annotations

import json
from typing import Any

from iklim.swarmlab.probe import Cell


def differences(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if not c.ok]


def _row(cell: Cell) -> dict[str, Any]:
    return {
        "source": cell.source,
        "target": cell.target,
        "port": cell.port.number,
        "label": cell.port.label,
        "state": cell.state,
        "ms": cell.ms,
        "expected": cell.expected,
        "ok": cell.ok,
        "first_state": cell.first_state,
    }


def as_json(cells: list[Cell], timeout: float, times: dict[str, float], gaps: list[str]) -> str:
    sources = list(dict.fromkeys(c.source for c in cells))
    return json.dumps(
        {
            "timeout_s": timeout,
            "times": times,
            "sources": sources,
            "cells": [_row(c) for c in cells],
            "differences": [_row(c) for c in differences(cells)],
            "gaps": gaps,
        },
        indent=2,
    )


def _mark(cell: Cell | None) -> str:
    if cell is None:
        return ""
    if cell.kind == "https":  # 200 / 403 as the model says, or what came instead
        code = cell.state.removeprefix("http:")
        return code if cell.ok else f"{code[:5]}!"
    if cell.ok:
        return "O" if cell.reachable else "."
    return "O!" if cell.reachable else "x!"


def as_text(cells: list[Cell], timeout: float, times: dict[str, float], gaps: list[str]) -> str:
    sources = list(dict.fromkeys(c.source for c in cells))
    rows = list(dict.fromkeys((c.target, c.port) for c in cells))
    by_key = {(c.source, c.target, c.port.number): c for c in cells}
    width = max(len(f"{t} {p.number}/tcp {p.label}") for t, p in rows)
    col_min = 6
    heads = sources
    col = max(col_min, *(len(h) for h in heads)) + 1
    lines = [
        "legend: O open, . closed (both as the model says); O! open but the model says closed; "
        "x! closed but the model says open; 200/403: the HTTP status as the model says (with ! when not); "
        "blank: not probed (the source's own node, or no route to that https port)",
        " " * width + " " + "".join(h.rjust(col) for h in heads),
    ]
    for target, port in rows:
        marks = [_mark(by_key.get((s, target, port.number))) for s in sources]
        label = f"{target} {port.number}/tcp {port.label}"
        lines.append(label.ljust(width) + " " + "".join(m.rjust(col) for m in marks))
    diff = differences(cells)
    lines.append("")
    for cell in diff:
        want = ("200" if cell.expected else "403") if cell.kind == "https" else "open" if cell.expected else "closed"
        lines.append(
            f"DIFFERENCE {cell.source} -> {cell.target} {cell.port.number}/tcp ({cell.port.label}): "
            f"{cell.state}, the model says {want}"
        )
    for cell in (c for c in cells if c.first_state):
        lines.append(
            f"PROBED AGAIN {cell.source} -> {cell.target} {cell.port.number}/tcp ({cell.port.label}): "
            f"{cell.first_state}, then {cell.state}" + ("" if cell.ok else " (a difference)")
        )
    lines.extend(f"not testable in the lab: {gap}" for gap in gaps)
    lines.append("UDP (7946, 4789) not probed: an open and a filtered UDP port both stay silent")
    lines.append(
        f"{len(cells)} connections, {len(diff)} differences; per-connection timeout {timeout} s; "
        + ", ".join(f"{k} {v} s" for k, v in times.items())
    )
    return "\n".join(lines)
