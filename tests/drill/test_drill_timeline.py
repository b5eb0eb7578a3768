"""The timeline picture: binning on a synthetic history, and real SVG / PNG files drawn from a run
whose history is known (no lab: a synthetic :class:`RunResult`)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from iklim.drill.accounting import account
from iklim.drill.history import History, Op
from iklim.drill.recovery import recovery_of
from iklim.drill.report import document, write_out
from iklim.drill.runner import RunResult
from iklim.drill.timeline import Bin, bins, filename, marks, render

FAULT_AT = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _history() -> tuple[Op, ...]:
    """Writes every 50 ms from t=-0.5 s to t=+1.5 s around a fault at 100 s: ok before 0.2 s,
    failed in [0.2, 0.6), indeterminate in [0.6, 0.8), ok again after; one write never completes."""
    clock = Clock()
    history = History(clock)
    for i in range(40):
        t = FAULT_AT - 0.5 + i * 0.05
        clock.now = t
        op = history.invoke(0, "write", f"v{i}")
        clock.now = t + 0.01
        kind = "fail" if 14 <= i < 22 else "info" if 22 <= i < 26 else "ok"  # by index: no float edges
        history.complete(op, kind)  # type: ignore[arg-type]
    clock.now = FAULT_AT + 1.55
    history.invoke(0, "write", "pending")
    return history.ops()


def test_bins_count_each_completion_once_in_its_bin() -> None:
    data = bins(_history(), FAULT_AT, 0.1)
    assert data[0].start == pytest.approx(-0.5) and data[-1].start == pytest.approx(1.5)
    assert [b.start for b in data] == pytest.approx([-0.5 + 0.1 * i for i in range(21)]), "contiguous"
    assert sum(b.total for b in data) == 41, "40 completions and 1 never completed"
    by_start = {round(b.start, 1): b for b in data}
    assert by_start[0.0] == Bin(0.0, ok=2)
    assert by_start[0.3] == Bin(0.3, fail=2)
    assert by_start[0.7] == Bin(0.7, info=2)
    assert by_start[1.5] == Bin(1.5, ok=0, info=1), "the pending write counts at its invoke"
    assert sum(b.fail for b in data) == 8 and sum(b.info for b in data) == 5


def test_bins_refuse_a_bad_width_and_an_empty_history_has_none() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        bins(_history(), FAULT_AT, 0)
    assert bins((), FAULT_AT) == []


def _result(history: tuple[Op, ...]) -> RunResult:
    recovery = recovery_of(history, FAULT_AT, FAULT_AT + 10, detected_at=FAULT_AT + 0.25, elected_at=FAULT_AT + 0.7)
    return RunResult(
        "vault",
        "kill",
        2,
        "vault-abc123",
        "vault-1",
        "vault-3",
        account(history, [f"v{i}" for i in range(40) if i < 14 or i >= 26]),
        recovery,
        20.0,
        2.0,
        ((0.0, "vault-1"), (0.3, None), (0.72, "vault-3")),
        history,
        heal_s=1.2,
    )


def test_marks_name_detection_election_leader_changes_and_recovery() -> None:
    found = marks(_result(_history()))
    labels = [label for _, label in found]
    assert labels == ["detection", "leader: none", "election", "leader: vault-3", "recovered"]
    assert [t for t, _ in found] == sorted(t for t, _ in found)
    assert dict((label, t) for t, label in found)["recovered"] == pytest.approx(0.81)


def test_the_svg_is_valid_and_shows_the_run(tmp_path: Path) -> None:
    result = _result(_history())
    path = tmp_path / filename(result)
    assert path.name == "timeline-vault-kill-2.svg"
    render(result, path)
    body = path.read_text()
    root = ET.fromstring(body)  # well-formed XML
    assert root.tag.endswith("svg")
    for words in ("leader: vault-3", "leader: none", "detection", "election", "recovered", "fault: kill vault-1"):
        assert words in body, words
    assert "vault kill run 2 (vault-1 -&gt; vault-3): recovery 0.81 s, 0 acknowledged lost" in body
    assert "failed (8)" in body and "indeterminate (5)" in body, "the legend counts the history"
    assert not list(tmp_path.glob(".*tmp")), "written atomically, nothing left behind"


def test_a_png_is_a_png_and_another_suffix_is_refused(tmp_path: Path) -> None:
    result = _result(_history())
    render(result, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="svg or .png"):
        render(result, tmp_path / "t.pdf")


def test_report_files_include_one_timeline_per_run(tmp_path: Path) -> None:
    result = _result(_history())
    write_out(tmp_path, document("lab", [result]), [result])
    assert (tmp_path / "timeline-vault-kill-2.svg").is_file()
    write_out(tmp_path / "none", document("lab", [result]), [result], picture=None)
    assert not list((tmp_path / "none").glob("timeline-*"))
