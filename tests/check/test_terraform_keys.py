"""Issue 12 review: HCL object keys are their string value; a port that is not one is a warning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from iklim.check.engine import Result
from iklim.check.hcl import load_hcl
from iklim.check.hcl_eval import Scope, Unevaluated, evaluate

Runner = Callable[..., Result]

HEAD = """variable "k" {
  default = "etcd"
}
locals {
  cidrs = { "world" = ["0.0.0.0/0"], office = ["10.0.1.0/24"] }
}
"""


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('{ "2379" = 1 }', {"2379": 1}),
        ("{ world = 1 }", {"world": 1}),
        ("{ 2379 = 1, true = 2 }", {"2379": 1, "true": 2}),
        ('{ (var.k) = 1, "x-${var.k}" = 2 }', {"etcd": 1, "x-etcd": 2}),
        ('{ "a b" : 1 }', {"a b": 1}),
        ('local.cidrs["world"]', ["0.0.0.0/0"]),
        ("local.cidrs.world", ["0.0.0.0/0"]),
        ("keys(local.cidrs)", ["office", "world"]),
        ('lookup({ "pg" = "5432" }, "pg", "")', "5432"),
        ('merge({ "a" = 1 }, { a = 2 })', {"a": 2}),
    ],
)
def test_object_keys_are_their_string(expr: str, value: Any) -> None:
    blocks = load_hcl(HEAD + f"locals {{\n  probe = {expr}\n}}\n", "main.tf")
    assert evaluate(blocks[-1].attrs["probe"], Scope(blocks)) == value


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("{ (var.nothing) = 1 }", "no such variable"),
        ("{ ([1]) = 1 }", "must be a string"),
    ],
)
def test_an_unknown_key_is_unevaluated(expr: str, why: str) -> None:
    blocks = load_hcl(HEAD + f"locals {{\n  probe = {expr}\n}}\n", "main.tf")
    with pytest.raises(Unevaluated) as info:
        evaluate(blocks[-1].attrs["probe"], Scope(blocks))
    assert why in str(info.value)


def fw(body: str, head: str = HEAD, selector: str = "type=db") -> str:
    return (
        f'{head}resource "hcloud_firewall" "db" {{\n  apply_to {{\n    label_selector = "{selector}"\n  }}\n{body}}}\n'
    )


def rule(port: str, sources: str, protocol: str = '"tcp"') -> str:
    return (
        f'  rule {{\n    direction = "in"\n    protocol = {protocol}\n    port = {port}\n'
        f"    source_ips = {sources}\n  }}\n"
    )


def dyn(for_each: str, port: str = "rule.key") -> str:
    return (
        f'  dynamic "rule" {{\n    for_each = {for_each}\n    content {{\n      direction = "in"\n'
        f'      protocol = "tcp"\n      port = {port}\n      source_ips = rule.value\n    }}\n  }}\n'
    )


PORTS = 'variable "ports" {\n  default = { "pg" = "5432" }\n}\n'
ETCD = rule('"2379"', '["10.0.1.0/24"]')
# rules start at line 11 (HEAD is 6 lines, apply_to 4); a second rule's port is on line 20
CASES: list[tuple[str, str, dict[str, list[int]]]] = [
    # the reviewer's reproducers: the world-open DB port is an error, not a KeyError warning
    ("quoted-key-index", fw(ETCD + rule('"5432"', 'local.cidrs["world"]')), {"firewall-host-ports": [21]}),
    ("quoted-key-attr", fw(ETCD + rule('"5432"', "local.cidrs.world")), {"firewall-host-ports": [21]}),
    (
        "quoted-key-var-port",
        fw(ETCD + rule('var.ports["pg"]', "local.cidrs.world"), HEAD + PORTS),
        {"firewall-host-ports": [24], "terraform-unevaluated": []},
    ),
    (
        "dynamic-quoted-key-port",
        fw(dyn('{ "2379" = ["10.0.1.0/24"] }')),
        {"firewall-no-redis": [], "firewall-etcd-client": [], "terraform-unevaluated": []},
    ),
    (
        "dynamic-template-key-port",
        fw(dyn('{ "${2000 + 379}" = ["10.0.1.0/24"] }')),
        {"firewall-no-redis": [], "firewall-etcd-client": [], "terraform-unevaluated": []},
    ),
    (
        "dynamic-quoted-redis-key",
        fw(dyn('{ "6379" = ["10.0.1.0/24"] }') + ETCD, selector="type=service"),
        {"firewall-no-redis": [16]},
    ),
    # a port that is not one: a warning at its line, never widened to 1-65535, never silent
    (
        "dynamic-name-key-port",
        fw(dyn('{ "etcd" = ["10.0.1.0/24"] }') + ETCD),
        {"firewall-no-redis": [], "firewall-host-ports": [], "terraform-unevaluated": [16]},
    ),
    (
        "port-out-of-range",
        fw(ETCD + rule('"70000"', '["0.0.0.0/0"]')),
        {"firewall-no-redis": [], "firewall-host-ports": [], "terraform-unevaluated": [20]},
    ),
    (
        "port-reversed-range",
        fw(ETCD + rule('"7000-6000"', '["0.0.0.0/0"]')),
        {"firewall-no-redis": [], "terraform-unevaluated": [20]},
    ),
    (
        "port-not-a-number",
        fw(ETCD + rule("true", '["0.0.0.0/0"]')),
        {"firewall-no-redis": [], "terraform-unevaluated": [20]},
    ),
    # the only rule's port unknown: the missing etcd rule is not claimed, the warning says why
    (
        "only-rule-unparseable",
        fw(rule('"2379x"', '["10.0.1.0/24"]')),
        {"firewall-etcd-client": [], "terraform-unevaluated": [14]},
    ),
    # a template of one interpolation is that value (a list stays a list, never its characters)
    ("template-list", fw(ETCD + rule('"5432"', '"${local.cidrs.world}"')), {"firewall-host-ports": [21]}),
    (
        "source-string-not-list",
        fw(ETCD + rule('"5432"', '"0.0.0.0/0"')),
        {"firewall-host-ports": [], "terraform-unevaluated": [21]},
    ),
    # what stays as before: ranges, "any", numbers, icmp without a port
    ("range-still-redis", fw(ETCD + rule('"6000-7000"', '["10.0.0.0/8"]')), {"firewall-no-redis": [20]}),
    ("any-still-redis", fw(ETCD + rule('"any"', '["10.0.0.0/8"]')), {"firewall-no-redis": [20]}),
    ("number-port", fw(rule("2379", '["10.0.1.0/24"]')), {"firewall-etcd-client": [], "terraform-unevaluated": []}),
    (
        "icmp-no-port",
        fw(ETCD + rule("null", '["0.0.0.0/0"]', '"icmp"')),
        {"firewall-no-redis": [], "terraform-unevaluated": []},
    ),
]


def hits(result: Result, rule_id: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule_id)


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_keys_and_ports(check_files: Runner, name: str, text: str, expected: dict[str, list[int]]) -> None:
    result = check_files({"fw.tf": text})
    assert not result.problems, result.problems
    for rule_id, lines in expected.items():
        assert hits(result, rule_id) == lines, (rule_id, result.findings)


def test_unparseable_port_is_said_with_its_value(check_files: Runner) -> None:
    result = check_files({"fw.tf": fw(dyn('{ "etcd" = ["10.0.1.0/24"] }') + ETCD)})
    (warning,) = [f for f in result.findings if f.rule == "terraform-unevaluated"]
    assert "rule.key" in warning.message and "'etcd'" in warning.message and warning.column == 14
