"""The three output formats. JSON follows :data:`JSON_SCHEMA` (``schema: iklim.status/v1``);
fields are only ever added within a schema version, never renamed or removed.

JSON (``--format json``)::

    {
      "schema": "iklim.status/v1",
      "target": "lab",                       # lab | prod
      "status": "degraded",                  # worst component status
      "exit_code": 1,                        # 0 healthy, 1 degraded, 2 down
      "generated_at": "2026-01-01T03:00:00Z",
      "seconds": 0.041,                      # wall time of the probes
      "components": [
        {"component": "etcd", "status": "degraded",
         "reason": "2/3 members, leader etcd-1; tolerates 0 more failures; etcd-2 127.0.1.2:2379: connection refused",
         "leader": "etcd-1",                 # null when none or not applicable
         "tolerates": 0,                     # more member failures survivable; null when not applicable
         "seconds": 0.004,
         "members": [{"name": "etcd-1", "address": "127.0.1.1:2379", "state": "leader", "ok": true}, ...]}
      ],
      "skipped": [{"component": "mongodb", "reason": "not run in the lab (mongod not installed)"}]
    }

Prometheus (``--format prometheus``): ``iklim_component_status{component="etcd",target="lab"} 1``
(0 healthy, 1 degraded, 2 down), ``iklim_component_failure_tolerance``, ``iklim_member_ok``
and ``iklim_status_probe_seconds``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from iklim.status.report import SEVERITY, Report, Skipped, exit_code

SCHEMA_ID = "iklim.status/v1"
_STATUS = {"type": "string", "enum": ["healthy", "degraded", "down"]}
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["schema", "target", "status", "exit_code", "generated_at", "seconds", "components", "skipped"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "target": {"type": "string", "enum": ["lab", "prod"]},
        "status": _STATUS,
        "exit_code": {"type": "integer", "enum": [0, 1, 2]},
        "generated_at": {"type": "string"},
        "seconds": {"type": "number", "minimum": 0},
        "components": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["component", "status", "reason", "leader", "tolerates", "seconds", "members"],
                "properties": {
                    "component": {"type": "string"},
                    "status": _STATUS,
                    "reason": {"type": "string"},
                    "leader": {"type": ["string", "null"]},
                    "tolerates": {"type": ["integer", "null"], "minimum": 0},
                    "seconds": {"type": "number", "minimum": 0},
                    "members": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "address", "state", "ok"],
                            "properties": {
                                "name": {"type": "string"},
                                "address": {"type": "string"},
                                "state": {"type": "string"},
                                "ok": {"type": "boolean"},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
        "skipped": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["component", "reason"],
                "properties": {"component": {"type": "string"}, "reason": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def worst(reports: Sequence[Report]) -> str:
    return max((r.status for r in reports), key=SEVERITY.__getitem__, default="healthy")


def as_json(target: str, reports: Sequence[Report], skipped: Sequence[Skipped], seconds: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "target": target,
        "status": worst(reports),
        "exit_code": exit_code(reports),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 4),
        "components": [
            {
                "component": r.component,
                "status": r.status,
                "reason": r.reason,
                "leader": r.leader,
                "tolerates": r.tolerates,
                "seconds": round(r.seconds, 4),
                "members": [{"name": m.name, "address": m.address, "state": m.state, "ok": m.ok} for m in r.members],
            }
            for r in reports
        ],
        "skipped": [{"component": s.component, "reason": s.reason} for s in skipped],
    }


def render_json(target: str, reports: Sequence[Report], skipped: Sequence[Skipped], seconds: float) -> str:
    return json.dumps(as_json(target, reports, skipped, seconds), indent=2)


def render_text(
    target: str, reports: Sequence[Report], skipped: Sequence[Skipped], seconds: float, color: bool = False
) -> str:
    paint = {"healthy": "32", "degraded": "33", "down": "31", "skipped": "2"}
    width = max([len(r.component) for r in reports] + [len(s.component) for s in skipped] + [9])

    def word(status: str) -> str:
        padded = f"{status:<9}"
        return f"\033[{paint[status]}m{padded}\033[0m" if color else padded

    lines = [f"{r.component:<{width}} {word(r.status)} {r.reason}" for r in reports]
    lines += [f"{s.component:<{width}} {word('skipped')} {s.reason}" for s in skipped]
    overall = worst(reports)
    lines.append(f"{target}: {overall} (exit {exit_code(reports)}), {len(reports)} components in {seconds:.2f} s")
    return "\n".join(lines)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(target: str, reports: Sequence[Report], skipped: Sequence[Skipped], seconds: float) -> str:
    t = _label(target)
    out = [
        "# HELP iklim_component_status Component status: 0 healthy, 1 degraded (serving, redundancy lost), 2 down.",
        "# TYPE iklim_component_status gauge",
        *(
            f'iklim_component_status{{component="{_label(r.component)}",target="{t}"}} {SEVERITY[r.status]}'
            for r in reports
        ),
        "# HELP iklim_component_failure_tolerance More member failures the component survives.",
        "# TYPE iklim_component_failure_tolerance gauge",
        *(
            f'iklim_component_failure_tolerance{{component="{_label(r.component)}",target="{t}"}} {r.tolerates}'
            for r in reports
            if r.tolerates is not None
        ),
        "# HELP iklim_member_ok 1 when the member is in a good state for its role.",
        "# TYPE iklim_member_ok gauge",
        *(
            f'iklim_member_ok{{component="{_label(r.component)}",member="{_label(m.name)}",'
            f'state="{_label(m.state)}",target="{t}"}} {int(m.ok)}'
            for r in reports
            for m in r.members
        ),
        "# HELP iklim_status_probe_seconds Time the component's probe took.",
        "# TYPE iklim_status_probe_seconds gauge",
        *(
            f'iklim_status_probe_seconds{{component="{_label(r.component)}",target="{t}"}} {r.seconds:.4f}'
            for r in reports
        ),
        "# HELP iklim_status_seconds Time all probes took together.",
        "# TYPE iklim_status_seconds gauge",
        f'iklim_status_seconds{{target="{t}"}} {seconds:.4f}',
    ]
    return "\n".join(out) + "\n"
