"""``iklim drill run --target swarm-lab`` on the real Swarm lab (issue 11): one kill of the etcd
leader and one of the Patroni leader's task container, each with 0 acknowledged writes lost and a
recovery time reported; nothing left behind (no seat service, no journal entry, no paused task);
and a drill killed with SIGKILL mid-``pause`` healed by ``iklim drill heal --target swarm-lab``.

Runs after the acceptance module (which leaves the lab up: ``swarm-lab up`` is idempotent here).
Each drill is the real command as an operator types it on this machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
import pytest

from iklim.drill.swarmseat import SEAT_LABEL
from iklim.model.loader import load_environment
from iklim.swarmlab import paths

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments/prod.yaml")
MANAGER = next(n.name for n in ENV.nodes if n.swarm_role == "manager")


@pytest.fixture(scope="module")
def lab() -> None:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"


def _drill(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    argv = [sys.executable, "-m", "iklim", "drill", "run", "--target", "swarm-lab", "--format", "json", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.stdout.strip(), f"no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc, json.loads(proc.stdout)


def _nothing_left() -> None:
    manager = docker.DockerClient(base_url=f"unix://{paths.node_socket(MANAGER)}", timeout=30)
    try:
        assert not manager.services.list(filters={"label": SEAT_LABEL}), "the drill seat was not removed"
    finally:
        manager.close()
    journal = paths.STATE / "drill" / "journal.json"
    assert not journal.exists() or not json.loads(journal.read_text())["faults"], journal.read_text()


@pytest.mark.parametrize("cluster", ["etcd", "patroni"])
def test_a_leader_kill_loses_no_acknowledged_write_and_reports_recovery(lab: None, cluster: str) -> None:
    proc, report = _drill("--cluster", cluster)
    [run] = report["runs"]
    print(f"{cluster}: {json.dumps(run['recovery'])} {json.dumps(run['accounting'])}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report["target"] == "swarm-lab"
    assert run["accounting"]["lost"] == 0
    assert run["accounting"]["acknowledged"] > 50  # the clients really wrote through the overlay
    assert run["recovery"]["recovery_s"] is not None and run["recovery"]["recovery_s"] > 0
    assert run["new_leader"] not in (None, run["member"])
    _nothing_left()


def _paused(entry: dict[str, Any]) -> bool:
    node, container = entry["undo"]["node"], entry["undo"]["container"]
    engine = docker.DockerClient(base_url=f"unix://{paths.node_socket(node)}", timeout=30)
    try:
        return bool(engine.api.inspect_container(container)["State"]["Paused"])
    finally:
        engine.close()


def test_heal_after_the_drill_was_killed_mid_pause(lab: None) -> None:
    """SIGKILL of the seated drill while the etcd leader's task is paused leaves the fault journaled
    and the container paused; `iklim drill heal --target swarm-lab` unpauses it and empties the journal."""
    journal = paths.STATE / "drill" / "journal.json"
    argv = [sys.executable, "-m", "iklim", "drill", "run", "--target", "swarm-lab", "--cluster", "etcd"]
    drill = subprocess.Popen([*argv, "--fault", "pause"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, entry = time.monotonic() + 120, None
        while entry is None or not _paused(entry):
            assert time.monotonic() < deadline and drill.poll() is None, "no paused, journaled leader in 120 s"
            with suppress(OSError, ValueError, KeyError, IndexError):
                entry = json.loads(journal.read_text())["faults"][0]
            time.sleep(0.1)
        # the seated drill: the wrapper's only child (nsenter, unshare and sh exec into it)
        [seated] = Path(f"/proc/{drill.pid}/task/{drill.pid}/children").read_text().split()
        os.kill(int(seated), signal.SIGKILL)
        assert drill.wait(60) == 128 + signal.SIGKILL
    finally:
        if drill.poll() is None:
            drill.kill()
            drill.wait()
    assert _paused(entry) and json.loads(journal.read_text())["faults"], "the fault must outlive the drill"
    heal = subprocess.run(
        [sys.executable, "-m", "iklim", "drill", "heal", "--target", "swarm-lab"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert heal.returncode == 0, heal.stderr[-2000:]
    assert f"healed: etcd pause {entry['member']}" in heal.stdout
    assert not _paused(entry)
    _nothing_left()
