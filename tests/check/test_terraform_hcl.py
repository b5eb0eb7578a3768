"""Issue 12, kind 7: HCL as Terraform writes it; firewalls known by what they apply to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hcl2
import pytest

from iklim.check.engine import Result
from iklim.check.hcl import Expr, load_hcl
from iklim.check.hcl_eval import Scope, Unevaluated, evaluate

Runner = Callable[..., Result]

EXPRESSIONS = [
    '[for n in var.nodes : "${n}/32"]',
    "{for k, v in var.m : k => v... if v != null}",
    "var.a ? 1 + 2 * 3 : -4",
    "aws_instance.web[*].id",
    "aws_instance.web.*.tags.Name",
    "provider::terraform::encode_tfvars({ a = 1 })",
    'format("%s-%d", "a", 1)',
    "var.list[0].name",
    '{ (var.k) = 1, "x${1}" = 2, for = 3 }',
    "!true || false && 1 >= 2",
    '[\n  for s in var.subnets :\n  cidrsubnet(s, 8, 1)\n  if s != ""\n]',
    '"%{ for ip in var.ips }${ip},%{ endfor }"',
    'concat(local.a, ["b"])...',
    "(1 + 2) * 3",
    "<<-EOT\n  hello ${var.name}\n  %{ if var.x }yes%{ endif }\nEOT\n",
    "[1, 2, 3][1]",
    'lookup({a = 1}, "a", 0)',
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_every_hcl2_expression_parses(expr: str) -> None:
    text = f"locals {{\n  x = {expr.removesuffix('...') if 'concat' not in expr else 'f(' + expr + ')'}\n}}\n"
    hcl2.loads(text)  # valid HCL2 by a second parser
    blocks = load_hcl(text, "main.tf")
    assert blocks[0].type == "locals" and "x" in blocks[0].attrs


SCOPE_SRC = """
variable "nodes" { default = ["10.0.1.5", "10.0.1.6"] }
variable "nothing" {}
locals {
  rules = [{ port = "2379", from = ["10.0.1.0/24"] }, { port = "5432", from = ["0.0.0.0/0"] }]
  base  = "10.0.0.0/16"
  app   = cidrsubnet(local.base, 8, 1)
  self  = local.self
}
"""


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('[for n in var.nodes : "${n}/32"]', ["10.0.1.5/32", "10.0.1.6/32"]),
        ("local.app", "10.0.1.0/24"),
        ("local.rules[*].port", ["2379", "5432"]),
        ('[for r in local.rules : r.port if r.port != "5432"]', ["2379"]),
        ("{for r in local.rules : r.port => r.from[0]}", {"2379": "10.0.1.0/24", "5432": "0.0.0.0/0"}),
        ('length(var.nodes) > 1 ? "many" : "one"', "many"),
        ('concat(var.nodes, ["x"])[2]', "x"),
        ('"$${literal}"', "${literal}"),
        ("toset(flatten([[1, 2], [2, 3]]))", [1, 2, 3]),
        ('{for n in ["a", "b", "a"] : n => n...}', {"a": ["a", "a"], "b": ["b"]}),
    ],
)
def test_evaluation(expr: str, value: Any) -> None:
    blocks = load_hcl(SCOPE_SRC + f"locals {{\n  probe = {expr}\n}}\n", "main.tf")
    assert evaluate(blocks[-1].attrs["probe"], Scope(blocks)) == value


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("var.nothing", "no default"),
        ("var.undeclared", "no such variable"),
        ("data.hcloud_server.x.id", "only when terraform runs"),
        ('"%{ if true }x%{ endif }"', "directives"),
        ("local.self", "refers to itself"),
        ("timestamp()", "timestamp() is not evaluated"),
        ('[for n in var.nothing : "${n}/32"]', "no default"),
    ],
)
def test_what_cannot_be_evaluated_is_said(expr: str, why: str) -> None:
    blocks = load_hcl(SCOPE_SRC + f"locals {{\n  probe = {expr}\n}}\n", "main.tf")
    value = blocks[-1].attrs["probe"]
    assert isinstance(value, Expr)
    with pytest.raises(Unevaluated) as info:
        evaluate(value, Scope(blocks))
    assert why in str(info.value)


def hits(result: Result, rule: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule)


ISSUE = """resource "hcloud_firewall" "db" {
  apply_to {
    label_selector = "type=db"
  }
  dynamic "rule" {
    for_each = [
      { port = "2379", sources = ["10.0.1.0/24"] },
      { port = "5432", sources = ["0.0.0.0/0"] },
    ]
    content {
      direction  = "in"
      protocol   = "tcp"
      port       = rule.value.port
      source_ips = rule.value.sources
    }
  }
}
"""


def db_fw(body: str, name: str = "db", apply: str = 'label_selector = "type=db"', head: str = "") -> str:
    return f'{head}resource "hcloud_firewall" "{name}" {{\n  apply_to {{\n    {apply}\n  }}\n{body}}}\n'


def dyn(for_each: str, port: str = "rule.value", sources: str = '["10.0.1.0/24"]', extra: str = "") -> str:
    return (
        f'  dynamic "rule" {{\n    for_each = {for_each}\n{extra}    content {{\n      direction = "in"\n'
        f'      protocol = "tcp"\n      port = {port}\n      source_ips = {sources}\n    }}\n  }}\n'
    )


STATIC_2379 = (
    '  rule {\n    direction = "in"\n    protocol = "tcp"\n    port = "2379"\n    source_ips = ["10.0.1.0/24"]\n  }\n'
)
DATA = 'data "hcloud_server" "n1" {\n  name = "%s"\n}\n'

CASES: list[tuple[str, dict[str, str], dict[str, list[int]]]] = [
    # the issue's example: the dynamic 2379 rule counts, the 5432-to-the-world one is found
    ("issue-dynamic", {"fw.tf": ISSUE}, {"firewall-etcd-client": [], "firewall-host-ports": [14]}),
    # the issue's for expression: no abort; what cannot be evaluated is a warning with its line
    (
        "issue-for-expr",
        {"fw.tf": db_fw(STATIC_2379.replace('["10.0.1.0/24"]', '[for n in var.nodes : "${n}/32"]'))},
        {"terraform-unevaluated": [9], "firewall-etcd-client": []},
    ),
    (
        "for-expr-default-public",
        {
            "fw.tf": db_fw(
                STATIC_2379.replace('["10.0.1.0/24"]', '[for n in var.n : "${n}/0"]'),
                head='variable "n" {\n  default = ["0.0.0.0"]\n}\n',
            )
        },
        {"firewall-host-ports": [12], "terraform-unevaluated": []},
    ),
    (
        "map-custom-iterator",
        {
            "fw.tf": db_fw(
                dyn('{ etcd = "2379", pg = "5432" }', "port.value", '["0.0.0.0/0"]', "    iterator = port\n").replace(
                    "rule.value", "port.value"
                )
            )
        },
        {"firewall-host-ports": [12, 12], "firewall-etcd-client": []},
    ),
    (
        "local-for-each",
        {"fw.tf": db_fw(dyn("local.ports"), head='locals {\n  ports = ["2380", "2379"]\n}\n')},
        {"firewall-etcd-client": [], "terraform-unevaluated": []},
    ),
    (
        "var-default-for-each",
        {"fw.tf": db_fw(dyn("toset(var.ports)"), head='variable "ports" {\n  default = ["5432"]\n}\n')},
        {"firewall-etcd-client": [4], "terraform-unevaluated": []},
    ),
    (
        "var-without-default",
        {"fw.tf": db_fw(dyn("var.ports"), head='variable "ports" {\n  type = list(string)\n}\n')},
        {"firewall-etcd-client": [], "terraform-unevaluated": [9]},
    ),
    (
        "redis-through-dynamic-range",
        {"fw.tf": db_fw(dyn('["6000-7000"]'), "app", 'label_selector = "type=service"')},
        {"firewall-no-redis": [10]},
    ),
    # a DB firewall is known by what it applies to, not by its name
    (
        "db-by-server-name",
        {"fw.tf": DATA % "iklim-db-01" + db_fw("", "backend", "server = data.hcloud_server.n1.id")},
        {"firewall-etcd-client": [4]},
    ),
    (
        "named-db-applies-to-app",
        {"fw.tf": DATA % "iklim-app-01" + db_fw(STATIC_2379, "db", "server = data.hcloud_server.n1.id")},
        {"firewall-etcd-client": [4]},  # one finding: no firewall applies to the DB nodes
    ),
    (
        "no-apply-to-at-all",
        {"fw.tf": 'resource "hcloud_firewall" "db" {\n' + STATIC_2379 + "}\n"},
        {"firewall-etcd-client": [1], "terraform-unevaluated": []},
    ),
    (
        "attachment-label-selectors",
        {
            "fw.tf": 'resource "hcloud_firewall" "pg" {\n' + STATIC_2379.replace("2379", "22") + "}\n"
            'resource "hcloud_firewall_attachment" "a" {\n  firewall_id = hcloud_firewall.pg.id\n'
            '  label_selectors = ["type=db"]\n}\n'
        },
        {"firewall-etcd-client": [1]},
    ),
    (
        "server-firewall-ids",
        {
            "fw.tf": 'resource "hcloud_firewall" "pg" {\n' + STATIC_2379 + "}\n"
            'resource "hcloud_server" "s" {\n  name = "iklim-db-02"\n  firewall_ids = [hcloud_firewall.pg.id]\n}\n'
        },
        {"firewall-etcd-client": [], "terraform-unevaluated": []},
    ),
    (
        "hostname-from-stack-constraint",
        {
            "stack.yml": "services:\n  pg:\n    image: postgres:16.4\n    deploy:\n      placement:\n"
            "        constraints: [node.hostname == pg-node-1]\n",
            "fw.tf": DATA % "pg-node-1"
            + db_fw(STATIC_2379.replace("2379", "22"), "a", "server = data.hcloud_server.n1.id"),
        },
        {"firewall-etcd-client": [4]},
    ),
    (
        "unknown-selector",
        {"fw.tf": db_fw(STATIC_2379, "x", 'label_selector = "env=prod"')},
        {"firewall-etcd-client": [], "terraform-unevaluated": [3]},
    ),
    (
        "server-from-data-without-name",
        {
            "fw.tf": 'data "hcloud_server" "n1" {\n  id = var.id\n}\n'
            + db_fw("", "x", "server = data.hcloud_server.n1.id")
        },
        {"firewall-etcd-client": [], "terraform-unevaluated": [6]},
    ),
]


@pytest.mark.parametrize(("name", "files", "expected"), CASES, ids=[c[0] for c in CASES])
def test_firewall_table(check_files: Runner, name: str, files: dict[str, str], expected: dict[str, list[int]]) -> None:
    result = check_files(files)
    assert not result.problems, result.problems
    for rule, lines in expected.items():
        assert hits(result, rule) == lines, (rule, [f for f in result.findings])


def test_for_expression_does_not_stop_the_check(check_files: Runner) -> None:
    text = db_fw(STATIC_2379.replace('["10.0.1.0/24"]', '[for n in var.nodes : "${n}/32"]'))
    result = check_files({"fw.tf": text})
    (warning,) = [f for f in result.findings if f.rule == "terraform-unevaluated"]
    assert "var.nodes" in warning.message and warning.severity.value == "warning"


def _examples(doc: str) -> tuple[str, str]:
    failing = doc.split("Failing example", 1)[1].split("::", 1)[1].split("Passing example", 1)[0]
    passing = doc.split("Passing example", 1)[1].split("::", 1)[1]
    dedent = __import__("textwrap").dedent
    return dedent(failing).strip() + "\n", dedent(passing).strip() + "\n"


@pytest.mark.parametrize("rule_id", ["firewall-etcd-client", "firewall-host-ports", "terraform-unevaluated"])
def test_documented_examples_hold(check_files: Runner, rule_id: str) -> None:
    from iklim.check.rules import by_id

    rule = by_id(rule_id)
    assert rule is not None
    failing, passing = _examples(rule.doc)
    assert hits(check_files({"bad/firewall.tf": failing}), rule_id)
    assert not hits(check_files({"good/firewall.tf": passing}), rule_id)
