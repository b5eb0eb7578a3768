"""What a probe concludes about one component: a status, the reason in words, and its members."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Status = Literal["healthy", "degraded", "down"]
#: Status -> numeric value (the Prometheus gauge) and exit code contribution.
SEVERITY: dict[str, int] = {"healthy": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True)
class MemberState:
    """One member as the probe saw it. ``state`` is a short word (leader, streaming, sealed...)."""

    name: str
    address: str
    state: str
    ok: bool


@dataclass(frozen=True)
class Report:
    """The verdict on one component.

    ``tolerates`` is how many more member failures the component survives while still serving
    (None when redundancy does not apply, e.g. a single Grafana).
    """

    component: str
    status: Status
    reason: str
    leader: str | None = None
    tolerates: int | None = None
    members: tuple[MemberState, ...] = ()
    seconds: float = 0.0

    def with_seconds(self, seconds: float) -> Report:
        return Report(self.component, self.status, self.reason, self.leader, self.tolerates, self.members, seconds)


@dataclass(frozen=True)
class Skipped:
    """A component that was not probed (the lab does not run it here), and why."""

    component: str
    reason: str


def exit_code(reports: Iterable[Report]) -> int:
    """0 when every component is healthy, 1 when any is degraded, 2 when any is down."""
    return max((SEVERITY[r.status] for r in reports), default=0)


def failures_left(healthy: int, total: int) -> int:
    """How many more members a majority-quorum cluster of ``total`` can lose (never negative)."""
    return max(0, healthy - (total // 2 + 1))


def graded(problems: Iterable[str]) -> Status:
    """``degraded`` when there is any problem (the component serves, but has lost something)."""
    return "degraded" if any(problems) else "healthy"
