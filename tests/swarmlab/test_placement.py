"""Images go only to the nodes whose constraints can run one of their services (real stacks, model nodes)."""

from __future__ import annotations

from pathlib import Path

from iklim.model.loader import load_environment
from iklim.swarmlab.nodes import lab_nodes
from iklim.swarmlab.override import stack_documents
from iklim.swarmlab.placement import images_per_node, satisfies
from iklim.swarmlab.standins import UNAVAILABLE

REPO = Path(__file__).resolve().parents[2]


def test_images_follow_the_placement_constraints() -> None:
    nodes = lab_nodes(load_environment(REPO / "environments" / "prod.yaml"))
    plan = images_per_node(stack_documents(REPO), nodes)
    db = {"quay.io/coreos/etcd:v3.5.17", "ghcr.io/iklimco/patroni:4.0.4-pg16"}
    for host in ("iklim-db-01", "iklim-db-02", "iklim-db-03"):
        assert set(plan[host]) == db
    assert "lscr.io/linuxserver/swag:3.1.0" in plan["iklim-app-01"]
    assert "lscr.io/linuxserver/swag:3.1.0" not in plan["iklim-app-02"]
    assert [h for h, refs in plan.items() if "prom/prometheus:v2.55.1" in refs] == ["iklim-app-02"]
    assert not any(ref in UNAVAILABLE for refs in plan.values() for ref in refs)
    assert all("hashicorp/vault:1.18.3" in plan[h] for h in ("iklim-app-01", "iklim-app-02", "iklim-app-03"))


def test_satisfies_reads_hostname_role_and_labels() -> None:
    nodes = {n.hostname: n for n in lab_nodes(load_environment(REPO / "environments" / "prod.yaml"))}
    assert satisfies(nodes["iklim-app-02"], ["node.role == manager", "node.labels.type == service"])
    assert not satisfies(nodes["iklim-db-01"], ["node.role == manager"])
    assert not satisfies(nodes["iklim-db-01"], ["node.labels.type != db"])
    assert not satisfies(nodes["iklim-app-01"], ["node.hostname == iklim-app-02"])
