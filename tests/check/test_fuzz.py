"""Property test: mutated stack and firewall files never make the checker raise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iklim.cli import cli

REPO = Path(__file__).resolve().parents[2]

FILES = ("docker-stack-infra_db-prod.yml", "terraform/hetzner/prod/firewall.tf", "terraform/hetzner/prod/network.tf")
SNIPPETS = [
    "",
    " ",
    "\n",
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    '"',
    "'",
    "#",
    "&a",
    "*a",
    "<<: *a",
    "${",
    "${X:-1}",
    "mode: host",
    "ports: [6379]",
    "global",
    "0",
    "-1",
    "null",
    "\t",
    "= ",
    "/*",
    "<<EOT\n",
    "\\",
    "é",
]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, int, int, str]:
    name = draw(st.sampled_from(FILES))
    start = draw(st.integers(min_value=0, max_value=40_000))
    length = draw(st.integers(min_value=0, max_value=40))
    insert = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=8)))
    return name, start, length, insert


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for name in FILES + ("docker-stack-vault.yml", "environments/prod.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "config", root / "config")
    return root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation(), min_size=1, max_size=3))
def test_mutated_tree_never_raises(tree: Path, mutations: list[tuple[str, int, int, str]]) -> None:
    originals = {name: (REPO / name).read_text() for name in FILES}
    texts = dict(originals)
    for name, start, length, insert in mutations:
        text = texts[name]
        at = start % (len(text) + 1)
        texts[name] = text[:at] + insert + text[at + length :]
    for name, text in texts.items():
        (tree / name).write_text(text)
    result = CliRunner().invoke(cli, ["check", str(tree), "--format", "json"])
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert result.exit_code in (0, 1, 2)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines and all(line.startswith("iklim check: error: ") and ":" in line[20:] for line in lines)
    assert '"summary"' in result.stdout
