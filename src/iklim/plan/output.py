"""The plan as text or as JSON (schema ``iklim.plan/v1``).

JSON document (keys always present)::

    {"schema": "iklim.plan/v1",
     "target": "swarm-lab" | "prod" | "static",
     "empty": bool,                      # true: the deploy would change nothing
     "summary": {"create": n, "remove": n, "recreate": n, "rolling-restart": n,
                 "metadata-only": n, "unchanged": n},
     "services": [{"name": "iklimco_etcd-1", "stack": "iklimco", "action": "rolling-restart",
                   "changes": [{"field": "env", "effect": "rolling-restart",
                                "detail": "env: ETCD_NAME changed"}]}],
     "configs": {"<name>": "create" | "unchanged" | "conflict" | "unused"},
     "secrets": {"<name>": "present" | "missing"},
     "networks": {"<name>": "present" | "missing"},
     "preflight": [{"name": "manager-quorum", "verdict": "pass" | "warn" | "fail",
                    "message": "...", "details": ["..."]}],
     "seconds": {"snapshot": s, "plan": s, "preflight": s}}

A static run (``--static``) has no live state: ``services``, ``configs``, ``secrets`` and
``networks`` are empty and ``empty`` is null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iklim.plan.diff import Plan
from iklim.plan.preflight import Check

SCHEMA = "iklim.plan/v1"
ACTIONS = ("create", "remove", "recreate", "rolling-restart", "metadata-only", "unchanged")
_MARK = {"create": "+", "remove": "-", "recreate": "!", "rolling-restart": "~", "metadata-only": "m", "unchanged": " "}


def as_document(target: str, plan: Plan | None, checks: list[Check], seconds: Mapping[str, float]) -> dict[str, Any]:
    """The JSON document (see the module docstring)."""
    services = plan.services if plan else []
    return {
        "schema": SCHEMA,
        "target": target,
        "empty": plan.empty if plan else None,
        "summary": {a: sum(1 for s in services if s.action == a) for a in ACTIONS},
        "services": [
            {
                "name": s.name,
                "stack": s.stack,
                "action": s.action,
                "changes": [{"field": c.field, "effect": c.effect, "detail": c.detail} for c in s.changes],
            }
            for s in services
        ],
        "configs": dict(plan.configs) if plan else {},
        "secrets": dict(plan.secrets) if plan else {},
        "networks": dict(plan.networks) if plan else {},
        "preflight": [
            {"name": c.name, "verdict": c.verdict, "message": c.message, "details": list(c.details)} for c in checks
        ],
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def as_json(target: str, plan: Plan | None, checks: list[Check], seconds: Mapping[str, float]) -> str:
    return json.dumps(as_document(target, plan, checks, seconds), indent=2)


def as_text(target: str, plan: Plan | None, checks: list[Check], seconds: Mapping[str, float]) -> str:
    """A human reading: the changed services with their fields, object changes, the checks, the times."""
    lines: list[str] = []
    if plan is not None:
        counts = {a: sum(1 for s in plan.services if s.action == a) for a in ACTIONS}
        touched = ", ".join(f"{n} {a}" for a, n in counts.items() if n and a != "unchanged")
        head = "nothing to change" if plan.empty else f"{len(plan.changed)} service(s) to change ({touched or 'none'})"
        lines.append(f"plan for {target}: {head}; {counts['unchanged']} unchanged")
        width = max((len(s.name) for s in plan.changed), default=0)
        for service in plan.changed:
            first = service.changes[0].detail if service.changes else ""
            lines.append(f"  {_MARK[service.action]} {service.name:<{width}}  {service.action:<15}  {first}")
            lines.extend(f"  {'':<{width + 2}}  {'':<15}  {c.detail}" for c in service.changes[1:])
        for kind, states in (("configs", plan.configs), ("secrets", plan.secrets), ("networks", plan.networks)):
            notable = {n: s for n, s in states.items() if s not in ("unchanged", "present", "unused")}
            unused = sum(1 for s in states.values() if s == "unused")
            if notable or unused:
                lines.append(f"{kind}:")
                lines.extend(f"  {state:<9} {name}" for name, state in notable.items())
                if unused:
                    lines.append(f"  {unused} unused (no service of the tree mounts them; removable after a deploy)")
    else:
        lines.append(f"pre-flight of the rendered tree ({target}): no live state read")
    lines.append("pre-flight:")
    width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        lines.append(f"  {check.verdict:<4}  {check.name:<{width}}  {check.message}")
        if check.verdict != "pass":
            lines.extend(f"        {d}" for d in check.details)
    lines.append("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    return "\n".join(lines)
