"""Grafana dashboards from the model: provisioned by the rendered provider, one per component plus
an overview, every panel query valid PromQL for the real ``promtool`` (each query is checked as a
recording rule, which promtool parses with Prometheus's own parser)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from iklim.components.dashboards import DIR, MOUNT_DIR, PROVIDER_PATH, PROVIDER_TARGET, SCHEMA_VERSION, panels
from iklim.model.schema import Environment
from iklim.render.stacks import STACK_FILES
from iklim.render.tree import Tree

PROMTOOL = shutil.which("promtool")


def _dashboards(prod_tree: Tree) -> dict[str, dict[str, object]]:
    return {
        path.rsplit("/", 1)[-1].removesuffix(".json"): json.loads(f.content)
        for path, f in prod_tree.items()
        if path.startswith(f"{DIR}/") and path.endswith(".json")
    }


def test_one_dashboard_per_component_and_an_overview(prod_env: Environment, prod_tree: Tree) -> None:
    found = _dashboards(prod_tree)
    assert set(found) == {"overview", *panels(prod_env)}
    uids = [d["uid"] for d in found.values()]
    assert len(uids) == len(set(uids))
    for doc in found.values():
        assert doc["schemaVersion"] == SCHEMA_VERSION
        ids = [p["id"] for p in doc["panels"]]  # type: ignore[attr-defined]
        assert ids and len(ids) == len(set(ids))


def test_grafana_loads_the_dashboards_through_the_rendered_provider(prod_tree: Tree) -> None:
    provider = yaml.safe_load(prod_tree[PROVIDER_PATH].content)
    (only,) = provider["providers"]
    assert only["type"] == "file" and only["options"]["path"] == MOUNT_DIR
    stack = yaml.safe_load(prod_tree[STACK_FILES["infra"]].content)
    mounts = {c["target"]: stack["configs"][c["source"]]["file"] for c in stack["services"]["grafana"]["configs"]}
    assert mounts[PROVIDER_TARGET] == f"./{PROVIDER_PATH}"
    for stem in _dashboards(prod_tree):
        assert mounts[f"{MOUNT_DIR}/{stem}.json"] == f"./{DIR}/{stem}.json"


def test_every_panel_query_is_valid_promql(prod_tree: Tree, tmp_path: Path) -> None:
    assert PROMTOOL, "promtool is not installed: run scripts/install-deps.sh (Debian package prometheus)"
    rules = [
        {"record": f"iklim:{stem}:panel{p['id']}", "expr": t["expr"]}
        for stem, doc in _dashboards(prod_tree).items()
        for p in doc["panels"]  # type: ignore[attr-defined]
        for t in p["targets"]
    ]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules)} rules found" in done.stdout
    path.write_text(yaml.safe_dump({"groups": [{"name": "p", "rules": [{"record": "x:y", "expr": "sum(up"}]}]}))
    assert subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, timeout=60).returncode != 0


def test_the_lag_panel_draws_the_model_threshold(prod_env: Environment, prod_tree: Tree) -> None:
    doc = _dashboards(prod_tree)["patroni"]
    (lag,) = [p for p in doc["panels"] if p["title"] == "Replication lag"]  # type: ignore[attr-defined]
    steps = lag["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == prod_env.services.patroni.max_replica_lag_bytes
