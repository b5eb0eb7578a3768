"""Formats a check result: text, JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

from typing import Any

from iklim.check.engine import SUPPRESSION_RULE, Result
from iklim.check.findings import Finding, InputError, Severity
from iklim.check.rules.base import Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def summary(result: Result) -> dict[str, int]:
    return {
        "errors": result.count(Severity.ERROR),
        "warnings": result.count(Severity.WARNING),
        "suppressed": len(result.suppressed),
        "files": result.files,
    }


def _service(f: Finding) -> str:
    return f" [{f.service}]" if f.service else ""


def text(result: Result) -> str:
    lines = [
        f"{f.path}:{f.line}:{f.column}: {f.severity.value} {f.rule} {f.message}{_service(f)}" for f in result.findings
    ]
    s = summary(result)
    lines.append(
        f"{s['errors']} error(s), {s['warnings']} warning(s), {s['suppressed']} suppressed in {s['files']} file(s)"
    )
    return "\n".join(lines) + "\n"


def _as_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "service": f.service,
        "message": f.message,
    }


def as_json(result: Result) -> str:
    import json

    data = {"findings": [_as_dict(f) for f in result.findings], "summary": summary(result)}
    return json.dumps(data, indent=2) + "\n"


def _uri(path: str) -> str:
    return path.replace("\\", "/")


def _location(path: str, line: int, column: int) -> dict[str, Any]:
    region = {"startLine": max(line, 1), "startColumn": max(column, 1)}
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(path)}, "region": region}}


def sarif(result: Result | None, rules: tuple[Rule, ...], error: InputError | None = None) -> str:
    descriptors = [
        {
            "id": r.id,
            "name": r.id,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.doc.strip()},
            "defaultConfiguration": {"level": "error" if r.severity is Severity.ERROR else "warning"},
        }
        for r in rules
    ]
    descriptors.append(
        {
            "id": SUPPRESSION_RULE,
            "name": SUPPRESSION_RULE,
            "shortDescription": {"text": "An inline suppression needs a reason."},
            "defaultConfiguration": {"level": "warning"},
        }
    )
    index = {d["id"]: i for i, d in enumerate(descriptors)}

    def one(f: Finding, reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index.get(f.rule, 0),
            "level": f.severity.value,
            "message": {"text": f.message + _service(f)},
            "locations": [_location(f.path, f.line, f.column)],
        }
        if reason is not None:
            out["suppressions"] = [{"kind": "inSource", "justification": reason}]
        return out

    results = [one(f) for f in result.findings] if result else []
    results += [one(s.finding, s.reason) for s in result.suppressed] if result else []
    invocation: dict[str, Any] = {"executionSuccessful": error is None}
    if error is not None:
        notification: dict[str, Any] = {"level": "error", "message": {"text": error.message}}
        notification["locations"] = [_location(error.path, error.line, 1)]
        invocation["toolExecutionNotifications"] = [notification]
    import json

    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "iklim", "informationUri": "https://iklim.co", "rules": descriptors}},
                "invocations": [invocation],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape(value: str, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(result: Result) -> str:
    lines = []
    for f in result.findings:
        props = f"file={_escape(f.path, True)},line={f.line},col={f.column},title={_escape(f.rule, True)}"
        lines.append(f"::{f.severity.value} {props}::{_escape(f.message + _service(f))}")
    s = summary(result)
    lines.append(f"{s['errors']} error(s), {s['warnings']} warning(s), {s['suppressed']} suppressed")
    return "\n".join(lines) + "\n"
