"""One timeline picture per drill run (SVG or PNG, matplotlib's Agg/SVG canvases, no display).

The picture: writes per ``width`` seconds (100 ms by default) by completion time, stacked
acknowledged (``ok``) / failed (``fail``) / indeterminate (``info``, or never completed: counted at
its invoke), against seconds since the fault; the fault window (applied -> heal began) shaded;
vertical marks at the detection, the election, every change of the leader the cluster named, and
the clients' recovery. Times come from the run's monotonic history (:mod:`iklim.drill.history`)
and :class:`~iklim.drill.recovery.Recovery`.

:func:`bins` and :func:`marks` are pure (tested without a lab); :func:`render` draws them.
matplotlib is imported only by :func:`render` (it is slow to import). Reference: matplotlib's
object-oriented API without pyplot (matplotlib.org/stable/gallery/user_interfaces/web_application_server_sgskip.html).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iklim.drill.history import Op, pair

if TYPE_CHECKING:
    from iklim.drill.runner import RunResult

#: The picture formats :func:`render` writes (by the file's suffix).
FORMATS = ("svg", "png")


@dataclass(frozen=True)
class Bin:
    """Completions in ``[start, start + width)`` seconds since the fault."""

    start: float
    ok: int = 0
    fail: int = 0
    info: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info


def bins(history: Iterable[Op], fault_at: float, width: float = 0.1) -> list[Bin]:
    """The writes of ``history`` per ``width``-second bin, contiguous from the first operation's
    bin to the last's (empty bins included), times relative to ``fault_at`` (monotonic seconds).

    A completed write counts in the bin of its completion under its kind; a write never completed
    counts as ``info`` in the bin of its invoke. Raises ValueError for ``width <= 0`` or a
    completion without an invoke.
    """
    if width <= 0:
        raise ValueError(f"bin width {width} must be > 0")
    counts: dict[int, dict[str, int]] = {}
    for c in pair(history):
        at, kind = (c.done, c.kind) if c.completion is not None else (c.invoke.time, "info")
        assert at is not None and kind is not None
        index = math.floor((at - fault_at) / width + 1e-9)
        slot = counts.setdefault(index, {"ok": 0, "fail": 0, "info": 0})
        slot[kind] += 1
    if not counts:
        return []
    empty = {"ok": 0, "fail": 0, "info": 0}
    return [Bin(round(i * width, 9), **counts.get(i, empty)) for i in range(min(counts), max(counts) + 1)]


def marks(result: RunResult) -> list[tuple[float, str]]:
    """The instants to mark, as (seconds since the fault, label), in time order: detection,
    election, each change of the named leader (``leader: <member>`` / ``leader: none``) and the
    recovery (the first acknowledged write after the last failed one)."""
    rec = result.recovery
    found: list[tuple[float, str]] = []
    for seconds, label in ((rec.detection, "detection"), (rec.election, "election"), (rec.recovery, "recovered")):
        if seconds is not None:
            found.append((seconds, label))
    for seconds, who in result.leaders[1:]:
        found.append((seconds, f"leader: {who or 'none'}"))
    return sorted(found)


def filename(result: RunResult, fmt: str = "svg") -> str:
    """``timeline-<cluster>-<fault>-<run>.<fmt>``: one per run of one ``iklim drill run``."""
    return f"timeline-{result.cluster}-{result.fault}-{result.run}.{fmt}"


_COLOURS = {"ok": "#2ca02c", "fail": "#d62728", "info": "#ff7f0e"}
_STYLES = {"detection": ":", "election": "-.", "recovered": "-"}


def render(result: RunResult, path: Path, width: float = 0.1) -> None:
    """Draw ``result``'s timeline to ``path`` (its suffix: ``.svg`` or ``.png``), atomically.

    SVG text stays text (``svg.fonttype: none``), so the labels can be searched. Raises
    ValueError for another suffix, OSError when the file cannot be written.
    """
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: a timeline is .svg or .png")
    import matplotlib

    matplotlib.use("Agg")  # never a display, whatever MPLBACKEND says
    from matplotlib.figure import Figure

    data = bins(result.history, result.recovery.fault_at, width)
    edges = [b.start for b in data] + ([data[-1].start + width] if data else [])
    acc, rec = result.accounting, result.recovery
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "iklim-drill"}):
        figure = Figure(figsize=(11, 4.2), dpi=100)
        ax = figure.add_subplot()
        if result.heal_s is not None:
            ax.axvspan(0.0, result.heal_s, color="#999999", alpha=0.18, label=f"fault: {result.fault} {result.member}")
        if data:  # stacked: draw the tallest layer first, each lower one over it
            layers = (
                ("info", [b.total for b in data], f"indeterminate ({acc.indeterminate})"),
                ("fail", [b.ok + b.fail for b in data], f"failed ({acc.failed})"),
                ("ok", [b.ok for b in data], f"acknowledged ({acc.acknowledged})"),
            )
            for kind, heights, label in layers:
                ax.stairs(heights, edges, fill=True, color=_COLOURS[kind], label=label)
        top = max((b.total for b in data), default=1)
        found = marks(result)
        span = max([edges[-1] - edges[0]] if edges else [1.0])
        for seconds, label in found:
            ax.axvline(seconds, color="black", linestyle=_STYLES.get(label, "--"), linewidth=0.9)
        for seconds, labels in _grouped(found, span / 80):
            ax.text(seconds, top * 1.03, ", ".join(labels), rotation=90, va="bottom", ha="right", fontsize=7)
        ax.set_ylim(0, top * 1.6)
        ax.set_xlabel("seconds since the fault")
        ax.set_ylabel(f"writes per {width * 1000:.0f} ms (by completion)")
        recovery = "not recovered" if rec.recovery is None else f"recovery {rec.recovery:.2f} s"
        ax.set_title(
            f"{result.cluster} {result.fault} run {result.run} ({result.member} -> {result.new_leader or 'none'}): "
            f"{recovery}, {len(acc.lost)} acknowledged lost",
            fontsize=10,
        )
        ax.legend(loc="upper right", fontsize=7, ncols=2)
        figure.tight_layout()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            figure.savefig(tmp, format=fmt)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


def _grouped(found: list[tuple[float, str]], within: float) -> list[tuple[float, list[str]]]:
    """Marks closer than ``within`` seconds share one label (at the first), so no text overlaps."""
    groups: list[tuple[float, list[str]]] = []
    for seconds, label in found:
        if groups and seconds - groups[-1][0] < within:
            groups[-1][1].append(label)
        else:
            groups.append((seconds, [label]))
    return groups
