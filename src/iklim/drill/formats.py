"""More renderings of an ``iklim.drill/v1`` document: Markdown (for a closing note or a wiki) and
JUnit XML (one test case per run, for CI dashboards; a run that lost an acknowledged write or
never recovered is a ``<failure>``). Both read only the document, never the histories."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def _s(value: object) -> str:
    return "-" if value is None else str(value)


def _verdict(row: dict[str, Any]) -> str:
    if row.get("unsafe_config"):
        return "loss caught (**unsafe**)" if row["passed"] else "**FAIL** (unsafe: no loss)"
    return "ok" if row["passed"] else "**FAIL**"


def markdown(doc: dict[str, Any]) -> str:
    """A summary table (p50 / p95 / max recovery, loss counts) and a per-run table."""
    lines = [
        f"## iklim drill: target {doc['target']}",
        "",
        *(
            ["**UNSAFE CONFIGURATION** (`--unsafe-config`): acknowledged writes are expected to be lost.", ""]
            if doc.get("unsafe_config")
            else []
        ),
        "| Cluster | Fault | Runs | Recovery p50 s | p95 s | max s | Election p50 s | Acknowledged | Lost | Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["summary"]:
        rec, ele = row["recovery_s"], row["election_s"]
        lines.append(
            f"| {row['cluster']} | {row['fault']} | {row['runs']} | {_s(rec['p50'])} | {_s(rec['p95'])} | "
            f"{_s(rec['max'])} | {_s(ele['p50'])} | {row['acknowledged']} | {row['lost']} | "
            f"{_verdict(row)} |"
        )
    lines += [
        "",
        "| Cluster | Run | Member | New leader | Recovery s | Detection s | Election s | Client s | Writes | Lost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in doc["runs"]:
        rec, acc = run["recovery"], run["accounting"]
        lines.append(
            f"| {run['cluster']} | {run['run']} | {run['member']} | {_s(run['new_leader'])} | "
            f"{_s(rec['recovery_s'])} | {_s(rec['detection_s'])} | {_s(rec['election_s'])} | "
            f"{_s(rec['client_s'])} | {acc['attempted']} | {acc['lost']} |"
        )
    return "\n".join(lines) + "\n"


def junit(doc: dict[str, Any]) -> str:
    """JUnit XML: a ``<testsuite>`` per cluster x fault, a ``<testcase>`` per run (time = recovery)."""
    suites = ET.Element("testsuites", name=f"iklim drill {doc['target']}")
    for row in doc["summary"]:
        runs = [r for r in doc["runs"] if (r["cluster"], r["fault"]) == (row["cluster"], row["fault"])]
        failed = [r for r in runs if not r["passed"]]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{row['cluster']}.{row['fault']}",
            tests=str(len(runs)),
            failures=str(len(failed)),
        )
        for run in runs:
            rec, acc = run["recovery"], run["accounting"]
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"drill.{run['cluster']}",
                name=f"{run['fault']} run {run['run']} ({run['member']})",
                time=str(rec["recovery_s"] if rec["recovery_s"] is not None else 0),
            )
            if not run["passed"]:
                why = (
                    "never recovered"
                    if rec["recovery_s"] is None
                    else f"{acc['lost']} acknowledged writes lost, {acc['unexpected']} unexpected, "
                    f"{acc['duplicated']} duplicated"
                )
                ET.SubElement(case, "failure", message=why).text = why
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
