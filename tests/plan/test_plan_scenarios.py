"""``iklim plan`` against a real snapshot of the Swarm lab (``fixtures/swarm_lab/``, tests/plan/capture_snapshot.py).

The fixture holds the lab's live state (Engine API: services, configs, secrets without data,
networks, nodes, each node's images) and the tree it was deployed from. The unchanged tree plans
nothing; each mutated copy of the tree plans exactly the services and fields the mutation
touches, with the action Swarm would take (a task replaced, or only the service's metadata).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.plan.compose import desired_state
from iklim.plan.diff import Plan, plan
from iklim.plan.targets import lab_overrides

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "swarm_lab"
STACKS = {"iklimco": "docker-stack-infra_db-prod.yml", "vault": "docker-stack-vault.yml"}

Edit = Callable[[dict[str, Any], dict[str, str]], None]


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "snapshot.json").read_text())
    return data


@pytest.fixture(scope="module")
def tree() -> tuple[dict[str, Any], dict[str, str]]:
    documents = {stack: yaml.safe_load((FIXTURE / file).read_text()) for stack, file in STACKS.items()}
    hashes: dict[str, str] = json.loads((FIXTURE / "config_sha256.json").read_text())
    return documents, hashes


def _plan(tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any], edit: Edit | None = None) -> Plan:
    documents, hashes = copy.deepcopy(tree[0]), dict(tree[1])
    if edit is not None:
        edit(documents, hashes)
    return plan(desired_state(documents, hashes, {}, lab_overrides(documents)), snapshot)


def _changed(result: Plan) -> dict[str, tuple[str, list[str]]]:
    return {s.name: (s.action, [c.field for c in s.changes]) for s in result.changed}


def test_the_fixture_holds_no_secret_value(snapshot: dict[str, Any]) -> None:
    """Secrets come back without data from the Engine API; no env variable carries a password literal."""
    assert all(set(s) == {"id", "name", "labels"} for s in snapshot["secrets"])
    text = json.dumps(snapshot)
    assert "SecretData" not in text and '"Data"' not in text
    for service in snapshot["services"]:
        for item in service["spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []:
            key, _, value = item.partition("=")
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", key) and not key.endswith("_FILE"):
                assert value.startswith("/run/secrets/") or not value, key


def test_the_unchanged_tree_plans_nothing(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    result = _plan(tree, snapshot)
    assert _changed(result) == {}
    assert result.empty
    assert len(result.services) == 34 and {s.action for s in result.services} == {"unchanged"}


def _service(documents: dict[str, Any], name: str) -> dict[str, Any]:
    stack, key = name.split("_", 1)
    service: dict[str, Any] = documents[stack]["services"][key]
    return service


def test_an_image_change_restarts_that_member(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_etcd-2")["image"] = "quay.io/coreos/etcd:v3.5.18"

    result = _plan(tree, snapshot, edit)
    assert _changed(result) == {"iklimco_etcd-2": ("rolling-restart", ["image"])}
    assert result.changed[0].changes[0].detail == "image: quay.io/coreos/etcd:v3.5.17 -> quay.io/coreos/etcd:v3.5.18"


def test_an_env_change_names_the_variable_not_its_value(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_etcd-3")["environment"]["ETCD_QUOTA_BACKEND_BYTES"] = "8589934592"

    result = _plan(tree, snapshot, edit)
    assert _changed(result) == {"iklimco_etcd-3": ("rolling-restart", ["env"])}
    assert result.changed[0].changes[0].detail == "env: ETCD_QUOTA_BACKEND_BYTES changed"
    assert "8589934592" not in result.changed[0].changes[0].detail


def test_config_content_rolls_the_services_that_mount_it(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    """A changed file is a new content-addressed config: created, mounted instead, the old one unused."""
    old = tree[0]["iklimco"]["configs"]["prometheus_prometheus.yml"]["name"]

    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        declared = d["iklimco"]["configs"]["prometheus_prometheus.yml"]
        declared["name"] = old[:-10] + "0123456789"
        h[declared["file"]] = "f" * 64

    result = _plan(tree, snapshot, edit)
    assert _changed(result) == {"iklimco_prometheus": ("rolling-restart", ["configs"])}
    assert result.configs[old[:-10] + "0123456789"] == "create" and result.configs[old] == "unused"
    assert not result.empty


def test_secret_rotation_rolls_every_service_that_mounts_it(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    """A rotated secret is a new Docker secret (secrets are immutable) mounted under the old file name."""

    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        for service in d["iklimco"]["services"].values():
            service["secrets"] = [
                {"source": "redis_password_v2", "target": "redis_password"} if s == "redis_password" else s
                for s in service.get("secrets", [])
            ]
        d["iklimco"]["secrets"]["redis_password_v2"] = {"external": True}

    result = _plan(tree, snapshot, edit)
    users = [f"iklimco_redis-{i}" for i in (1, 2, 3)] + [f"iklimco_redis-sentinel-{i}" for i in (1, 2, 3)]
    assert _changed(result) == {name: ("rolling-restart", ["secrets"]) for name in [*users, "iklimco_redis-exporter"]}
    assert result.secrets["redis_password_v2"] == "missing"  # the deploy needs it created first


def test_placement_to_another_node_restarts_and_a_still_matching_one_does_not(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "vault_vault-3")["deploy"]["placement"]["constraints"][1] = "node.hostname == iklim-app-02"
        _service(d, "vault_vault-1")["deploy"]["placement"]["constraints"].append("node.role == manager")

    result = _plan(tree, snapshot, edit)
    assert _changed(result) == {
        "vault_vault-3": ("rolling-restart", ["constraints"]),
        "vault_vault-1": ("metadata-only", ["constraints"]),  # iklim-app-01 is a manager: its task stays
    }


def test_a_published_port_change_restarts(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_patroni-2")["ports"][0]["published"] = 15432

    assert _changed(_plan(tree, snapshot, edit)) == {"iklimco_patroni-2": ("rolling-restart", ["ports"])}


def test_an_update_policy_change_is_metadata_only(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_rabbitmq-1")["deploy"]["update_config"]["monitor"] = "140s"
        _service(d, "iklimco_rabbitmq-2")["deploy"]["labels"] = {"org.iklim.note": "x"}

    assert _changed(_plan(tree, snapshot, edit)) == {
        "iklimco_rabbitmq-1": ("metadata-only", ["update_config"]),
        "iklimco_rabbitmq-2": ("metadata-only", ["labels"]),
    }


def test_mode_change_is_a_recreate_and_services_come_and_go(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        swag = _service(d, "iklimco_swag-exporter")
        swag["deploy"].pop("replicas")
        swag["deploy"]["mode"] = "global"
        d["iklimco"]["services"]["alertmanager-2"] = d["iklimco"]["services"].pop("alertmanager")

    result = _plan(tree, snapshot, edit)
    changed = _changed(result)
    assert changed == {
        "iklimco_swag-exporter": ("recreate", ["replicas", "mode"]),
        "iklimco_alertmanager-2": ("create", []),
        "iklimco_alertmanager": ("remove", []),
    }


def test_a_healthcheck_and_a_stop_grace_change_restart(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_redis-2")["healthcheck"]["retries"] = 6
        _service(d, "iklimco_redis-3")["stop_grace_period"] = "20s"

    assert _changed(_plan(tree, snapshot, edit)) == {
        "iklimco_redis-2": ("rolling-restart", ["healthcheck"]),
        "iklimco_redis-3": ("rolling-restart", ["stop_grace_period"]),
    }


def test_a_service_at_zero_replicas_replaces_no_task(
    tree: tuple[dict[str, Any], dict[str, str]], snapshot: dict[str, Any]
) -> None:
    """The lab scales the MongoDB members to 0 (no image here): a command change there restarts nothing."""
    assert not next(s for s in snapshot["services"] if s["name"] == "iklimco_mongodb-2").get("tasks")

    def edit(d: dict[str, Any], h: dict[str, str]) -> None:
        _service(d, "iklimco_mongodb-2")["command"].append("--quiet")
        _service(d, "iklimco_etcd-2")["image"] = "quay.io/coreos/etcd:v3.5.18"

    result = _plan(tree, snapshot, edit)
    assert _changed(result) == {
        "iklimco_mongodb-2": ("metadata-only", ["args"]),  # compose command: the Engine's Args
        "iklimco_etcd-2": ("rolling-restart", ["image"]),
    }
    mongo = next(s for s in result.changed if s.name == "iklimco_mongodb-2")
    assert mongo.changes[0].detail.endswith("(0 replicas: no task to replace)")
