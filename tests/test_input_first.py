"""Arguments are checked before anything is started: a typo never starts a Swarm job, never waits
for a lab, and the runbook refuses an input the model would refuse before it changes anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _iklim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "iklim", *args], cwd=ROOT, env=environ, capture_output=True, text=True)


def test_status_on_overlay_refuses_an_unknown_component_before_any_docker_call(tmp_path: Path) -> None:
    run = _iklim(
        "status", "--target", "prod", "--on-overlay", "-c", "nosuch",
        env={"DOCKER_HOST": f"unix://{tmp_path}/never.sock"},
    )  # fmt: skip
    assert run.returncode == 2
    assert "unknown component(s): nosuch" in run.stderr and "Docker" not in run.stderr


def test_swarm_lab_logs_names_an_unknown_service_whether_or_not_the_lab_runs() -> None:
    run = _iklim("swarm-lab", "logs", "iklimco_nosuch")
    assert run.returncode == 1
    assert "no service 'iklimco_nosuch' in the rendered stacks" in run.stderr
    assert "iklimco_etcd-1" in run.stderr  # the known names are listed


def test_swarm_lab_logs_takes_the_stack_files_service_name_when_it_is_unique() -> None:
    run = _iklim("swarm-lab", "logs", "redis-sentinel-2", "--tail", "1")
    assert "no service" not in run.stderr  # the name is known: it either printed or said the lab is down
    assert run.returncode == 0 or "the Swarm lab is not up" in run.stderr, run.stderr


@pytest.mark.parametrize(
    "value", ["/srv/grafana", "data", "/mnt/storagebox", "/mnt/storagebox/../etc", "/mnt/storageboxx/g"]
)
def test_runbook_refuses_a_grafana_data_dir_outside_the_storagebox(tmp_path: Path, value: str) -> None:
    """As the model does (seedfacts): before any step runs (no docker on PATH is ever reached)."""
    run = subprocess.run(
        ["bash", str(ROOT / "init-infra-prod.sh")],
        env={"PATH": "/usr/bin:/bin", "GRAFANA_DATA_DIR": value, "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "is not a folder under the StorageBox" in run.stderr and "overlay" not in run.stderr


def test_runbook_accepts_a_grafana_data_dir_inside_the_storagebox(tmp_path: Path) -> None:
    stub = tmp_path / "docker"
    stub.write_text("#!/bin/sh\nexit 7\n")
    stub.chmod(0o755)
    run = subprocess.run(
        ["bash", str(ROOT / "init-infra-prod.sh")],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "GRAFANA_DATA_DIR": "/mnt/storagebox/g2", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "is not a folder under the StorageBox" not in run.stderr
    assert "overlay" in run.stderr  # it went on to the first step (the stub docker then fails it)
