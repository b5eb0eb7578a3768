"""Acceptance corpus: 40 stack files written the way people publish them, all correct.

Every file in ``corpus/`` deploys (``docker stack config -c FILE`` accepts it) and keeps the seed's
policy: DB components pinned to DB nodes with host-mode ports, everything else on
``node.labels.type == service``, Redis/Sentinel/RabbitMQ overlay-only, pinned images, no literal
secrets. ``iklim check`` on each (alone, in a folder without a model, as a user would run it)
must end without a traceback or an internal error and report no error finding.

Files marked xfail fail today because of a fault kind of issue 12 another branch fixes; the marks
are strict, so the merge that fixes the kind must remove them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.yml"))
# What the stack files expect from the environment, as the runbook exports it.
ENV = {"GRAFANA_DATA_DIR": "/mnt/storagebox/grafana/data"}


def _kind(number: int, branch: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"issue 12 kind {number}, fixed on branch {branch}")


XFAIL: dict[str, pytest.MarkDecorator] = {}  # every kind the corpus met is fixed
#: True findings, not false ones: a lone compose file has no model to excuse them. Its etcd
#: speaks http:// between members on the network, which ``plaintext-listener`` rightly flags.
TRUE_FINDINGS: dict[str, frozenset[str]] = {"07-etcd-cluster.yml": frozenset({"plaintext-listener"})}


def test_corpus_size() -> None:
    assert len(FILES) == 40
    assert set(XFAIL) <= {f.name for f in FILES}


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_docker_accepts_it(path: Path) -> None:
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI is needed (scripts/install-deps.sh installs it)"
    proc = subprocess.run(
        [docker, "stack", "config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **ENV},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "path", [pytest.param(f, id=f.name, marks=[XFAIL[f.name]] if f.name in XFAIL else []) for f in FILES]
)
def test_no_false_error(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", path.name, "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert result.exit_code != 2, result.stderr
    every = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    expected = TRUE_FINDINGS.get(path.name, frozenset())
    errors = [f for f in every if f["rule"] not in expected]
    assert errors == [], "\n".join(f"{e['line']}:{e['column']} {e['rule']} {e['message']}" for e in errors)
    assert {f["rule"] for f in every} == expected, every
    assert result.exit_code == (1 if expected else 0)


@pytest.mark.parametrize("flag", ["no", "yes", "off", "true"])
def test_a_flag_named_like_a_secret_is_not_one(flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bitnami's ``ALLOW_EMPTY_PASSWORD: "no"`` (corpus 29) is a flag; a real value still fails."""
    monkeypatch.chdir(tmp_path)
    stack = tmp_path / "stack.yml"

    def rules(value: str) -> set[str]:
        stack.write_text(f"services:\n  redis:\n    image: bitnami/redis:7.4.2\n    environment:\n{value}")
        out = CliRunner().invoke(cli, ["check", "stack.yml", "--format", "json"]).stdout
        return {f["rule"] for f in json.loads(out)["findings"]}

    assert "literal-secret" not in rules(f'      ALLOW_EMPTY_PASSWORD: "{flag}"\n')
    assert "literal-secret" not in rules(f"      - ALLOW_EMPTY_PASSWORD={flag}\n")
    assert "literal-secret" in rules("      REDIS_PASSWORD: nope-not-a-flag\n")
