"""`lab up` records what it attempted and what failed, so status reports a failed component as
down instead of skipping it (issue 16, kind 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iklim.lab import orchestrator
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.supervisor import ProcessSpec
from iklim.model.schema import Environment


class _Failing(LabComponent):
    name = "redis"

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        raise FileExistsError(17, "File exists", str(ctx.root / "secrets" / "redis_password"))

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        return "never"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        return False, "no process"


class _Dependent(_Failing):
    name = "redis-exporter"
    needs = ("redis",)


def test_a_component_failing_before_any_process_is_recorded_as_attempted_and_failed(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrator, "components", lambda: (_Failing(), _Dependent()))
    ctx = LabContext.create(prod_env, tmp_path, "/usr/lib/postgresql/15/bin")
    states = {s.name: s for s in orchestrator.up(ctx, lambda line: None, timeout=10)}
    assert states["redis"].state == "unhealthy" and "File exists" in states["redis"].detail
    assert states["redis-exporter"].state == "unhealthy" and "redis failed" in states["redis-exporter"].detail
    assert json.loads((tmp_path / "components.json").read_text()) == {"redis": [], "redis-exporter": []}
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert set(failed) == {"redis", "redis-exporter"} and "File exists" in failed["redis"]
    live = {s.name: s for s in orchestrator.status(ctx)}
    assert live["redis"].state == "unhealthy" and live["redis"].detail.startswith("lab up failed it: ")
    assert not list(tmp_path.glob(".*.tmp")), "the lab state is written atomically"
