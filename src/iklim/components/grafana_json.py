"""Grafana dashboard JSON from small typed specs: stat and time-series panels on the Prometheus datasource.

A :class:`Dashboard` holds :class:`Panel` s; :func:`dashboard_json` lays them out on Grafana's
24-column grid (stats 6 wide and 4 high, time series 12 wide and 8 high, left to right, top to
bottom) and returns the JSON model Grafana's file provisioning loads (Grafana 11 "JSON model"
docs: ``uid``, ``title``, ``schemaVersion``, ``panels`` with ``id``, ``type``, ``gridPos``,
``datasource`` and ``targets`` each with ``refId`` and ``expr``). Every query names the one
datasource the rendered provisioning declares, by its uid (:data:`DATASOURCE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The datasource every panel queries: the uid ``config/grafana/datasources.yml`` provisions.
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "prometheus"}
#: Grafana 11's dashboard schema version (11.0-11.2 write 39; 11.4 loads it without migrating panels).
SCHEMA_VERSION = 39
#: Grafana keeps a dashboard uid to 40 characters (``util.IsShortUIDTooLong``).
UID_MAX = 40
GRID_WIDTH = 24
_SIZE = {"stat": (6, 4), "timeseries": (12, 8)}

#: Threshold steps: (colour, lower bound); the first step's bound is None (Grafana's "Base").
Steps = tuple[tuple[str, float | None], ...]


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; ``legend`` is Grafana's legend format (``{{instance}}``)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """One panel: ``kind`` ``stat`` or ``timeseries``; ``unit`` a Grafana unit id (``bytes``, ``s``).

    ``component`` is the catalogue key whose metrics the queries read (the lab test expects data
    for it when the lab runs it); ``empty_when`` says, in words, when the queries rightly return no
    series (such as "no rule group is loaded"), empty when they always return some.
    ``mappings`` turn values into words (0 -> "no"); ``overview`` puts the panel on the overview too.
    """

    title: str
    queries: tuple[Query, ...]
    component: str
    kind: str = "timeseries"
    unit: str = "short"
    steps: Steps = ()
    description: str = ""
    mappings: tuple[tuple[int, str, str], ...] = ()
    empty_when: str = ""
    overview: bool = False


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: ``uid`` at most :data:`UID_MAX` characters, unique among the rendered ones."""

    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    panels: tuple[Panel, ...]
    refresh: str
    links_tag: str = ""


def count_steps(members: int, quorum: int) -> Steps:
    """Red below ``quorum``, orange below ``members``, green at ``members`` (a member count)."""
    steps: list[tuple[str, float | None]] = [("red", None)]
    if 0 < quorum < members:
        steps.append(("orange", quorum))
    steps.append(("green", members))
    return tuple(steps)


def exactly_one_steps() -> Steps:
    """Red at 0, green at 1, red again from 2 (no leader, one leader, split brain)."""
    return (("red", None), ("green", 1), ("red", 2))


def limit_steps(limit: float, warn: float | None = None) -> Steps:
    """Green below ``warn`` (when given), orange to ``limit``, red from ``limit``."""
    steps: list[tuple[str, float | None]] = [("green", None)]
    if warn is not None and 0 < warn < limit:
        steps.append(("orange", warn))
    steps.append(("red", limit))
    return tuple(steps)


YES_NO = ((0, "no", "red"), (1, "yes", "green"))


def _target(ref: str, query: Query) -> dict[str, Any]:
    return {"refId": ref, "datasource": dict(DATASOURCE), "expr": query.expr, "legendFormat": query.legend or "__auto"}


def _panel(pid: int, panel: Panel, x: int, y: int) -> dict[str, Any]:
    width, height = _SIZE[panel.kind]
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "color": {"mode": "thresholds" if panel.steps else "palette-classic"},
    }
    defaults["thresholds"] = {
        "mode": "absolute",
        "steps": [{"color": c, "value": v} for c, v in (panel.steps or (("green", None),))],
    }
    if panel.mappings:
        defaults["mappings"] = [
            {"type": "value", "options": {str(v): {"text": text, "color": colour, "index": i}}}
            for i, (v, text, colour) in enumerate(panel.mappings)
        ]
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    else:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line" if panel.steps else "off"}, "fillOpacity": 10}
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [_target(refs[i], q) for i, q in enumerate(panel.queries)],
    }


def layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    """The panels' JSON, ids from 1, placed left to right; a kind change starts a new line."""
    out: list[dict[str, Any]] = []
    x = y = line_height = 0
    previous = None
    for pid, panel in enumerate(panels, start=1):
        width, height = _SIZE[panel.kind]
        if x + width > GRID_WIDTH or (previous is not None and panel.kind != previous):
            x, y, line_height = 0, y + line_height, 0
        out.append(_panel(pid, panel, x, y))
        x, line_height, previous = x + width, max(line_height, height), panel.kind
    return out


def dashboard_json(dash: Dashboard) -> str:
    """The dashboard's JSON text (two-space indent, newline at the end); ValueError for a long uid."""
    if not 0 < len(dash.uid) <= UID_MAX:
        raise ValueError(f"dashboard uid {dash.uid!r} must be 1-{UID_MAX} characters")
    links = []
    if dash.links_tag:
        links.append(
            {
                "type": "dashboards",
                "title": "iklim dashboards",
                "tags": [dash.links_tag],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
            }
        )
    data = {
        "uid": dash.uid,
        "title": dash.title,
        "description": dash.description,
        "tags": list(dash.tags),
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "refresh": dash.refresh,
        "annotations": {"list": []},
        "templating": {"list": []},
        "links": links,
        "panels": layout(dash.panels),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
