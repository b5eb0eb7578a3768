"""bench/bench_drill.py's matrix: the clusters and faults come from the drill's own registry (a
combination the driver does not offer is skipped with a line, so faults and clusters added later
join the matrix by themselves), and the table carries p50/p95/max, the losses and the target."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from iklim.drill.driver import FAULTS
from iklim.drill.labdriver import LabDriver
from iklim.drill.labseams import SEAMS

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_drill.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_drill", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lab_drivers_registry_makes_the_matrix(bench: ModuleType) -> None:
    driver = LabDriver.__new__(LabDriver)  # the registry only: no lab context needed
    driver.seams = {}
    assert set(bench.offered_faults(driver, "etcd")) <= set(FAULTS)
    assert "isolate" in bench.offered_faults(driver, "etcd")
    clusters = tuple(SEAMS)
    todo, skipped = bench.plan(clusters, lambda c: bench.offered_faults(driver, c), None, bench.MATRIX_FAULTS)
    offered = {c: [f for f in bench.MATRIX_FAULTS if f in driver.faults(c)] for c in clusters}
    assert todo == [(c, f) for c in clusters for f in offered[c]]
    assert len(skipped) == sum(len(bench.MATRIX_FAULTS) - len(offered[c]) for c in clusters)
    assert all(line.startswith("skip: ") and "not offered" in line for line in skipped)


def test_a_driver_offering_faults_per_cluster_is_asked(bench: ModuleType) -> None:
    class Offers:
        def faults(self, cluster: str) -> tuple[str, ...]:
            return ("kill", "switchover") if cluster == "patroni" else ("kill",)

    offered = Offers()
    todo, skipped = bench.plan(
        ("etcd", "patroni", "vault"), lambda c: bench.offered_faults(offered, c), ["vault", "patroni"], ["switchover"]
    )
    assert todo == [("patroni", "switchover")]
    assert skipped == ["skip: vault x switchover: not offered by the driver (offers kill)"]
    with pytest.raises(ValueError, match="unknown cluster 'mongo'"):
        bench.plan(("etcd",), lambda c: ("kill",), ["mongo"], ["kill"])


def test_the_table_quotes_the_drills_summary_and_the_target(bench: ModuleType) -> None:
    row = {
        "cluster": "etcd",
        "fault": "kill",
        "runs": 10,
        "recovery_s": {"p50": 1.2, "p95": 2.5, "max": 2.6, "missing": 0},
        "acknowledged": 1860,
        "lost": 0,
        "recovered": 1,
        "unexpected": 0,
        "duplicated": 0,
        "passed": True,
    }
    lines = bench.table([row, {**row, "cluster": "redis", "lost": 3, "passed": False}]).splitlines()
    assert lines[2] == "| etcd | kill | 10 | 1.20 / 2.50 / 2.60 | 1,860 | 0 | 1 | 0 | 0 | <= 2 s | target missed |"
    assert lines[3].endswith("| 3 | 1 | 0 | 0 | <= 5 s | FAIL |")
