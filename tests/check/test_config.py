"""``.iklim-check.yaml``: found upward, rules disabled, severities changed, options set, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.config import CONFIG_FILE, find_config
from iklim.cli import cli

STACK = (
    "services:\n  redis-1:\n    image: redis\n    environment: {MY_TOKEN: abc}\n"
    "    deploy: {placement: {constraints: [node.labels.type == service]}}\n"
)


def check(*args: str) -> tuple[int, dict[str, int], list[tuple[str, str]], str]:
    """(exit code, summary, [(rule, severity)], stderr) of ``iklim check --format json``."""
    result = CliRunner().invoke(cli, ["check", "--format", "json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if not result.stdout:
        return result.exit_code, {}, [], result.stderr
    data = json.loads(result.stdout)
    found = [(f["rule"], f["severity"]) for f in data["findings"]]
    return result.exit_code, data["summary"], found, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A repository (``.git``) with the stack two folders down."""
    (tmp_path / ".git").mkdir()
    stack = tmp_path / "deploy" / "swarm" / "stack.yml"
    stack.parent.mkdir(parents=True)
    stack.write_text(STACK)
    return tmp_path


def test_found_upward_from_the_checked_file(tree: Path) -> None:
    stack = tree / "deploy" / "swarm" / "stack.yml"
    assert find_config([str(stack)]) is None
    (tree / CONFIG_FILE).write_text("rules:\n  healthcheck: disable\n")
    assert find_config([str(stack)]) == str(tree / CONFIG_FILE)
    assert find_config([str(stack.parent)]) == str(tree / CONFIG_FILE)
    nearer = tree / "deploy" / CONFIG_FILE
    nearer.write_text("rules: {}\n")
    assert find_config([str(stack)]) == str(nearer)


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text("rules:\n  healthcheck: disable\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "stack.yml").write_text(STACK)
    assert find_config([str(repo / "stack.yml")]) is None
    (repo / ".git").rmdir()
    (repo / ".git").write_text("gitdir: /elsewhere\n")  # a worktree's .git is a file
    assert find_config([str(repo / "stack.yml")]) is None


def test_disable(tree: Path) -> None:
    stack = str(tree / "deploy" / "swarm" / "stack.yml")
    _, _, before, _ = check(stack)
    assert ("healthcheck", "warning") in before and ("literal-secret", "error") in before
    (tree / CONFIG_FILE).write_text("rules:\n  healthcheck: disable\n  literal-secret: {enabled: false}\n")
    code, _, after, _ = check(stack)
    assert {r for r, _ in after}.isdisjoint({"healthcheck", "literal-secret"})
    assert ("image-pinned", "warning") in after and code == 0
    (tree / CONFIG_FILE).write_text("rules:\n  healthcheck: enable\n")
    assert ("healthcheck", "warning") in check(stack)[2]


def test_severity_change(tree: Path) -> None:
    stack = str(tree / "deploy" / "swarm" / "stack.yml")
    (tree / CONFIG_FILE).write_text(
        "rules:\n  image-pinned: {severity: error}\n  literal-secret: {severity: warning}\n"
    )
    code, summary, found, _ = check(stack)
    assert ("image-pinned", "error") in found and ("literal-secret", "warning") in found
    assert ("image-pinned", "warning") not in found and ("literal-secret", "error") not in found
    assert summary["errors"] == 1 and code == 1
    (tree / CONFIG_FILE).write_text("rules:\n  image-pinned: {severity: warning}\n  literal-secret: disable\n")
    code, summary, _, _ = check(stack)
    assert (code, summary["errors"]) == (0, 0)


def test_severity_reaches_sarif(tree: Path) -> None:
    (tree / CONFIG_FILE).write_text("rules:\n  image-pinned: {severity: error}\n  spread: disable\n")
    result = CliRunner().invoke(cli, ["check", "--format", "sarif", str(tree / "deploy" / "swarm" / "stack.yml")])
    run = json.loads(result.stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["image-pinned"]["defaultConfiguration"]["level"] == "error" and "spread" not in rules
    assert any(r["ruleId"] == "image-pinned" and r["level"] == "error" for r in run["results"])


def test_option_set(tree: Path) -> None:
    stack = str(tree / "deploy" / "swarm" / "stack.yml")
    (tree / CONFIG_FILE).write_text("rules:\n  literal-secret:\n    not_secrets: [MY_TOKEN]\n")
    assert "literal-secret" not in {r for r, _ in check(stack)[2]}
    (tree / CONFIG_FILE).write_text("rules:\n  stateful-update:\n    stateful: [etcd]\n")
    assert "stateful-update" not in {r for r, _ in check(stack)[2]}
    (tree / CONFIG_FILE).write_text("rules:\n  stateful-update: {stateful: []}\n  literal-secret: {secret_words: []}\n")
    assert {"stateful-update", "literal-secret"}.isdisjoint(r for r, _ in check(stack)[2])


def test_explicit_config_and_policy_section(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = tree / "deploy" / "swarm" / "stack.yml"
    stack.write_text("services:\n  apisix:\n    image: apache/apisix:3.11.0-debian\n    deploy: {replicas: 2}\n")
    elsewhere = tmp_path_factory.mktemp("ci") / "check.yaml"
    elsewhere.write_text("policy:\n  members: {apisix: 2}\n")

    def counted(*args: str) -> int:
        return sum(r == "replica-count" for r, _ in check(str(stack), *args)[2])

    assert counted() == 1 and counted("--config", str(elsewhere)) == 0
    (tree / CONFIG_FILE).write_text("policy:\n  members: {apisix: 2}\n")
    assert counted() == 0
    policy = tree / "policy.yml"
    policy.write_text("members: {apisix: 3}\n")
    assert counted("--policy", str(policy)) == 1, "--policy applies after the config's policy:"


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("rules:\n  no-such-rule: disable\n", "2:3", "unknown rule 'no-such-rule'"),
        ("rules:\n  healthcheck: off\n", "2:16", "expected 'enable', 'disable' or a mapping"),
        ("rules:\n  literal-secret:\n    not_secret: [A]\n", "3:5", "has no option 'not_secret'"),
        ("rules:\n  literal-secret:\n    not_secrets: A\n", "3:18", "'not_secrets' must be a list of strings"),
        ("rules:\n  literal-secret:\n    not_secrets: [A, 1]\n", "3:18", "must be a list of strings"),
        ("rules:\n  rabbitmq-mgmt-ip: {management_port: 15673}\n", "2:39", "'management_port' must be a string"),
        ("rules:\n  spread: {severity: fatal}\n", "2:22", "'severity' must be 'error' or 'warning'"),
        ("rules:\n  spread: {enabled: 'no'}\n", "2:21", "'enabled' must be a boolean"),
        ("rules: [healthcheck]\n", "1:8", "'rules' must map rule IDs"),
        ("rulez:\n  healthcheck: disable\n", "1:1", "unknown section 'rulez'"),
        ("- rules\n", "1:1", "must be a mapping"),
        ("policy:\n  memberz: 1\n", "2:3", "unknown policy parameter 'memberz'"),
        ("policy:\n  etcd_client_port: 70000\n", "2:21", "must be a port number"),
        ("policy: [a]\n", "1:9", "'policy' must be a mapping"),
        ("rules:\n  spread: disable\n  spread: enable\n", "3:", "already defined"),
        ("rules: {\n", "2:", ""),
    ],
)
def test_validation_errors(tree: Path, text: str, where: str, words: str) -> None:
    (tree / CONFIG_FILE).write_text(text)
    code, summary, found, err = check(str(tree / "deploy" / "swarm" / "stack.yml"))
    assert code == 2 and (summary, found) == ({}, []), "nothing is checked under an invalid config"
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{CONFIG_FILE}:{where}" in err and words in err


def test_explicit_config_errors_name_that_file(tree: Path) -> None:
    other = tree / "ci.yaml"
    other.write_text("rules:\n  spread: {severity: fatal}\n")
    code, _, _, err = check(str(tree / "deploy" / "swarm" / "stack.yml"), "--config", str(other))
    assert code == 2 and "ci.yaml:2:22:" in err
    code, _, _, err = check(str(tree), "--config", str(tree / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err


def test_explain_lists_options_with_types() -> None:
    result = CliRunner().invoke(cli, ["explain", "literal-secret"])
    assert "not_secrets: [INITIAL_CLUSTER_TOKEN, " in result.stdout and "(a list of strings)" in result.stdout
    assert ".iklim-check.yaml" in result.stdout
