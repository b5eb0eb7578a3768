"""Issue 10 on the Swarm lab: ``iklim swarm-lab probe-network`` against the model, cell by cell,
then mutations of the boundary, each of which must change exactly the cells predicted here.

Marked ``swarmlab_full``: it needs ``swarm-lab up`` (the runbook installs the DOCKER-USER rules).
A firewall mutation is applied to a copy of the rendered tree and given to the probe with
``--firewall`` (only the lab's Hetzner firewall changes; the stacks are not redeployed); the
DOCKER-USER mutation unhooks the runbook's chains from ``DOCKER-USER`` on every node, as if the
runbook had not run the scripts, and hooks them back afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iklim.model.loader import load_environment
from iklim.model.ports import port_of
from iklim.swarmlab import mutations, public
from iklim.swarmlab.nodes import LabNode

REPO = Path(__file__).resolve().parents[2]
ENV = load_environment(REPO / "environments" / "prod.yaml")
DB_NODES = [n.name for n in ENV.nodes if n.role == "db"]
APP_NODES = [n.name for n in ENV.nodes if n.role == "service"]
Key = tuple[str, str, int]

pytestmark = pytest.mark.swarmlab_full


def iklim(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    argv = [sys.executable, "-m", "iklim", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def probe(firewall: Path | None = None) -> dict[str, object]:
    extra = ["--firewall", str(firewall)] if firewall else []
    proc = iklim("swarm-lab", "probe-network", "--format", "json", *extra, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def states(report: dict[str, object]) -> list[str]:
    """The differing cells with the state each one had (the assertion message of a failure)."""
    rows = report["differences"]
    assert isinstance(rows, list)
    return [f"{r['source']} -> {r['target']}:{r['port']} {r['state']}" for r in rows]


def diffs(report: dict[str, object]) -> set[Key]:
    rows = report["differences"]
    assert isinstance(rows, list)
    return {(r["source"], r["target"], r["port"]) for r in rows}


@pytest.fixture(scope="module")
def lab(_session_lab: None, model_nodes: list[LabNode]) -> list[LabNode]:
    """The whole lab (idempotent ``swarm-lab up``); the session fixture takes it down at the end."""
    proc = iklim("swarm-lab", "up", "--timeout", "300")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return model_nodes


def _ns_iptables(node: LabNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", node.namespace, "iptables", *args], capture_output=True, text=True)


@pytest.fixture
def no_docker_user(lab: list[LabNode]) -> Iterator[None]:
    """Unhook the runbook's chains (``-j IKLIM-*``) from DOCKER-USER on every node; hook them back."""
    hooked: dict[str, list[str]] = {}
    for node in lab:
        listed = _ns_iptables(node, "-S", "DOCKER-USER").stdout.splitlines()
        hooked[node.hostname] = [
            m.group(1) for line in listed if (m := re.fullmatch(r"-A DOCKER-USER -j (IKLIM-\S+)", line))
        ]
        assert hooked[node.hostname], f"{node.hostname}: no DOCKER-USER rules from the runbook"
        for chain in hooked[node.hostname]:
            assert _ns_iptables(node, "-D", "DOCKER-USER", "-j", chain).returncode == 0
    try:
        yield
    finally:
        for node in lab:
            for chain in reversed(hooked[node.hostname]):
                _ns_iptables(node, "-I", "DOCKER-USER", "1", "-j", chain)


def _mutated(tmp: Path, edit: str) -> Path:
    tree = mutations.copy_tree(REPO, tmp)
    path = tree / public.FIREWALL_TF
    text = path.read_text()
    if edit == "etcd":
        text = mutations.drop_source(text, "db", port_of(ENV.services.etcd, "client"), str(ENV.network.app_subnet))
    else:
        text = mutations.widen(text, "db", port_of(ENV.services.patroni, "postgres"))
    path.write_text(text)
    return path


def _guarded_private() -> set[Key]:
    """private-other -> every listening DB host-mode port and Vault's API on the private addresses."""
    db_ports = [p.port for c in (ENV.services.etcd, ENV.services.patroni) for p in c.ports]
    cells = {("private-other", f"{n} private", port) for n in DB_NODES for port in db_ports}
    api = port_of(ENV.services.vault, "api")
    return cells | {("private-other", f"{n} private", api) for n in APP_NODES}


def _postgres_public(sources: list[str]) -> set[Key]:
    pg = port_of(ENV.services.patroni, "postgres")
    return {(s, f"{n} public", pg) for s in sources for n in DB_NODES if s != n}


def test_probe_equals_the_model_cell_by_cell(lab: list[LabNode]) -> None:
    proc = iklim("swarm-lab", "probe-network", timeout=300)
    print(proc.stdout)  # the matrix (pytest -s shows it)
    report = probe()
    cells = report["cells"]
    assert isinstance(cells, list) and len(cells) > 1000
    assert diffs(report) == set(), proc.stdout[-4000:]
    assert proc.returncode == 0
    times = report["times"]
    assert isinstance(times, dict) and times["total"] <= 20.0, times
    opened = {(c["source"], c["target"], c["port"]) for c in cells if c["state"] == "open"}
    assert ("internet", "iklim-app-01 public", 443) in opened  # the matrix is not all closed
    assert ("overlay", "redis-1", 6379) in opened
    mgmt = ENV.services.rabbitmq.management_host
    statuses = {(c["source"], c["target"]): c["state"] for c in cells if c["target"].startswith(mgmt)}
    assert statuses[("internet", f"{mgmt} via iklim-app-01 public")] == "http:403"
    assert statuses[("iklim-app-02", f"{mgmt} via iklim-app-01 private")] == "http:200"


def test_deleting_the_app_subnet_etcd_rule_changes_no_packet(lab: list[LabNode], tmp_path: Path) -> None:
    """Hetzner firewalls filter the public interface only, where no private source ever arrives:
    the rule's loss shows in ``iklim check`` (unit test), not in a single packet."""
    report = probe(_mutated(tmp_path, "etcd"))
    assert diffs(report) == set(), states(report)


def test_widening_a_db_port_is_held_by_docker_user(lab: list[LabNode], tmp_path: Path) -> None:
    report = probe(_mutated(tmp_path, "widen"))
    assert diffs(report) == set(), states(report)


def test_dropping_docker_user_opens_the_db_ports_to_the_private_network(no_docker_user: None) -> None:
    report = probe()
    assert diffs(report) == _guarded_private(), states(report)
    rows = report["differences"]
    assert isinstance(rows, list)
    # an open port where the model says closed is a difference at once: never probed again
    assert {(r["first_state"], r["state"]) for r in rows} == {("", "open")}, states(report)


def test_both_open_postgres_to_the_world(no_docker_user: None, tmp_path: Path) -> None:
    public_sources = ["internet", "operator", *DB_NODES, *APP_NODES, "overlay", "other-overlay"]
    report = probe(_mutated(tmp_path, "widen"))
    assert diffs(report) == _guarded_private() | _postgres_public(public_sources), states(report)
