"""``iklim explain`` cannot lie: every rule's examples run through ``iklim check``.

Each example is written to its path in an empty folder and checked as a user would check it
(``iklim check PATH`` in that folder): a failing example yields at least one finding of its
rule, a passing example none. SARIF's rule descriptors carry the same docstrings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.examples import DEFAULT_PATH, Example, ExampleError, description, examples, markdown
from iklim.check.rules import RULES
from iklim.cli import cli

CASES = [
    pytest.param(rule.id, example, id=f"{rule.id}-{'passing' if example.passing else 'failing'}-{n}")
    for rule in RULES
    for n, example in enumerate(examples(rule.doc))
]


def findings(example: Example, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    monkeypatch.chdir(folder)
    path = folder / example.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example.text)
    result = CliRunner().invoke(cli, ["check", example.path, "--format", "json"])
    assert result.exit_code in (0, 1), result.stderr or result.exception
    found: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return found


def test_every_rule_has_both_examples() -> None:
    for rule in RULES:
        kinds = {e.passing for e in examples(rule.doc)}
        assert kinds == {True, False}, rule.id


@pytest.mark.parametrize(("rule_id", "example"), CASES)
def test_example_does_what_explain_says(
    rule_id: str, example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = [f["rule"] for f in findings(example, tmp_path, monkeypatch)]
    if example.passing:
        assert rule_id not in rules, f"the passing example of {rule_id} yields {rule_id}"
    else:
        assert rule_id in rules, f"the failing example of {rule_id} yields no {rule_id} finding"


def test_explain_prints_the_examples_that_run() -> None:
    for rule in RULES:
        out = CliRunner().invoke(cli, ["explain", rule.id]).stdout
        for example in examples(rule.doc):
            first = example.text.splitlines()[0]
            assert first in out, (rule.id, first)


@pytest.mark.parametrize(
    "doc",
    [
        "Summary.\n\nFailing example::\n\n    services: {}\n",  # no passing example
        "Summary.\n\nFailing example:\n\n    a\n\nPassing example::\n\n    b\n",  # one colon
        "Summary.\n\nFailing example (a b.yml)::\n\n    a\n\nPassing example::\n\n    b\n",  # not a path
        "Summary.\n\nFailing example::\n\nPassing example::\n\n    b\n",  # empty block
        "Summary.\n\nfailing Example::\n\n    a\n\nPassing example::\n\n    b\n",
    ],
)
def test_malformed_examples_are_refused(doc: str) -> None:
    with pytest.raises(ExampleError):
        examples(doc)


def test_example_form() -> None:
    doc = (
        "Summary line.\n\nBody ``x``.\n\nFailing example (config/a.conf)::\n\n    server {\n\n"
        "        listen 1;\n    }\n\nPassing example::\n\n    services: {}\n"
    )
    failing, passing = examples(doc)
    assert (failing.passing, failing.path, failing.text) == (False, "config/a.conf", "server {\n\n    listen 1;\n}\n")
    assert (passing.passing, passing.path, passing.language) == (True, DEFAULT_PATH, "yaml")
    assert description(doc) == "Summary line.\n\nBody ``x``."
    assert "```nginx\nserver {" in markdown(doc) and "```yaml\nservices: {}\n```" in markdown(doc)


def test_sarif_rules_carry_full_description_and_help(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text("services:\n  redis-1:\n    image: redis\n")
    log = json.loads(CliRunner().invoke(cli, ["check", str(stack), "--format", "sarif"]).stdout)
    described = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    for rule in RULES:
        entry = described[rule.id]
        assert entry["shortDescription"]["text"] == rule.summary
        assert entry["fullDescription"]["text"] == description(rule.doc)
        assert entry["fullDescription"]["text"].startswith(rule.summary)
        assert "Failing example" not in entry["fullDescription"]["text"]
        assert entry["help"]["text"] == rule.doc.strip()
        fences = entry["help"]["markdown"].count("```")
        assert fences == 2 * len(examples(rule.doc)) and "Passing example" in entry["help"]["markdown"]
