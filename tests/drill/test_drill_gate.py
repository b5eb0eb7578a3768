"""The production gate and ``iklim drill list``. Production is never contacted: the gate is fed an
injected status reading, and the CLI is run only without ``--i-accept-downtime`` (the gate then
refuses before it would read any status)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.drill import gate
from iklim.drill.catalogue import listing, mongodb_note, workload_words
from iklim.drill.driver import FAULTS
from iklim.drill.gate import ACCEPT_FLAG, Health, prod_refusal


@dataclass(frozen=True)
class Verdict:
    component: str
    status: str
    reason: str


HEALTHY = [Verdict("etcd", "healthy", "leader etcd-1"), Verdict("vault", "healthy", "active vault-1, 3/3 unsealed")]


def _never() -> Sequence[Health]:
    raise AssertionError("the status must not be read without the flag")


def test_without_the_flag_the_gate_refuses_before_reading_any_status() -> None:
    reason = prod_refusal(False, _never)
    assert reason is not None and ACCEPT_FLAG in reason and "\n" not in reason


def test_with_the_flag_only_an_all_healthy_status_passes() -> None:
    assert prod_refusal(True, lambda: HEALTHY) is None
    degraded = [*HEALTHY, Verdict("redis", "degraded", "1 replica down")]
    reason = prod_refusal(True, lambda: degraded)
    assert reason is not None and "redis degraded (1 replica down)" in reason and "etcd" not in reason
    assert "status --target prod" in (prod_refusal(True, lambda: []) or "")


def test_an_unreadable_status_refuses() -> None:
    def unreachable() -> Sequence[Health]:
        raise OSError("no route to 10.0.0.5")

    assert "could not be read: no route" in (prod_refusal(True, unreachable) or "")


def test_the_cli_refuses_prod_without_the_flag_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "prod_status", lambda *a, **k: _never())  # belt and braces: never contacted
    result = CliRunner().invoke(cli, ["drill", "run", "--root", str(tmp_path), "--target", "prod"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and ACCEPT_FLAG in lines[0] and lines[0].startswith("error:")
    assert not (tmp_path / "drill").exists(), "nothing journaled"
    shown = CliRunner().invoke(cli, ["drill", "run", "--help"])
    assert ACCEPT_FLAG in shown.output and "--picture" in shown.output


def test_past_the_gate_there_is_no_production_driver_yet(capsys: pytest.CaptureFixture[str]) -> None:
    from iklim.drill.commands import _driver

    with pytest.raises(SystemExit) as exited:
        _driver("prod", "environments/prod.yaml", ".lab")
    assert exited.value.code == 2 and "no production drill driver" in capsys.readouterr().err


def test_drill_list_names_clusters_faults_workloads_and_mongodb() -> None:
    text = listing()
    assert text.startswith(f"lab: clusters etcd, patroni, redis, rabbitmq, vault; faults {', '.join(FAULTS)}\n")
    assert "  vault     Vault / OpenBao: one KV v2 write per value with hvac" in text
    assert "  mongodb   " + mongodb_note() in text
    assert "swarm-lab:" in text and f"prod: refused unless {ACCEPT_FLAG}" in text
    assert workload_words("nosuch") == ""


def test_mongodb_is_said_to_be_missing_when_no_mongod_is_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert mongodb_note().startswith("not drilled: not available on this host (mongod")
