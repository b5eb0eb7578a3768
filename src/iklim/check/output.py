"""Formats a check result: text, JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from iklim.check.engine import INPUT_RULE, SUPPRESSION_RULE, Result
from iklim.check.findings import Finding, InputError, Severity
from iklim.check.rules.base import Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# C0/C1 controls, bidi and line/paragraph separators, lone surrogates (undecodable file names)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def plain(value: str) -> str:
    """``value`` safe to print on a terminal or a log line: every control, bidi or separator
    character and lone surrogate becomes its Python escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), value)


def summary(result: Result) -> dict[str, int]:
    return {
        "errors": result.count(Severity.ERROR),
        "warnings": result.count(Severity.WARNING),
        "suppressed": len(result.suppressed),
        "files": result.files,
    }


def _service(f: Finding) -> str:
    return f" [{f.service}]" if f.service else ""


def model_choices(result: Result) -> list[str]:
    """One ``info`` line per rule and reason the environment model gave for what it keeps
    (``plaintext-listener``: a cluster the model keeps plaintext), with how many findings it covers."""
    counts: dict[tuple[str, str], int] = {}
    for s in result.suppressed:
        if s.finding.excused:
            key = (s.finding.rule, s.finding.excused)
            counts[key] = counts.get(key, 0) + 1
    return [f"info {rule} {n} finding(s) kept by the model: {why}" for (rule, why), n in counts.items()]


def text(result: Result) -> str:
    lines = [
        plain(f"{f.path}:{f.line}:{f.column}: {f.severity.value} {f.rule} {f.message}{_service(f)}")
        for f in result.findings
    ]
    lines += [plain(line) for line in model_choices(result)]
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
    """A relative URI reference for a path: reserved and non-ASCII bytes percent-encoded."""
    return quote(path.replace("\\", "/").encode("utf-8", "surrogateescape"), safe="/")


def _location(path: str, line: int, column: int) -> dict[str, Any]:
    region = {"startLine": max(line, 1), "startColumn": max(column, 1)}
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(path)}, "region": region}}


def _descriptor(rule: Rule) -> dict[str, Any]:
    """A SARIF reportingDescriptor: the docstring's description as ``fullDescription``, the whole
    docstring as ``help`` (text, and Markdown with each example in a fenced block)."""
    from iklim.check.examples import ExampleError, description, markdown

    doc = rule.doc.strip()
    try:
        help_md = markdown(doc)
    except ExampleError:  # examples not in the documented form: the docstring as it is
        help_md = doc + "\n"
    about = description(doc)
    return {
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": about, "markdown": about},
        "help": {"text": doc, "markdown": help_md},
        "defaultConfiguration": {"level": "error" if rule.severity is Severity.ERROR else "warning"},
    }


def sarif(result: Result | None, rules: tuple[Rule, ...], error: InputError | None = None) -> str:
    descriptors = [_descriptor(r) for r in rules]
    descriptors.append(
        {
            "id": INPUT_RULE,
            "name": INPUT_RULE,
            "shortDescription": {"text": "Input the checker cannot read or parse (exit status 2)."},
            "defaultConfiguration": {"level": "error"},
        }
    )
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
    errors = ([error] if error is not None else []) + list(result.problems if result else ())
    invocation: dict[str, Any] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": e.message}, "locations": [_location(e.path, e.line, e.column)]}
            for e in errors
        ]
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
    """A workflow-command value: printable (see :func:`plain`), then ``%``, CR and LF encoded,
    and for a property ``:`` and ``,`` too, so no input can end the command or start another."""
    value = plain(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(result: Result) -> str:
    lines = []
    for f in result.findings:
        props = f"file={_escape(f.path, True)},line={f.line},col={f.column},title={_escape(f.rule, True)}"
        lines.append(f"::{f.severity.value} {props}::{_escape(f.message + _service(f))}")
    s = summary(result)
    lines.append(f"{s['errors']} error(s), {s['warnings']} warning(s), {s['suppressed']} suppressed")
    return "\n".join(lines) + "\n"
