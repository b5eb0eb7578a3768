"""``run_deploy`` on the real Swarm lab (issue 14's first acceptance check), under the drill workload.

Every stateful cluster's member services (etcd, Patroni, Redis + Sentinel, RabbitMQ, Vault; MongoDB
is scaled to 0 here: no binary) get a harmless change that Swarm rolls as a restart (an environment
variable), deployed by :func:`iklim.deploy.runner.run_deploy` from the drill seat with the test's
own applier (``deploy_rolling_seated.py``), with the drill workloads writing to every cluster.
Expected: exactly one leader change per cluster, 0 acknowledged writes lost, the write outage per
cluster printed beside the drill issue's switchover targets. Then the original specs are deployed
again (the same runner), so the lab is left as the rendered tree deployed it, and checked so.

Run (one locked command per group, each under 10 minutes)::

    flock /tmp/iklim-lab.lock python3 -m pytest -m swarmlab -s tests/swarmlab/test_deploy_rolling.py -k etcd
    flock /tmp/iklim-lab.lock python3 -m pytest -m swarmlab -s tests/swarmlab/test_deploy_rolling.py -k vault
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from iklim.drill.swarmseat import run_in_seat
from iklim.model.loader import load_environment
from iklim.swarmlab import paths

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments/prod.yaml")
MANAGER = next(n.name for n in ENV.nodes if n.swarm_role == "manager")
SEATED = Path(__file__).with_name("deploy_rolling_seated.py")
#: README "Drills": the drill issue's switchover targets (seconds of client-observed outage).
TARGETS = {"patroni": 5.0, "redis": 5.0, "etcd": 2.0, "rabbitmq": 1.0, "vault": 3.0}


@pytest.fixture(scope="module")
def lab() -> None:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"


def _markers() -> list[str]:
    manager = docker.DockerClient(base_url=f"unix://{paths.node_socket(MANAGER)}", timeout=30)
    try:
        return [
            s.name
            for s in manager.services.list()
            if any(
                e.startswith("IKLIM_DEPLOY_TEST=")
                for e in s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []
            )
        ]
    finally:
        manager.close()


#: The clusters, in two deploys so that each (change, then restore) stays within the lab lock's
#: 10 minutes (about 17 s per member restart here, mostly the healthcheck's 10 s interval).
GROUPS = ("etcd,patroni,redis", "rabbitmq,vault")


@pytest.mark.parametrize("group", GROUPS)
def test_a_change_to_every_stateful_cluster_rolls_with_one_leader_change_and_no_loss(
    lab: None, tmp_path: Path, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IKLIM_DEPLOY_TEST_CLUSTERS", group)  # read by the seated script
    out = tmp_path / "deploy.json"
    manager = docker.DockerClient(base_url=f"unix://{paths.node_socket(MANAGER)}", timeout=60)
    try:
        code = run_in_seat(manager, ENV, [sys.executable, str(SEATED), str(out)])
    finally:
        manager.close()
    assert out.exists(), f"the seated deploy wrote no result (exit {code})"
    results = json.loads(out.read_text())
    deploy, restore = results["deploy"], results["restore"]
    print()
    held = {}
    for c in deploy["clusters"]:
        m = c["measured"] or {}
        target = TARGETS.get(c["cluster"])
        outage = m.get("outage_s")
        held[c["cluster"]] = outage is not None and target is not None and outage <= target
        print(
            f"{c['cluster']:<9} leader {c['leader_before']} -> {c['leader_after']} ({c['leader_changes']} change(s)), "
            f"hand-over {c['handover_s']} s; outage {outage} s (target <= {target} s: "
            f"{'holds' if held[c['cluster']] else 'MISSED'}), "
            f"{m.get('acknowledged')} acknowledged, {m.get('lost')} lost" + (f"; {m['note']}" if m.get("note") else "")
        )
    assert deploy["ok"], deploy["error"]
    assert restore["ok"], restore["error"]
    assert _markers() == [], "the lab was not restored to the rendered specs"
    changed = {c["cluster"]: c for c in deploy["clusters"]}
    for cluster in group.split(","):
        assert cluster in changed, f"{cluster} was not rolled"
        assert changed[cluster]["leader_changes"] == 1, changed[cluster]
        measured = changed[cluster]["measured"]
        assert measured and not measured["note"], measured
        assert measured["acknowledged"] > 50 and measured["lost"] == 0, measured
