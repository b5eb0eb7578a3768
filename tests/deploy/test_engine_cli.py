"""``iklim deploy``: ``--target prod`` refusals (nothing contacted), --help, the apply loop's rollback order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from iklim.deploy.api import DeployError, ServiceApplier

ROOT = Path(__file__).resolve().parents[2]


def _deploy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "IKLIM_DRILL_SEAT_PID")}
    environ.update(PYTHONPATH=str(ROOT / "src"), **env)
    return subprocess.run(
        [sys.executable, "-m", "iklim", "deploy", *args],
        capture_output=True, text=True, cwd=ROOT, env=environ, timeout=60,
    )  # fmt: skip


def test_prod_refuses_a_docker_host_into_the_swarm_lab() -> None:
    proc = _deploy("--target", "prod", "--yes", DOCKER_HOST="unix:///run/iklim-swarmlab/iklim-app-01.sock")
    assert proc.returncode == 1
    assert "is the Swarm lab; use --target swarm-lab" in proc.stderr
    assert proc.stdout == ""


def test_prod_refuses_inside_the_drill_seat() -> None:
    proc = _deploy("--target", "prod", "--yes", IKLIM_DRILL_SEAT_PID="1")
    assert proc.returncode == 1 and "inside the Swarm lab's drill seat" in proc.stderr


def test_prod_refuses_without_a_manager_engine(tmp_path: Path) -> None:
    proc = _deploy("--target", "prod", "--yes", DOCKER_HOST=f"unix://{tmp_path}/absent.sock")
    assert proc.returncode == 1
    assert "prod: no Docker engine at unix://" in proc.stderr
    assert proc.stdout == ""


def test_help_has_examples_and_exit_codes() -> None:
    proc = _deploy("--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout and "4 failed and rolled back" in proc.stdout


class FakeApplier(ServiceApplier):
    """FAKE: records calls; fails on one service (the loop's order is what is tested, not the Engine)."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.calls: list[str] = []

    def apply(self, service: str) -> int:
        self.calls.append(f"apply {service}")
        if service == self.failing:
            raise DeployError(f"{service}: a new task failed")
        return 7

    def rollback(self, service: str) -> None:
        self.calls.append(f"rollback {service}")


def test_allow_degraded_turns_only_the_named_clusters_into_a_warning() -> None:
    from iklim.deploy.steps import allow_degraded
    from iklim.plan.preflight import Check

    failed = Check("clusters-healthy", "fail", "4/5 components healthy", ("etcd: degraded (2/3 members)",))
    assert allow_degraded(failed, ()).verdict == "fail"
    assert allow_degraded(failed, ("redis",)).verdict == "fail"
    allowed = allow_degraded(failed, ("etcd",))
    assert allowed.verdict == "warn" and "allowed degraded: etcd" in allowed.message
    two = Check("clusters-healthy", "fail", "3/5", ("etcd: degraded", "redis: no master"))
    assert allow_degraded(two, ("etcd",)).verdict == "fail"


def test_allow_degraded_names_a_cluster() -> None:
    proc = _deploy("--target", "prod", "--yes", "--allow-degraded", "nosuch", DOCKER_HOST="unix:///nonexistent.sock")
    assert proc.returncode == 1 and "--allow-degraded nosuch: not a cluster (one of etcd, patroni" in proc.stderr
    assert proc.stdout == ""


def test_clusters_healthy_passes_when_no_cluster_runs_more_than_one_member() -> None:
    from iklim.plan.preflight import check_clusters

    assert check_clusters([]).verdict == "pass"
    assert check_clusters([("etcd", "degraded", "1/3 members")]).verdict == "fail"
