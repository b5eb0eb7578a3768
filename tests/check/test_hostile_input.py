"""Issue 16 kinds 2-4 in the checker: bounded loaders, no crash on bad values, escaped output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from iklim.check.constraints import parse as parse_constraint
from iklim.check.findings import InputError
from iklim.check.hcl import load_hcl
from iklim.check.nginx import parse
from iklim.check.rules.superseded_overlay import _overlays
from iklim.check.yamlload import load_yaml
from iklim.cli import cli

ALIAS_DEPTH = "a0: &a0 " + "[" * 60 + "]" * 60 + "\n" + "".join(f"a{i}: &a{i} [[*a{i - 1}]]\n" for i in range(1, 40))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: " + "[" * 25000 + "]" * 25000, 1, "nested more than"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 300)), 101, "nested more than"),
        (ALIAS_DEPTH, 21, "nested more than"),  # aliases do not reset the depth
        ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{c}: &{c} [{','.join(['*a'] * 9)}]\n" for c in "b"), 0, ""),
        ("services:\n  a:\n    replicas: " + "9" * 5000 + "\n", 3, "number too large"),
        ("a: b\x00c\n", 1, "control character"),
        ("a: b\x1bc\n", 1, "control character"),
        ("a: *nope\n", 1, "undefined alias"),
        ("a: &x 1\nb: &x 2\n", 2, "duplicate anchor"),
    ],
    ids=["deep-flow", "deep-block", "alias-depth", "small-alias", "big-int", "nul", "escape", "undefined", "dup"],
)
def test_yaml_bounds(text: str, line: int, words: str) -> None:
    if not words:  # a small alias use is fine
        assert load_yaml(text, "f.yml")["b"][0][0] == "x"
        return
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        load_yaml(text, "f.yml")
    assert time.monotonic() - start < 5
    assert info.value.line == line and words in info.value.message


def test_alias_and_merge_bombs_fail_fast() -> None:
    bomb = "a: &a [" + ",".join(["lol"] * 9) + "]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        bomb += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    merge = (
        "x: &x\n" + "".join(f"  k{i}: v\n" for i in range(3000)) + "".join(f"s{i}: {{<<: *x}}\n" for i in range(3000))
    )
    for text in (bomb, merge):
        start = time.monotonic()
        with pytest.raises(InputError, match="expands to more than"):
            load_yaml(text, "f.yml")
        assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("/* " * 200_000, 1, "never closed"),
        ('a "b" {\n}\n' + "/* " * 200_000, 3, "never closed"),
        ("x = " + "[" * 25000 + "]" * 25000 + "\n", 1, "nested more than"),
        ("x = " + "!" * 25000 + "true\n", 1, "nested more than"),
        ("a {\n" * 25000, 100, "nested more than"),
        ('x = "' + '${"' * 25000 + "\n", 1, "nested more than"),
        ("x = " + "9" * 5000 + "\n", 1, "number too large"),
    ],
    ids=["comment", "comment-late", "deep-list", "deep-not", "deep-blocks", "deep-strings", "big-int"],
)
def test_hcl_bounds(text: str, line: int, words: str) -> None:
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        load_hcl(text, "f.tf")
    assert time.monotonic() - start < 5
    assert info.value.line == line and words in info.value.message


def test_nginx_depth_is_bounded() -> None:
    with pytest.raises(InputError, match="nested more than"):
        parse("http {\n" * 25000, "site.conf")


def test_no_backtracking_on_long_values() -> None:
    start = time.monotonic()
    assert isinstance(parse_constraint("node.labels.type == db" + " " * 1_000_000 + "x"), tuple)
    assert not _overlays("docker compose -c x" * 100_000)
    assert _overlays("docker stack deploy -c docker-stack-infra.yml -c docker-stack-db.yml s")
    assert time.monotonic() - start < 5


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "policy",
    [
        "app_subnet: nope\n",
        "db_ports: [a]\n",
        "redis_ports: [99999999]\n",
        "members: {apisix: true}\n",
        "members: {apisix: -1}\n",
        "private_cidrs: [1]\n",
        "etcd_client_port: true\n",
        "etcd_aliases: [1]\n",
        "apisix_prefix: null\n",
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
    ],
    ids=range(10),
)
def test_bad_policy_values_are_file_line_errors(tmp_path: Path, policy: str) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text("services:\n  a:\n    image: x:1\n")
    (tmp_path / "policy.yml").write_text(policy)
    code, _, err = invoke("check", str(stack), "--policy", str(tmp_path / "policy.yml"))
    assert code == 2 and "policy.yml:1:" in err and "internal error" not in err


HOSTILE_NAME = "x\n::error file=a.yml,line=1::pwned\r%0A\x1b[31m\u202e.yml"


@pytest.mark.parametrize("fmt", ["text", "github", "json", "sarif"])
def test_user_strings_are_escaped_in_every_format(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path(HOSTILE_NAME).write_text("services: [\n")  # unusable input: a finding naming the file
    (tmp_path / "ok.yml").write_text("services:\n  redis:\n    image: redis:7\n    ports: ['6379:6379']\n")
    code, out, err = invoke("check", HOSTILE_NAME, "ok.yml", "--format", fmt)
    assert code == 2
    for stream in (out, err):
        assert not any(line.startswith("::error file=a.yml") for line in stream.splitlines())
        assert "\x1b" not in stream and "\r" not in stream and "\u202e" not in stream
    assert len(err.strip().splitlines()) == 1
    if fmt == "json":  # exact, through JSON escaping
        assert HOSTILE_NAME in [f["path"] for f in json.loads(out)["findings"]]
    if fmt == "sarif":  # a URI reference, percent-encoded
        results = json.loads(out)["runs"][0]["results"]
        uris = [unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results]
        assert HOSTILE_NAME in uris
    if fmt == "github":  # printable first, then workflow-command escaping of the property
        assert "file=x\\n%3A%3Aerror file=a.yml%2Cline=1%3A%3Apwned" in out


def test_invalid_utf8_in_a_stack_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "docker-stack-x.yml"
    path.write_bytes(b"services:\n  a:\n    image: redis:7\n    labels: {a: \xff}\n")
    code, out, err = invoke("check", str(path))
    assert code == 2 and "docker-stack-x.yml:4:" in err and "invalid UTF-8" in err
    assert "error unusable-input" in out
