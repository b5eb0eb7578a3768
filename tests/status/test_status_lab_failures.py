"""A component `lab up` tried and failed to start is `down` (exit 2), never skipped (issue 16, kind 6:
Redis failed with `[Errno 17] File exists` and `iklim status --target lab` said "skipped", exit 0)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.status.planbuild import build_plan
from iklim.status.report import Report
from iklim.status.runner import lab_failures, lab_selection, mark_lab_failures

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "environments" / "prod.yaml"
FAILED = {"redis": "[Errno 17] File exists: .lab/secrets/redis_password"}


def _lab_state(root: Path, started: dict[str, list[str]], failed: dict[str, str]) -> None:
    (root / "components.json").write_text(json.dumps(started))
    (root / "failed.json").write_text(json.dumps(failed))


def test_a_failed_component_is_probed_not_skipped(tmp_path: Path) -> None:
    plan = build_plan(MODEL, "lab", str(tmp_path))
    # The lab state before the fix: Redis failed before any process started, so it was absent.
    _lab_state(tmp_path, {"etcd": ["etcd-1"]}, FAILED)
    chosen, skipped = lab_selection(plan)
    assert "redis" in [c.name for c in chosen]
    assert "redis" not in [s.component for s in skipped]
    assert lab_failures(plan) == FAILED


def test_a_failed_component_is_down_unless_healthy_now() -> None:
    reports = [
        Report("redis", "degraded", "1/2 replicas online"),
        Report("etcd", "degraded", "2/3 members"),
        Report("vault", "healthy", "3 voters"),
    ]
    marked = {r.component: r for r in mark_lab_failures(reports, FAILED | {"vault": "timed out"})}
    assert marked["redis"].status == "down"
    assert marked["redis"].reason.startswith("lab up failed to start it ([Errno 17] File exists")
    assert marked["etcd"].status == "degraded", "a component the lab did not fail is judged by its probe"
    assert marked["vault"].status == "healthy", "the live reading wins when it is healthy now"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_status_cli_exits_2_for_a_component_the_lab_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    _lab_state(tmp_path, {"etcd": ["etcd-1"], "redis": []}, FAILED)

    def probes(components: Sequence[Any], *args: Any, **kwargs: Any) -> list[Report]:
        return [Report(c.name, "down" if c.name == "redis" else "healthy", "no answer") for c in components]

    monkeypatch.setattr("iklim.status.runner.run_probes", probes)
    argv = ["status", "--target", "lab", "--root", str(tmp_path), "--env", str(MODEL), "--format", fmt]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    if fmt == "json":
        data = json.loads(result.output)
        assert "redis" not in [s["component"] for s in data["skipped"]]
        redis = next(c for c in data["components"] if c["component"] == "redis")
        assert redis["status"] == "down" and "lab up failed to start it" in redis["reason"]
    else:
        line = next(line for line in result.output.splitlines() if line.startswith("redis"))
        assert "down" in line and "lab up failed to start it" in line
