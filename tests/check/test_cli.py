"""The commands, through click's runner and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.rules import RULES
from iklim.cli import cli

REPO = Path(__file__).resolve().parents[2]

BAD = (
    "services:\n  redis-1:\n    image: redis:7.4.2\n    ports:\n      - 6379:6379\n"
    "    deploy: {placement: {constraints: [node.labels.type == service]}}\n"
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yml"
    path.write_text(BAD)
    return path


def test_rendered_tree_checks_clean() -> None:
    assert (REPO / "docker-stack-infra_db-prod.yml").is_file(), "render the tree first"
    code, out, _ = invoke("check", str(REPO), "--format", "json")
    data = json.loads(out)
    assert data["findings"] == [], "the rendered tree must check clean: no errors, no warnings"
    assert code == 0


def test_text_output_and_exit_1(bad: Path) -> None:
    code, out, _ = invoke("check", str(bad))
    assert code == 1
    assert f"{os.path.relpath(bad)}:5:9: error overlay-only " in out or ":5:9: error overlay-only " in out


def test_json_output(bad: Path) -> None:
    code, out, _ = invoke("check", str(bad), "--format", "json")
    data = json.loads(out)
    finding = next(f for f in data["findings"] if f["rule"] == "overlay-only")
    assert set(finding) == {"rule", "severity", "path", "line", "column", "service", "message"}
    assert (finding["line"], finding["service"], code) == (5, "redis-1", 1)
    assert data["summary"]["errors"] >= 1


def test_sarif_output(bad: Path) -> None:
    code, out, _ = invoke("check", str(bad), "--format", "sarif")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    assert any(r["ruleId"] == "overlay-only" for r in run["results"])
    assert code == 1


def test_sarif_on_unusable_input_still_has_results(tmp_path: Path) -> None:
    broken = tmp_path / "stack.yml"
    broken.write_text("services: [\n")
    code, out, err = invoke("check", str(broken), "--format", "sarif")
    assert code == 2
    run = json.loads(out)["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["unusable-input"]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert len(err.strip().splitlines()) == 1 and "stack.yml:2:" in err


def test_github_output(bad: Path) -> None:
    _, out, _ = invoke("check", str(bad), "--format", "github")
    assert "::error file=" in out and ",line=5,col=9,title=overlay-only::" in out


def test_suppression_needs_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(BAD.replace("6379:6379", "6379:6379  # iklim: ignore[overlay-only] lab debugging"))
    code, out, _ = invoke("check", str(path), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["summary"]["suppressed"] == 1
    assert invoke("check", str(path), "--no-ignore")[0] == 1
    path.write_text(BAD.replace("  redis-1:", "  redis-1:  # iklim: ignore[overlay-only]"))
    code, out, _ = invoke("check", str(path), "--format", "json")
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert code == 1 and {"overlay-only", "suppression-reason"} <= rules


def test_service_key_suppression(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(BAD.replace("  redis-1:", "  redis-1:  # iklim: ignore[overlay-only] lab"))
    assert invoke("check", str(path))[0] == 0


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [("stack.yml", "services:\n  a: [\n", "stack.yml:3:"), ("fw.tf", 'resource "a" {\n  x = = 1\n}\n', "fw.tf:2:")],
)
def test_unusable_input_exit_2(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    code, out, err = invoke("check", str(path))
    assert code == 2 and where in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "error unusable-input" in out and "1 error(s)" in out


def test_missing_path_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("check", str(tmp_path / "nope.yml"))
    assert code == 2 and "nope.yml" in err and "no such file" in err


def test_policy_file_overrides(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text("services:\n  apisix:\n    image: apache/apisix:3\n    deploy: {replicas: 2}\n")
    policy = tmp_path / "policy.yml"
    policy.write_text("members: {apisix: 2}\n")

    def count(*extra: str) -> int:
        out = invoke("check", str(stack), "--format", "json", *extra)[1]
        return sum(f["rule"] == "replica-count" for f in json.loads(out)["findings"])

    assert count() == 1 and count("--policy", str(policy)) == 0
    policy.write_text("memberz: 1\n")
    code, _, err = invoke("check", str(stack), "--policy", str(policy))
    assert code == 2 and "policy.yml:1:" in err


def test_rules_and_explain() -> None:
    code, out, _ = invoke("rules")
    assert code == 0 and all(rule.id in out for rule in RULES)
    for rule in RULES:
        code, out, _ = invoke("explain", rule.id)
        assert code == 0 and "Failing example" in out and "Passing example" in out
    assert invoke("explain", "no-such-rule")[0] == 2


@pytest.mark.parametrize("command", ["check", "rules", "explain"])
def test_help_has_an_example(command: str) -> None:
    code, out, _ = invoke(command, "--help")
    assert code == 0 and "Example" in out and f"iklim {command}" in out


def test_real_process(bad: Path) -> None:
    exe = Path(sys.executable).with_name("iklim")
    proc = subprocess.run([str(exe), "check", str(bad), "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["summary"]["errors"] >= 1
    proc = subprocess.run([str(exe), "check", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
