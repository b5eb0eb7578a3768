"""``iklim plan`` as a command: --help has examples, --static judges a tree with no engine, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
STACKS = ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml")


def _iklim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iklim", *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=60
    )


def test_help_has_examples() -> None:
    proc = _iklim("plan", "--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout and "iklim plan --static" in proc.stdout and "--target prod" in proc.stdout


def test_static_on_the_rendered_tree_passes(tmp_path: Path) -> None:
    proc = _iklim("plan", "--static", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["schema"] == "iklim.plan/v1" and document["target"] == "static" and document["empty"] is None
    assert {c["verdict"] for c in document["preflight"]} == {"pass"}


def test_static_on_a_bad_tree_exits_3_and_names_the_service(tmp_path: Path) -> None:
    for name in STACKS:
        shutil.copyfile(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "docker-stack-vault.yml"
    document = yaml.safe_load(path.read_text())
    document["services"]["vault-1"]["deploy"]["update_config"]["order"] = "start-first"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    proc = _iklim("plan", "--static", "--tree", str(tmp_path))
    assert proc.returncode == 3
    assert "fail  host-ports-start-first" in proc.stdout and "vault_vault-1: host port(s) 8200" in proc.stdout


def test_an_unreadable_tree_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = _iklim("plan", "--static", "--tree", str(tmp_path))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the rendered tree")


def test_an_unset_variable_is_a_warning_on_stderr_and_json_stays_clean(tmp_path: Path) -> None:
    for name in STACKS:
        shutil.copyfile(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "docker-stack-vault.yml"
    path.write_text(path.read_text().replace("hostname: vault-1", "hostname: vault-1${IKLIM_TEST_UNSET}", 1))
    proc = _iklim("plan", "--static", "--format", "json", "--tree", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"] == "static"
    assert proc.stderr.count("IKLIM_TEST_UNSET") == 1  # once, though the tree is read more than once
    assert (
        "warning: docker-stack-vault.yml: variable IKLIM_TEST_UNSET is not set: "
        "docker stack deploy substitutes a blank string"
    ) in proc.stderr
