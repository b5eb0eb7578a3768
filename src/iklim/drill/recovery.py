"""Recovery time of one fault, from the history alone, split by what the driver observed.

Definitions (seconds, monotonic clock):

- ``fault_at``: when the fault was applied (the SIGKILL returned).
- ``last_bad``: the latest completion of a ``fail`` / ``info`` write within the window
  ``[fault_at, until)``; ``fault_at`` itself when no write failed (a cluster may only stall).
- ``recovered_at``: the first ``ok`` completion after ``last_bad`` of a write invoked after the
  fault (a write invoked before it and returning just after was not served by the new leader).
- ``recovery = recovered_at - fault_at``: the client-observed unavailability, the issue's "fault
  to the first acknowledged write after the last failed one". None when nothing recovered
  within the window.
- From the driver's cluster-API observations: ``detection`` (fault -> the cluster stops naming the
  old leader), ``election`` (fault -> a new leader is named), ``client`` (election -> recovered:
  the clients' reconnect). Each is None when not observed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iklim.drill.history import Op, pair


@dataclass(frozen=True)
class Recovery:
    fault_at: float
    last_bad: float | None
    recovered_at: float | None
    failed_during: int
    detected_at: float | None = None
    elected_at: float | None = None

    @property
    def recovery(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.fault_at

    @property
    def detection(self) -> float | None:
        return None if self.detected_at is None else self.detected_at - self.fault_at

    @property
    def election(self) -> float | None:
        return None if self.elected_at is None else self.elected_at - self.fault_at

    @property
    def client(self) -> float | None:
        if self.recovered_at is None or self.elected_at is None:
            return None
        return max(0.0, self.recovered_at - self.elected_at)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of ``iklim.drill/v1`` ``runs[].recovery`` (seconds, 3 decimals, or null)."""

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "recovery_s": r(self.recovery),
            "detection_s": r(self.detection),
            "election_s": r(self.election),
            "client_s": r(self.client),
            "failed_during": self.failed_during,
        }


def recovery_of(
    history: Iterable[Op],
    fault_at: float,
    until: float,
    detected_at: float | None = None,
    elected_at: float | None = None,
) -> Recovery:
    """The :class:`Recovery` of the fault at ``fault_at``, looking at completions before ``until``."""
    ops = pair(history)
    bad = [
        c.completion.time
        for c in ops
        if c.completion is not None and c.kind in ("fail", "info") and fault_at <= c.completion.time < until
    ]
    last_bad = max(bad) if bad else None
    after = last_bad if last_bad is not None else fault_at
    oks = [
        c.completion.time
        for c in ops
        if c.completion is not None
        and c.kind == "ok"
        and c.invoke.time >= fault_at
        and after <= c.completion.time < until
    ]
    return Recovery(fault_at, last_bad, min(oks) if oks else None, len(bad), detected_at, elected_at)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; raises ValueError on no values."""
    if not values:
        raise ValueError("no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside 0..1")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """p50, p95 and max of the known values, and how many runs had none (did not recover)."""
    known = [v for v in values if v is not None]
    if not known:
        return {"p50": None, "p95": None, "max": None, "missing": len(values)}
    return {
        "p50": round(quantile(known, 0.5), 3),
        "p95": round(quantile(known, 0.95), 3),
        "max": round(max(known), 3),
        "missing": len(values) - len(known),
    }
