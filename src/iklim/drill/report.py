"""Drill reports: a text table and JSON (schema ``iklim.drill/v1``), written atomically to ``--out``.

``iklim.drill/v1``::

    {
      "schema": "iklim.drill/v1",
      "target": "lab",
      "ok": true,                       # every run passed: recovered and lost nothing acknowledged
                                        # (an --unsafe-config run: recovered and lost > 0, as expected)
      "unsafe_config": false,           # true when any run used --unsafe-config
      "summary": [{"cluster", "fault", "runs",
                   "recovery_s": {"p50", "p95", "max", "missing"},   # seconds; missing = not recovered
                   "detection_s": {...}, "election_s": {...}, "client_s": {...},
                   "attempted", "acknowledged", "lost", "recovered", "unexpected", "duplicated",
                   "unsafe_config", "leader_changed" (runs of the measured cluster whose leader changed),
                   "passed"}],
      "runs": [RunResult.as_dict()]     # see iklim.drill.runner
    }

Seconds are client-observed, monotonic, rounded to milliseconds; ``null`` means not observed.
``--out DIR`` also gets ``history-<run_id>.jsonl``: one operation per line (``Op.as_dict``), and
``timeline-<cluster>-<fault>-<run>.svg`` (or ``.png``): the run's picture (:mod:`iklim.drill.timeline`).
``runs[].heal_s``: seconds from the fault to the start of its heal (the fault window's end).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iklim.drill.recovery import summary
from iklim.drill.runner import RunResult

SCHEMA = "iklim.drill/v1"


def document(target: str, results: Sequence[RunResult]) -> dict[str, Any]:
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.cluster, r.fault), []).append(r)
    rows = []
    for (cluster, fault), runs in groups.items():
        rows.append(
            {
                "cluster": cluster,
                "fault": fault,
                "runs": len(runs),
                "recovery_s": summary([r.recovery.recovery for r in runs]),
                "detection_s": summary([r.recovery.detection for r in runs]),
                "election_s": summary([r.recovery.election for r in runs]),
                "client_s": summary([r.recovery.client for r in runs]),
                "attempted": sum(r.accounting.attempted for r in runs),
                "acknowledged": sum(r.accounting.acknowledged for r in runs),
                "lost": sum(len(r.accounting.lost) for r in runs),
                "recovered": sum(len(r.accounting.recovered) for r in runs),
                "unexpected": sum(len(r.accounting.unexpected) for r in runs),
                "duplicated": sum(len(r.accounting.duplicated) for r in runs),
                "unsafe_config": any(r.unsafe for r in runs),
                "leader_changed": sum(1 for r in runs if r.leader_changed),
                "passed": all(r.passed for r in runs),
            }
        )
    return {
        "schema": SCHEMA,
        "target": target,
        "ok": bool(results) and all(r.passed for r in results),
        "unsafe_config": any(r.unsafe for r in results),
        "summary": rows,
        "runs": [r.as_dict() for r in results],
    }


def _s(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _verdict(item: dict[str, Any]) -> str:
    """ok / FAIL; an unsafe run: "loss caught (unsafe)" or "FAIL (unsafe: no loss)"."""
    if item.get("unsafe_config"):
        return "loss caught (unsafe)" if item["passed"] else "FAIL (unsafe)"
    return "ok" if item["passed"] else "FAIL"


def _changed(row: dict[str, Any]) -> str:
    """For etcd-leader: how many runs saw the measured cluster's leader change (demote)."""
    if row["fault"] != "etcd-leader" or row["cluster"] == "etcd":
        return ""
    return f", leader changed in {row['leader_changed']} of {row['runs']} runs"


def text(doc: dict[str, Any]) -> str:
    """A fixed-width table: one line per run, then one per cluster x fault with p50/p95/max."""
    lines = []
    if doc.get("unsafe_config"):
        lines.append(
            "UNSAFE CONFIGURATION (--unsafe-config): acknowledged writes are expected to be lost; a run passes "
            "when the checker reports loss > 0"
        )
    lines += [
        f"{'cluster':<8} {'fault':<6} {'run':>3} {'member':<10} {'new leader':<10} {'recov s':>7} "
        f"{'detect':>6} {'elect':>6} {'client':>6} {'writes':>6} {'acked':>6} {'lost':>4} {'recov':>5} "
        f"{'Hz':>5}  verdict"
    ]
    for run in doc["runs"]:
        acc, rec = run["accounting"], run["recovery"]
        lines.append(
            f"{run['cluster']:<8} {run['fault']:<6} {run['run']:>3} {run['member']:<10} "
            f"{_s(run['new_leader']):<10} {_s(rec['recovery_s']):>7} {_s(rec['detection_s']):>6} "
            f"{_s(rec['election_s']):>6} {_s(rec['client_s']):>6} {acc['attempted']:>6} {acc['acknowledged']:>6} "
            f"{acc['lost']:>4} {acc['recovered']:>5} {run['rate_hz']:>5.0f}  {_verdict(run)}"
        )
    lines.append("")
    for row in doc["summary"]:
        rec = row["recovery_s"]
        lines.append(
            f"{row['cluster']} {row['fault']} x{row['runs']}: recovery p50 {_s(rec['p50'])} s, "
            f"p95 {_s(rec['p95'])} s, max {_s(rec['max'])} s; {row['acknowledged']} acknowledged, "
            f"{row['lost']} lost, {row['recovered']} recovered, {row['unexpected']} unexpected, "
            f"{row['duplicated']} duplicated{_changed(row)}: {_verdict(row)}"
        )
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, body: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(body)
    tmp.replace(path)


def write_out(out: Path, doc: dict[str, Any], results: Sequence[RunResult], picture: str | None = "svg") -> None:
    """``report.json``, ``.txt``, ``.md``, ``junit.xml``, one ``history-<run_id>.jsonl`` per run and,
    unless ``picture`` is None, one timeline per run (``timeline-<cluster>-<fault>-<run>.svg``/``.png``,
    :mod:`iklim.drill.timeline`)."""
    from iklim.drill.formats import junit, markdown

    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "report.md", markdown(doc))
    write_atomic(out / "junit.xml", junit(doc))
    for r in results:
        write_atomic(out / f"history-{r.run_id}.jsonl", "".join(json.dumps(o.as_dict()) + "\n" for o in r.history))
    if picture is not None:
        from iklim.drill.timeline import filename, render

        for r in results:
            render(r, out / filename(r, picture))
    write_atomic(out / "report.txt", text(doc))
    write_atomic(out / "report.json", json.dumps(doc, indent=2) + "\n")
