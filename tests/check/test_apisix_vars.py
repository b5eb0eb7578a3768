"""APISIX's own ``${{VAR:=default}}`` interpolation: resolved as APISIX does, never a false error."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from iklim.check.apisix_vars import expand
from iklim.check.engine import Result

Runner = Callable[..., Result]
CONF = "config/apisix/config.yaml"
DASH = "config/apisix-dashboard/conf.yaml"


def found(result: Result) -> list[tuple[str, int]]:
    return sorted((f.rule, f.line) for f in result.findings)


def apisix(hosts: list[str], prefix: str | None = None) -> str:
    text = "deployment:\n  etcd:\n    host:\n" + "".join(f'      - "{h}"\n' for h in hosts)
    return text + (f'    prefix: "{prefix}"\n' if prefix is not None else "")


ALIASES = ["http://etcd-01:2379", "http://etcd-02:2379", "http://etcd-03:2379"]

# (text, env, value, unset): the semantics of apisix/cli/file.lua's resolve_conf_var
EXPANSIONS: list[tuple[str, dict[str, str], str | None, tuple[str, ...]]] = [
    ("http://${{ETCD_HOST_1:=etcd-01}}:2379", {}, "http://etcd-01:2379", ()),
    ("${{P:=/apisix}}", {}, "/apisix", ()),
    ("${{ P := /apisix }}", {}, "/apisix", ()),  # blanks around the name and the default
    ("${{X:=}}", {}, "", ()),  # an empty default is a value
    ("${{X:=a}}", {"X": "b"}, "b", ()),  # a known value wins over the default
    ("${{X}}", {"X": ""}, "", ()),
    ("${{X}}", {}, None, ("X",)),
    ("a${{X}}b${{Y}}${{X}}", {}, None, ("X", "Y")),
    ("${X}", {}, "${X}", ()),  # nginx's syntax, not APISIX's
    ("${{ }}", {}, "${{ }}", ()),  # no name: left as written
    ("${{-x}}", {}, "${{-x}}", ()),
    ("${{X:=a", {}, "${{X:=a", ()),  # never closed
    ("${{${{X:=a}}", {}, "${{a", ()),  # the first reference has no name; the second one does
    ("${{X:=a:=b}}", {}, "a:=b", ()),  # the first ':=' splits
    ("${{X:-a}}", {}, None, ("X:-a",)),  # not APISIX syntax: the variable 'X:-a' is never set
    ("plain", {}, "plain", ()),
]


@pytest.mark.parametrize(("text", "env", "value", "unset"), EXPANSIONS)
def test_expand(text: str, env: dict[str, str], value: str | None, unset: tuple[str, ...]) -> None:
    got = expand(text, env)
    assert (got.value, got.unset) == (value, unset)


def test_expand_is_linear() -> None:
    start = time.monotonic()
    expand("${{a" * 200_000)
    expand("${{ " * 200_000 + "}}")
    expand("${{a:=b}}" * 100_000)
    assert time.monotonic() - start < 5


CASES: list[tuple[str, dict[str, str], list[tuple[str, int]]]] = [
    (
        "issue-host-and-prefix",
        {
            CONF: apisix(
                [
                    "http://${{ETCD_HOST_1:=etcd-01}}:2379",
                    "http://${{ETCD_HOST_2:=etcd-02}}:2379",
                    "http://${{ETCD_HOST_3:=etcd-03}}:2379",
                ],
                "${{P:=/apisix}}",
            )
        },
        [],
    ),
    ("blanks-in-braces", {CONF: apisix(["http://${{ ETCD_HOST_1 := etcd-01 }}:2379"], "${{ P := /apisix/ }}")}, []),
    ("whole-url-default", {CONF: apisix(["${{ETCD_URL:=http://etcd-02:2379}}"])}, []),
    ("default-is-an-ip", {CONF: apisix(["http://${{ETCD_HOST_1:=10.0.2.11}}:2379"])}, [("etcd-aliases", 4)]),
    ("default-prefix-wrong", {CONF: apisix(ALIASES, "${{P:=/service}}")}, [("etcd-prefix", 7)]),
    ("empty-default-prefix", {CONF: apisix(ALIASES, "${{P:=}}")}, [("etcd-prefix", 7)]),
    ("no-default-host", {CONF: apisix(["http://${{ETCD_HOST_1}}:2379"])}, [("apisix-interpolation", 4)]),
    ("no-default-prefix", {CONF: apisix(ALIASES, "${{APISIX_PREFIX}}")}, [("apisix-interpolation", 7)]),
    (
        "service-sets-the-variable",
        {
            CONF: apisix(["http://${{ETCD_HOST_1}}:2379"], "${{P:=/apisix}}"),
            "stack.yml": "services:\n  apisix:\n    image: apache/apisix:3.11.0-debian\n"
            "    environment:\n      ETCD_HOST_1: etcd-01\n      P: /service\n",
        },
        [("etcd-prefix", 5)],
    ),
    (
        "service-overrides-default",
        {
            CONF: apisix(["http://${{ETCD_HOST_1:=etcd-01}}:2379"]),
            "stack.yml": "services:\n  apisix:\n    image: apache/apisix:3.11.0-debian\n"
            "    environment: [ETCD_HOST_1=10.0.2.11]\n",
        },
        [("etcd-aliases", 4)],
    ),
    (
        "service-passes-through",
        {
            CONF: apisix(["http://${{ETCD_HOST_1:=etcd-01}}:2379"]),
            "stack.yml": "services:\n  apisix:\n    image: apache/apisix:3.11.0-debian\n"
            "    environment: [ETCD_HOST_1, 'P=${P}']\n",
        },
        [],
    ),
    (
        "dashboard-does-not-expand",
        {DASH: "conf:\n  etcd:\n    endpoints:\n      - ${{ETCD_HOST_1:=etcd-01}}:2379\n"},
        [("etcd-aliases", 4)],
    ),
    ("dashboard-plain", {DASH: "conf:\n  etcd:\n    endpoints: [etcd-01:2379]\n    prefix: /apisix\n"}, []),
    (
        "admin-key-without-default-is-not-checked",
        {CONF: apisix(ALIASES) + "  admin:\n    admin_key:\n      - {name: admin, key: '${{ADMIN_KEY}}'}\n"},
        [],
    ),
]


@pytest.mark.parametrize(("name", "files", "expected"), CASES, ids=[c[0] for c in CASES])
def test_apisix_interpolation(
    check_files: Runner, name: str, files: dict[str, str], expected: list[tuple[str, int]]
) -> None:
    rules = {"etcd-aliases", "etcd-prefix", "apisix-interpolation"}
    assert [f for f in found(check_files(files)) if f[0] in rules] == expected


def test_dashboard_message_quotes_the_whole_host(check_files: Runner) -> None:
    files = {DASH: "conf:\n  etcd:\n    endpoints:\n      - ${{ETCD_HOST_1:=etcd-01}}:2379\n"}
    (finding,) = [f for f in check_files(files).findings if f.rule == "etcd-aliases"]
    assert "'${{ETCD_HOST_1:=etcd-01}}:2379'" in finding.message
    assert "does not expand" in finding.message
