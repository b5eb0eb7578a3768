"""Runs the rules over loaded documents and applies inline suppressions.

A suppression is a comment ``# iklim: ignore[rule-id, other-id] reason`` (``//`` in terraform)
on the finding's line or on its service key (or terraform block) line. The reason is required:
without one the comment suppresses nothing and is itself reported (``suppression-reason``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from iklim.check.documents import Documents
from iklim.check.findings import Finding, InputError, Severity, Suppressed
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

_IGNORE = re.compile(r"(?:^|\s)(?:#|//)\s*iklim:\s*ignore\[([^\]]*)\]([^\n]*)")
SUPPRESSION_RULE = "suppression-reason"
INPUT_RULE = "unusable-input"


@dataclass(frozen=True)
class Result:
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...]
    files: int
    problems: tuple[InputError, ...] = ()

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


def _ignores(lines: list[str], line: int) -> tuple[set[str], str] | None:
    if not 1 <= line <= len(lines):
        return None
    match = _IGNORE.search(lines[line - 1])
    if match is None:
        return None
    ids = {part.strip() for part in match.group(1).split(",") if part.strip()}
    return ids, match.group(2).strip()


def run(
    docs: Documents,
    policy: Policy,
    rules: Sequence[Rule],
    no_ignore: bool = False,
    severities: Mapping[str, Severity] | None = None,
) -> Result:
    """Run ``rules``, then apply inline suppressions.

    ``severities`` (rule ID -> severity, from the check config) sets every finding of a rule to
    that severity; without it a finding keeps the severity its rule gave it.
    """
    raw: list[Finding] = []
    for rule in rules:
        try:
            results = rule.check(docs, policy)
            wanted = (severities or {}).get(rule.id)
            raw.extend(replace(f, severity=wanted) if wanted and f.rule == rule.id else f for f in results)
        except InputError as exc:  # a rule that parses a file (nginx) found it unusable
            docs.problems.setdefault((exc.path, exc.line, exc.message), exc)
    kept: set[Finding] = set()
    suppressed: list[Suppressed] = []
    split: dict[str, list[str]] = {}
    for finding in sorted(set(raw)):
        if finding.excused:  # the model's explicit choice, with its reason (not an inline comment)
            suppressed.append(Suppressed(finding, f"model: {finding.excused}"))
            continue
        if finding.path not in split:
            split[finding.path] = docs.texts.get(finding.path, "").splitlines()
        lines = split[finding.path]
        verdict = None
        for line in dict.fromkeys((finding.line, finding.scope_line)):
            found = _ignores(lines, line) if line else None
            if found is None or finding.rule not in found[0]:
                continue
            if found[1]:
                verdict = found[1]
                break
            kept.add(
                Finding(
                    finding.path,
                    line,
                    1,
                    SUPPRESSION_RULE,
                    Severity.WARNING,
                    f"add a reason after ignore[{finding.rule}]: a suppression without one is ignored",
                )
            )
        if verdict is not None and not no_ignore:
            suppressed.append(Suppressed(finding, verdict))
        else:
            kept.add(finding)
    problems = tuple(docs.problems.values())
    for error in problems:  # unusable input is an error finding too, never suppressible
        where = (max(error.line, 1), max(error.column, 1))
        kept.add(Finding(error.path, *where, INPUT_RULE, Severity.ERROR, error.message))
    return Result(tuple(sorted(kept)), tuple(suppressed), len(docs.texts), problems)
