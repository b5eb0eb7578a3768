"""The drill workloads running on every available cluster during a deploy (``--measure``).

The same client path as ``iklim drill run``: each cluster's seam builds its workload
(:meth:`iklim.drill.labseams.Seam.workload`), :class:`~iklim.drill.workloads.base.Writers` write
unique values at ``rate`` Hz in total (4 threads) into a :class:`~iklim.drill.history.History`,
and after the deploy one final read is accounted Jepsen-style
(:func:`iklim.drill.accounting.account`: acknowledged, lost, ...).

The write outage of a cluster (seconds) is the longest interval without an acknowledged write
during its roll ``[start, end]``: the gaps between consecutive ``ok`` completions, bounded by the
last ``ok`` before ``start`` and the first after ``end``. It covers both failed writes and writes
held (Redis ``CLIENT PAUSE``) until they were acknowledged; with writes every ``4 / rate`` s per
thread it over-counts by at most one period (20 ms at 50 Hz). Like the drill's recovery time
(:mod:`iklim.drill.recovery`: fault to the first ``ok`` after the last failure) it is what the
clients saw, not what the cluster reported.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from iklim.deploy.report import Measured
from iklim.drill.accounting import account
from iklim.drill.history import History, Op
from iklim.drill.labseams import Seam
from iklim.drill.workloads.base import Workload, Writers

#: Writes per second per cluster and writer threads (the drill's defaults).
RATE_HZ = 50.0
WORKERS = 4
#: Seconds the writers run before the deploy starts and after it ends.
MARGIN_S = 2.0


def outage(ops: Iterable[Op], start: float, end: float) -> float | None:
    """The longest interval without an ``ok`` write completion that overlaps ``[start, end]``
    (monotonic seconds); None when no write was ever acknowledged."""
    oks = sorted(op.time for op in ops if op.kind == "ok" and op.f == "write")
    if not oks:
        return None
    lo = bisect.bisect_left(oks, start)
    hi = bisect.bisect_right(oks, end)
    points = oks[max(lo - 1, 0) : hi + 1]
    if lo == 0:
        points = [start, *points]
    if hi == len(oks):
        points = [*points, end]
    return max((b - a for a, b in zip(points, points[1:], strict=False)), default=0.0)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


@dataclass
class _Run:
    workload: Workload
    history: History
    writers: Writers


class Measurement:
    """Workloads on the clusters of ``seams`` (every one whose workload sets up; the others get a note)."""

    def __init__(
        self,
        seams: Mapping[str, Seam],
        progress: Callable[[str], None],
        rate: float = RATE_HZ,
        workers: int = WORKERS,
    ) -> None:
        self.seams, self.progress, self.rate, self.workers = seams, progress, rate, workers
        self.runs: dict[str, _Run] = {}
        self.notes: dict[str, str] = {}
        self.windows: dict[str, tuple[float, float]] = {}

    def start(self, clusters: Sequence[str] | None = None) -> None:
        """Set up and start the writers of ``clusters`` (default: every seam); then wait
        :data:`MARGIN_S` so the deploy begins under load."""
        for cluster in clusters or list(self.seams):
            seam = self.seams.get(cluster)
            if seam is None:
                self.notes[cluster] = "no seam (no workload) on this target"
                continue
            run_id = f"deploy-{cluster}-{uuid.uuid4().hex[:8]}"
            try:
                workload = seam.workload(run_id)
                workload.setup()
            except Exception as exc:  # noqa: BLE001 - a cluster without a workload is reported, not fatal
                self.notes[cluster] = f"workload set-up failed: {_line(exc)}"
                continue
            history = History()
            writers = Writers(workload, history, run_id, self.rate, self.workers)
            writers.start()
            self.runs[cluster] = _Run(workload, history, writers)
            self.progress(f"measure: {cluster}: {self.rate:.0f} writes/s ({workload.name or cluster})")
        if self.runs:
            time.sleep(MARGIN_S)

    def window(self, cluster: str, start: float, end: float) -> None:
        """The cluster's roll ran from ``start`` to ``end`` (monotonic seconds)."""
        self.windows[cluster] = (start, end)

    def stop(self, began: float, ended: float) -> dict[str, Measured]:
        """Stop every writer, read back, account; per cluster its :class:`Measured` (the outage
        over its roll window, else over the whole deploy ``[began, ended]``)."""
        time.sleep(MARGIN_S if self.runs else 0)
        for run in self.runs.values():
            run.writers.stop()
        found: dict[str, Measured] = {c: Measured(note=n) for c, n in self.notes.items()}
        for cluster, run in self.runs.items():
            ops = run.history.ops()
            try:
                accounting = account(ops, run.workload.final_read())
            except Exception as exc:  # noqa: BLE001 - say why the figures are missing
                found[cluster] = Measured(note=f"final read failed: {_line(exc)}")
                continue
            start, end = self.windows.get(cluster, (began, ended))
            found[cluster] = Measured(
                outage_s=outage(ops, start, end),
                acknowledged=accounting.acknowledged,
                lost=len(accounting.lost),
                attempted=accounting.attempted,
                failed=accounting.failed,
                indeterminate=accounting.indeterminate,
            )
        return found
