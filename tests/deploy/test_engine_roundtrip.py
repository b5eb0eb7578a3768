"""``engine_spec`` is the inverse of ``live_spec``: what ``iklim plan`` predicts is what ``iklim deploy`` sends.

For every service of the rendered tree (the checked-in one, and the Swarm lab fixture's tree with
its live raw specs as the base), ``live_spec(engine_spec(desired)) == desired``. Each modelled field,
changed alone, comes back changed (a converter that dropped or misspelt a field fails here), live
fields the plan does not model survive, and a reference to a missing object is refused.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.deploy.api import DeployError
from iklim.deploy.engine import ObjectIds, engine_spec, ids_from_snapshot
from iklim.model.loader import load_environment
from iklim.plan.compose import Desired, config_hashes, desired_state
from iklim.plan.diff import field_changes
from iklim.plan.live import live_spec
from iklim.plan.targets import lab_overrides, stack_documents

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "plan" / "fixtures" / "swarm_lab"
STACKS = {"iklimco": "docker-stack-infra_db-prod.yml", "vault": "docker-stack-vault.yml"}


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "snapshot.json").read_text())
    return data


@pytest.fixture(scope="module")
def fixture_desired() -> Desired:
    documents = {stack: yaml.safe_load((FIXTURE / file).read_text()) for stack, file in STACKS.items()}
    hashes: dict[str, str] = json.loads((FIXTURE / "config_sha256.json").read_text())
    return desired_state(documents, hashes, {}, lab_overrides(documents))


@pytest.fixture(scope="module")
def tree_desired() -> Desired:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    documents = stack_documents(ROOT, env)
    return desired_state(documents, config_hashes(ROOT, documents), os.environ, None)


def _made_up_ids(desired: Desired) -> ObjectIds:
    """IDs for every object the tree references (as if each existed)."""
    configs = {r["name"] for s in desired.services.values() for r in s["configs"]}
    return ObjectIds(
        configs={n: f"cfg{i}" for i, n in enumerate(sorted(configs))},
        secrets={n: f"sec{i}" for i, n in enumerate(sorted(desired.secrets))},
        networks={n: f"net{i}" for i, n in enumerate(sorted(desired.networks))},
    )


def _roundtrip(name: str, spec: dict[str, Any], ids: ObjectIds, base: dict[str, Any] | None = None) -> dict[str, Any]:
    return live_spec(engine_spec(name, spec, ids, base), ids.network_names)


def test_every_service_of_the_rendered_tree_round_trips(tree_desired: Desired) -> None:
    ids = _made_up_ids(tree_desired)
    assert len(tree_desired.services) > 20
    for name, spec in tree_desired.services.items():
        assert _roundtrip(name, spec, ids) == spec, name


def test_every_lab_service_round_trips_over_its_live_spec(fixture_desired: Desired, snapshot: dict[str, Any]) -> None:
    """Starting from the live raw spec (what deploy does for an existing service) changes nothing the plan sees."""
    ids = ids_from_snapshot(snapshot)
    raw = {s["name"]: s["spec"] for s in snapshot["services"]}
    for name, spec in fixture_desired.services.items():
        sent = engine_spec(name, spec, ids, raw[name])
        assert live_spec(sent, ids.network_names) == spec, name
        assert field_changes(spec, live_spec(sent, ids.network_names)) == [], name
        refs = sent["TaskTemplate"]["ContainerSpec"].get("Configs", [])
        assert all(ids.configs[r["ConfigName"]] == r["ConfigID"] for r in refs), name


def test_an_unchanged_lab_service_is_sent_exactly_as_it_is_live(
    fixture_desired: Desired, snapshot: dict[str, Any]
) -> None:
    """The update of an unchanged service is a no-op: the same JSON, so Swarm replaces no task."""
    ids = ids_from_snapshot(snapshot)
    for service in snapshot["services"]:
        name = service["name"]
        assert engine_spec(name, fixture_desired.services[name], ids, service["spec"]) == service["spec"], name


def test_a_reordered_list_keeps_the_live_order(fixture_desired: Desired, snapshot: dict[str, Any]) -> None:
    ids = ids_from_snapshot(snapshot)
    name = "iklimco_patroni-1"
    base = copy.deepcopy(next(s["spec"] for s in snapshot["services"] if s["name"] == name))
    base["TaskTemplate"]["ContainerSpec"]["Secrets"].reverse()
    base["EndpointSpec"]["Ports"].reverse()
    assert engine_spec(name, fixture_desired.services[name], ids, base) == base


_S = 1_000_000_000
MUTATIONS: dict[str, Any] = {
    "image": "example.org/other:2",
    "command": ["/bin/other"],
    "args": ["--flag", "x y"],
    "env": ["A=1", "B=two words"],
    "hostname": "other-host",
    "user": "1000:1000",
    "workdir": "/srv",
    "container_labels": {"a": "b", "com.docker.stack.namespace": "iklimco"},
    "mounts": [
        {"type": "volume", "source": "iklimco_v", "target": "/v", "read_only": False, "driver": "local"},
        {"type": "bind", "source": "/etc/x", "target": "/x", "read_only": True},
    ],
    "healthcheck": {
        "test": ["CMD", "true"], "interval": 7 * _S, "timeout": 3 * _S, "retries": 9, "start_period": 11 * _S,
    },
    "stop_grace_period": 77 * _S,
    "stop_signal": "SIGINT",
    "constraints": ["node.labels.type == db"],
    "preferences": ["node.labels.zone"],
    "max_replicas": 2,
    "resources": {"limits.nano_cpus": 1_500_000_000, "limits.memory_bytes": 2**30, "reservations.memory_bytes": 2**20},
    "restart_policy": {"condition": "on-failure", "delay": 5 * _S, "max_attempts": 3, "window": 20 * _S},
    "ports": [{"protocol": "udp", "target": 53, "published": 5353, "mode": "host"}],
    "endpoint_mode": "vip",
    "labels": {"x": "y", "com.docker.stack.namespace": "iklimco"},
    "update_config": {
        "parallelism": 2, "delay": 3 * _S, "failure_action": "rollback", "monitor": 90 * _S,
        "max_failure_ratio": 0.5, "order": "start-first",
    },
    "rollback_config": {
        "parallelism": 0, "delay": 1 * _S, "failure_action": "continue", "monitor": 4 * _S,
        "max_failure_ratio": 0.0, "order": "stop-first",
    },
    "replicas": 3,
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(MUTATIONS))
def test_each_field_changed_alone_comes_back_changed(
    field: str, fixture_desired: Desired, snapshot: dict[str, Any]
) -> None:
    ids = ids_from_snapshot(snapshot)
    name = "iklimco_patroni-1"
    base = next(s["spec"] for s in snapshot["services"] if s["name"] == name)
    spec = copy.deepcopy(fixture_desired.services[name])
    assert spec[field] != MUTATIONS[field]
    spec[field] = MUTATIONS[field]
    back = live_spec(engine_spec(name, spec, ids, base), ids.network_names)
    assert back == spec
    assert [c.field for c in field_changes(back, live_spec(base, ids.network_names))] == [field]


def test_config_secret_and_network_references_carry_live_ids(
    fixture_desired: Desired, snapshot: dict[str, Any]
) -> None:
    ids = ids_from_snapshot(snapshot)
    sent = engine_spec("iklimco_patroni-1", fixture_desired.services["iklimco_patroni-1"], ids)
    container = sent["TaskTemplate"]["ContainerSpec"]
    assert {s["SecretName"]: s["SecretID"] for s in container["Secrets"]} == {
        s["SecretName"]: ids.secrets[s["SecretName"]] for s in container["Secrets"]
    }
    assert [n["Target"] for n in sent["TaskTemplate"]["Networks"]] == [ids.networks["iklim-overlay"]]
    assert sent["Labels"]["com.docker.stack.image"] == container["Image"]


def test_unmodelled_live_fields_survive_and_reported_extras_go(
    fixture_desired: Desired, snapshot: dict[str, Any]
) -> None:
    ids = ids_from_snapshot(snapshot)
    name = "iklimco_redis-1"
    base = copy.deepcopy(next(s["spec"] for s in snapshot["services"] if s["name"] == name))
    base["TaskTemplate"]["LogDriver"] = {"Name": "json-file", "Options": {"max-size": "10m"}}
    base["TaskTemplate"]["ForceUpdate"] = 4
    base["TaskTemplate"]["ContainerSpec"]["Init"] = True  # plan reports other.Init: the deploy removes it
    assert "other.Init" in live_spec(base, ids.network_names)
    sent = engine_spec(name, fixture_desired.services[name], ids, base)
    assert sent["TaskTemplate"]["LogDriver"] == base["TaskTemplate"]["LogDriver"]
    assert sent["TaskTemplate"]["ForceUpdate"] == 4
    assert "Init" not in sent["TaskTemplate"]["ContainerSpec"]
    assert base["TaskTemplate"]["ContainerSpec"]["Init"] is True  # the base is not modified


def test_a_pinned_live_image_is_kept_when_the_tag_is_unchanged(
    fixture_desired: Desired, snapshot: dict[str, Any]
) -> None:
    ids = ids_from_snapshot(snapshot)
    name = "iklimco_redis-1"
    base = copy.deepcopy(next(s["spec"] for s in snapshot["services"] if s["name"] == name))
    tag = fixture_desired.services[name]["image"]
    pinned = f"{tag}@sha256:{'a' * 64}"
    base["TaskTemplate"]["ContainerSpec"]["Image"] = pinned
    sent = engine_spec(name, fixture_desired.services[name], ids, base)
    assert sent["TaskTemplate"]["ContainerSpec"]["Image"] == pinned


def test_a_missing_secret_is_refused_by_name(fixture_desired: Desired, snapshot: dict[str, Any]) -> None:
    ids = ids_from_snapshot(snapshot)
    secrets = {k: v for k, v in ids.secrets.items() if k != "redis_password"}
    with pytest.raises(DeployError, match="iklimco_redis-1: secret 'redis_password' does not exist"):
        engine_spec(
            "iklimco_redis-1",
            fixture_desired.services["iklimco_redis-1"],
            ObjectIds(ids.configs, secrets, ids.networks),
        )
