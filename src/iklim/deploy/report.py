"""What a deploy did (:class:`DeployResult`) and its text and JSON renderings.

JSON shape (``iklim.deploy/v1``)::

    {"schema": "iklim.deploy/v1", "ok": bool, "error": str | null, "seconds": float,
     "applied": [service, ...],            # in the order applied (full Swarm names)
     "rolled_back": [service, ...],        # in the order rolled back (the same order)
     "rollback_errors": [str, ...],
     "clusters": [{"cluster": str, "services": [...], "leader_before": str | null,
                   "leader_after": str | null, "leader_changes": int,
                   "leaders": [{"t_s": float, "leader": str}],   # seconds since the deploy began
                   "handover_s": float | null, "note": str,
                   "measured": null | {"outage_s": float | null, "acknowledged": int, "lost": int,
                                       "attempted": int, "failed": int, "indeterminate": int,
                                       "note": str}}]}

Times are seconds (3 decimals). No secret value appears in a result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "iklim.deploy/v1"


@dataclass
class Measured:
    """The drill workload's figures for one cluster over the deploy (:mod:`iklim.deploy.measure`).

    ``outage_s``: the longest time without an acknowledged write during the cluster's roll
    (None: the workload never wrote successfully); ``note``: why it was not measured ("" if it was).
    """

    outage_s: float | None = None
    acknowledged: int = 0
    lost: int = 0
    attempted: int = 0
    failed: int = 0
    indeterminate: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "outage_s": None if self.outage_s is None else round(self.outage_s, 3),
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "attempted": self.attempted,
            "failed": self.failed,
            "indeterminate": self.indeterminate,
            "note": self.note,
        }


@dataclass
class ClusterResult:
    """One stateful cluster's roll: leaders seen, hand-over time, and the measurement if any."""

    cluster: str
    services: list[str] = field(default_factory=list)
    leader_before: str | None = None
    leader_after: str | None = None
    leaders: list[tuple[float, str]] = field(default_factory=list)
    handover_s: float | None = None
    note: str = ""
    measured: Measured | None = None

    @property
    def leader_changes(self) -> int:
        """How many times the named leader changed (to another member) while the deploy ran."""
        return max(0, len(self.leaders) - 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "services": list(self.services),
            "leader_before": self.leader_before,
            "leader_after": self.leader_after,
            "leader_changes": self.leader_changes,
            "leaders": [{"t_s": round(t, 3), "leader": who} for t, who in self.leaders],
            "handover_s": None if self.handover_s is None else round(self.handover_s, 3),
            "note": self.note,
            "measured": None if self.measured is None else self.measured.as_dict(),
        }


@dataclass
class DeployResult:
    """The outcome of :func:`iklim.deploy.runner.run_deploy`; ``error`` None means it succeeded."""

    applied: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    clusters: list[ClusterResult] = field(default_factory=list)
    error: str | None = None
    rollback_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def cluster(self, name: str) -> ClusterResult | None:
        return next((c for c in self.clusters if c.cluster == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "applied": list(self.applied),
            "rolled_back": list(self.rolled_back),
            "rollback_errors": list(self.rollback_errors),
            "clusters": [c.as_dict() for c in self.clusters],
        }


def render_json(result: DeployResult) -> str:
    """The result as ``iklim.deploy/v1`` JSON (one document, newline-terminated)."""
    return json.dumps(result.as_dict(), indent=2) + "\n"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_text(result: DeployResult) -> str:
    """A short report: the verdict, one line per cluster, then what was applied and rolled back."""
    lines = [
        f"deploy {'done' if result.ok else 'FAILED'} in {result.seconds:.1f} s: {len(result.applied)} applied"
        + (f", {len(result.rolled_back)} rolled back" if result.rolled_back else "")
    ]
    if result.error:
        lines.append(f"error: {result.error}")
    lines.extend(f"rollback error: {e}" for e in result.rollback_errors)
    for c in result.clusters:
        line = (
            f"  {c.cluster:<9} leader {c.leader_before or '?'} -> {c.leader_after or '?'}, "
            f"{c.leader_changes} change(s), hand-over {_s(c.handover_s)} s"
        )
        if c.measured is not None:
            m = c.measured
            line += (
                f"; writes: outage {_s(m.outage_s)} s, {m.acknowledged} acknowledged, {m.lost} lost"
                if not m.note
                else f"; not measured: {m.note}"
            )
        if c.note:
            line += f" ({c.note})"
        lines.append(line)
    if result.applied:
        lines.append("applied: " + ", ".join(result.applied))
    if result.rolled_back:
        lines.append("rolled back: " + ", ".join(result.rolled_back))
    return "\n".join(lines) + "\n"
