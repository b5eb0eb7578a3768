"""Issue 12 review: ``*.tf.json`` (Terraform's JSON syntax) is read like ``*.tf``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from iklim.check.engine import Result

Runner = Callable[..., Result]


def tf(rules: list[dict[str, Any]], dynamic: dict[str, Any] | None = None, selector: str = "type=db") -> str:
    """One firewall (and a local and a variable the rules may use) as indented JSON."""
    body: dict[str, Any] = {"apply_to": [{"label_selector": selector}], "rule": rules}
    if dynamic is not None:
        body["dynamic"] = {"rule": dynamic}
    root = {
        "//": "a comment",
        "locals": {"cidrs": {"world": ["0.0.0.0/0"]}},
        "variable": {"ports": {"default": {"pg": "5432"}}},
        "resource": {"hcloud_firewall": {"db": body}},
    }
    return json.dumps(root, indent=2) + "\n"


def rule(port: Any, sources: Any) -> dict[str, Any]:
    return {"direction": "in", "protocol": "tcp", "port": port, "source_ips": sources}


ETCD = rule("2379", ["10.0.1.0/24"])


def line_of(text: str, needle: str) -> int:
    """The last line holding ``needle``."""
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line][-1]


CASES: list[tuple[str, str, str, dict[str, bool]]] = [
    ("world-open-db-port", tf([ETCD, rule("5432", ["0.0.0.0/0"])]), "0.0.0.0/0", {"firewall-host-ports": True}),
    (
        "templates",
        tf([ETCD, rule('${var.ports["pg"]}', "${local.cidrs.world}")]),
        "${local.cidrs.world}",
        {"firewall-host-ports": True, "terraform-unevaluated": False},
    ),
    ("redis-range", tf([ETCD, rule("6000-7000", ["10.0.0.0/8"])]), "6000-7000", {"firewall-no-redis": True}),
    (
        "dynamic-redis",
        tf([ETCD], {"for_each": {"6379": ["10.0.1.0/24"]}, "content": rule("${rule.key}", "${rule.value}")}),
        "${rule.key}",
        {"firewall-no-redis": True},
    ),
    ("no-etcd-rule", tf([rule("22", ["10.0.1.0/24"])]), '"db": {', {"firewall-etcd-client": True}),
    ("clean", tf([ETCD]), "2379", {"firewall-etcd-client": False, "firewall-host-ports": False}),
    (
        "unknown-var",
        tf([rule("${var.nope}", ["10.0.1.0/24"])]),
        "${var.nope}",
        {"terraform-unevaluated": True, "firewall-etcd-client": False},
    ),
]


@pytest.mark.parametrize(("name", "text", "needle", "expected"), CASES, ids=[c[0] for c in CASES])
def test_tf_json(check_files: Runner, name: str, text: str, needle: str, expected: dict[str, bool]) -> None:
    result = check_files({"fw.tf.json": text})
    assert not result.problems, result.problems
    for rule_id, found in expected.items():
        lines = [f.line for f in result.findings if f.rule == rule_id]
        assert lines == ([line_of(text, needle)] if found else []), (rule_id, result.findings)


def test_tree_walk_reads_tf_json(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from iklim.check.documents import load

    folder = tmp_path / "terraform" / "hetzner" / "prod"
    folder.mkdir(parents=True)
    (folder / "fw.tf.json").write_text(tf([ETCD]))
    (folder / "notes.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    docs = load(["."])
    assert [p for p, _ in docs.terraform] == ["terraform/hetzner/prod/fw.tf.json"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"resource": [', "1:15 invalid JSON"),
        ("[]", "1:0 one JSON object"),
        ('{"resource": "x"}', "1:14 must be an object"),
        ('{"locals": {"a": "${"}}', "1:0 unterminated template"),
        ('{"a": ' * 3000, "1:0 nested too deeply"),
    ],
    ids=["truncated", "array", "resource-string", "bad-template", "deep"],
)
def test_bad_tf_json_is_one_line(check_files: Runner, text: str, where: str) -> None:
    result = check_files({"fw.tf.json": text})
    (problem,) = result.problems
    place, what = where.split(" ", 1)
    assert f"{problem.line}:{problem.column}" == place and what in problem.message, problem


def test_variable_default_is_literal_and_locals_are_expressions() -> None:
    from iklim.check.hcl_eval import Scope, evaluate
    from iklim.check.hcl_json import load_tf_json

    text = '{"variable": {"v": {"default": ["${x}"]}}, "locals": {"l": "${var.v}", "n": "${1 + 1}", "//": 1}}'
    blocks = load_tf_json(text, "f.tf.json")
    scope = Scope(blocks)
    assert evaluate(blocks[1].attrs["l"], scope) == ["${x}"]
    assert evaluate(blocks[1].attrs["n"], scope) == 2 and "//" not in blocks[1].attrs
