"""The escaping helpers read back as the value itself, in the real interpreters where installed."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iklim.check.nginx import parse as parse_nginx
from iklim.components.quoting import compose_sh, hcl_string, nginx_word, sh, sh_comment
from iklim.components.yamlout import dump_yaml

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=40)
TRICKY = ["${x}", "$${x}", "%{ if 1 }", "$", "x$", 'a"b\\c\nd\te\r', "\x01\x7f\u2028", "' \" ` $(id) ;", "{}", "é𝄞"]


def _hcl_unquote(raw: str) -> str:
    """The value of a quoted HCL string as python-hcl2 returns it (escapes kept)."""
    assert raw[0] == raw[-1] == '"'
    body, out, i = raw[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        if body[i] == "\\":
            if body[i + 1] == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(simple[body[i + 1]])
            i += 2
            continue
        assert body[i : i + 2] not in ("${", "%{"), raw
        out.append(body[i])
        i += 1
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(value=TEXT)
def test_hcl_string_is_one_literal_that_reads_back(value: str) -> None:
    parsed = hcl2.loads(f"a = {hcl_string(value)}\n")
    assert set(parsed) == {"a"}
    assert _hcl_unquote(parsed["a"]) == value


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_reads_hcl_strings_back(tmp_path: Path) -> None:
    expression = "base64encode(jsonencode([" + ", ".join(hcl_string(v) for v in TRICKY) + "]))\n"
    done = subprocess.run(
        ["terraform", "console"],
        input=expression,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "HOME": str(tmp_path)},
        check=True,
    )
    encoded = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads(base64.b64decode(encoded)) == TRICKY


@settings(max_examples=20, deadline=None)
@given(values=st.lists(TEXT, min_size=1, max_size=20))
def test_sh_is_one_word_that_reads_back_in_bash(values: list[str]) -> None:
    script = "printf '%s\\0' " + " ".join(sh(v) for v in values) + "\n# " + " ".join(sh_comment(v) for v in values)
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30, check=True)
    assert done.stdout.decode().split("\0")[:-1] == values


def test_sh_comment_stays_one_line_and_plain_values_are_unchanged() -> None:
    assert sh_comment("/mnt/storagebox/grafana/data") == "/mnt/storagebox/grafana/data"
    assert "\n" not in sh_comment("a\nb") and sh_comment("a\u2028").isascii()
    assert compose_sh("a$b c") == "'a$$b c'"


@settings(max_examples=200, deadline=None)
@given(value=TEXT.filter(bool))
def test_nginx_word_is_one_token_that_reads_back(value: str) -> None:
    (directive,) = parse_nginx(f"server_name {nginx_word(value)};\n", "site.conf")
    (arg,) = directive.args
    unescaped = arg.replace('\\"', '"').replace("\\\\", "\\") if nginx_word(value) != value else arg
    assert directive.name == "server_name" and unescaped == value


@settings(max_examples=300, deadline=None)
@given(value=st.text(st.characters(exclude_categories=("Cs",)), max_size=40) | st.sampled_from(["\x85", "a\u2028b"]))
def test_yaml_dumper_reads_back(value: str) -> None:
    assert yaml.safe_load(dump_yaml({"k": value, "l": [value]})) == {"k": value, "l": [value]}
