"""``iklim plan --target swarm-lab`` on the running Swarm lab (issue 14): the unchanged tree plans nothing
and every pre-flight check passes; a copy of the tree
with one environment variable changed plans exactly that service. Each plan reads the real engines
through the Engine API; nothing is deployed. Brings the lab up with ``iklim swarm-lab up``
(idempotent: a running lab is reused), as the acceptance module does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


@pytest.fixture(scope="module")
def lab() -> None:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True, cwd=ROOT)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"


def _plan(*args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "plan", "--target", "swarm-lab", "--format", "json", *args],
        capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=60,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    document: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, document


def test_the_unchanged_tree_plans_nothing_and_preflight_passes(lab: None) -> None:
    code, document = _plan()
    assert document["schema"] == "iklim.plan/v1"
    changed = [s for s in document["services"] if s["action"] != "unchanged"]
    assert changed == [] and document["empty"] is True
    assert code == 0
    verdicts = {c["name"]: c["verdict"] for c in document["preflight"]}
    assert set(verdicts.values()) == {"pass"}, document["preflight"]
    assert set(verdicts) == {
        "manager-quorum", "placement", "images", "host-ports-start-first", "monitor-covers-healthcheck",
        "configs-secrets", "stop-grace-period",
    }  # fmt: skip
    assert document["seconds"]["preflight"] <= 2.0, document["seconds"]


def test_one_changed_variable_plans_exactly_that_service(lab: None, tmp_path: Path) -> None:
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml"):
        shutil.copyfile(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    stack = tmp_path / "docker-stack-infra_db-prod.yml"
    document = yaml.safe_load(stack.read_text())
    document["services"]["etcd-2"]["environment"]["ETCD_AUTO_COMPACTION_RETENTION"] = "2h"
    stack.write_text(yaml.safe_dump(document, sort_keys=False))
    code, planned = _plan("--tree", str(tmp_path))
    changed = {s["name"]: s for s in planned["services"] if s["action"] != "unchanged"}
    assert list(changed) == ["iklimco_etcd-2"]
    assert changed["iklimco_etcd-2"]["action"] == "rolling-restart"
    assert changed["iklimco_etcd-2"]["changes"] == [
        {"field": "env", "effect": "rolling-restart", "detail": "env: ETCD_AUTO_COMPACTION_RETENTION changed"}
    ]
    assert code == 2
