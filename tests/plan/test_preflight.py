"""Pre-flight checks: each passes on the rendered tree and fails (or warns) on a mutated copy.

The static checks run on the real rendered stacks against the model's nodes; the live-only ones
(quorum, images, objects) on small snapshots built here, since their input is the Engine API's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from iklim.model.catalogue import CATALOGUE
from iklim.model.loader import load_environment
from iklim.model.schema import Environment
from iklim.plan.compose import Desired, config_hashes, desired_state
from iklim.plan.diff import plan
from iklim.plan.grace import MINIMUMS, minimum, service_components
from iklim.plan.preflight import (
    Check,
    check_grace,
    check_host_ports,
    check_images,
    check_monitor,
    check_objects_live,
    check_objects_static,
    check_placement,
    check_quorum,
    image_on_node,
    model_nodes,
    static_checks,
)
from iklim.plan.targets import stack_documents

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env() -> Environment:
    return load_environment(REPO / "environments" / "prod.yaml")


@pytest.fixture(scope="module")
def documents(env: Environment) -> dict[str, dict[str, Any]]:
    return stack_documents(REPO, env)


def _desired(documents: dict[str, dict[str, Any]], edit: Any = None) -> Desired:
    changed = copy.deepcopy(documents)
    if edit is not None:
        edit(changed)
    return desired_state(changed, config_hashes(REPO, documents), {})


def _grace(env: Environment, desired: Desired) -> Check:
    return check_grace(desired, service_components(env), lambda c, s: minimum(env, c, s))


def test_the_rendered_tree_passes_every_static_check(env: Environment, documents: dict[str, dict[str, Any]]) -> None:
    checks = static_checks(
        _desired(documents), model_nodes(env), service_components(env), lambda c, s: minimum(env, c, s)
    )
    verdicts = {c.name: c.verdict for c in checks}
    assert verdicts == {
        "placement": "pass",
        "host-ports-start-first": "pass",
        "monitor-covers-healthcheck": "pass",  # render raises monitor to cover the healthcheck
        "configs-secrets": "pass",
        "stop-grace-period": "pass",
    }


def test_placement_fails_on_a_hostname_no_node_has(env: Environment, documents: dict[str, dict[str, Any]]) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["iklimco"]["services"]["etcd-1"]["deploy"]["placement"]["constraints"][1] = "node.hostname == iklim-db-09"

    check = check_placement(_desired(documents, edit), model_nodes(env))
    assert check.verdict == "fail" and check.details == (
        "iklimco_etcd-1: 0 node(s) satisfy node.labels.type == db and node.hostname == iklim-db-09, needs 1",
    )


def test_placement_fails_on_a_label_no_node_has(env: Environment, documents: dict[str, dict[str, Any]]) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["iklimco"]["services"]["apisix"]["deploy"]["placement"]["constraints"] = ["node.labels.type == edge"]

    check = check_placement(_desired(documents, edit), model_nodes(env))
    assert check.verdict == "fail" and [d.split(":")[0] for d in check.details] == ["iklimco_apisix"]


def test_max_replicas_per_node_needs_enough_nodes(env: Environment, documents: dict[str, dict[str, Any]]) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["iklimco"]["services"]["apisix"]["deploy"]["replicas"] = 4  # 3 service nodes, 1 per node

    check = check_placement(_desired(documents, edit), model_nodes(env))
    assert check.verdict == "fail" and "needs 4" in check.details[0]


def test_host_ports_with_start_first_fail(documents: dict[str, dict[str, Any]]) -> None:
    assert check_host_ports(_desired(documents)).verdict == "pass"

    def edit(d: dict[str, Any]) -> None:
        d["vault"]["services"]["vault-2"]["deploy"]["update_config"]["order"] = "start-first"

    check = check_host_ports(_desired(documents, edit))
    assert check.verdict == "fail" and check.details == ("vault_vault-2: host port(s) 8200",)


def test_monitor_must_cover_start_period_and_retries(documents: dict[str, dict[str, Any]]) -> None:
    def fixed(d: dict[str, Any]) -> None:
        for document in d.values():
            for service in document["services"].values():
                health = service.get("healthcheck") or {}
                if not health.get("disable"):
                    service["deploy"]["update_config"]["monitor"] = "170s"

    assert check_monitor(_desired(documents, fixed)).verdict == "pass"

    def one_short(d: dict[str, Any]) -> None:
        fixed(d)
        d["iklimco"]["services"]["patroni-2"]["deploy"]["update_config"]["monitor"] = "169s"  # 120 + 5 x 10 = 170

    check = check_monitor(_desired(documents, one_short))
    assert check.verdict == "warn" and check.details == ("iklimco_patroni-2: monitor 169s < 170s",)


def test_stop_grace_below_the_hand_over_fails(env: Environment, documents: dict[str, dict[str, Any]]) -> None:
    assert _grace(env, _desired(documents)).verdict == "pass"

    def edit(d: dict[str, Any]) -> None:
        d["iklimco"]["services"]["patroni-1"]["stop_grace_period"] = "5s"  # below ttl (20 s)
        d["iklimco"]["services"]["etcd-3"]["stop_grace_period"] = "2s"  # below 5 s + 2 x election timeout

    check = _grace(env, _desired(documents, edit))
    assert check.verdict == "fail"
    assert [d.split(":")[0] for d in check.details] == ["iklimco_etcd-3", "iklimco_patroni-1"]


def test_every_stateful_component_has_a_hand_over_minimum() -> None:
    missing = [e.key for e in CATALOGUE if e.stateful and e.key not in MINIMUMS]
    assert missing == []
    assert set(MINIMUMS) <= {e.key for e in CATALOGUE}


def _node(host: str, role: str, reach: str = "reachable", leader: bool = False) -> dict[str, Any]:
    manager = {"leader": leader, "reachability": reach} if role == "manager" else None
    return {"id": host, "hostname": host, "role": role, "labels": {}, "availability": "active", "state": "ready",
            "manager": manager}  # fmt: skip


@pytest.mark.parametrize(
    ("reach", "leader", "verdict"),
    [
        (("reachable",) * 3, True, "pass"),
        (("reachable", "reachable", "unreachable"), True, "warn"),
        (("reachable", "unreachable", "unreachable"), True, "fail"),
        (("reachable",) * 3, False, "fail"),
    ],
)
def test_manager_quorum(reach: tuple[str, ...], leader: bool, verdict: str) -> None:
    nodes = [_node(f"m{i}", "manager", r, leader and i == 0) for i, r in enumerate(reach)]
    assert check_quorum({"nodes": [*nodes, _node("w", "worker")]}).verdict == verdict


def test_image_presence_by_tag_and_by_digest() -> None:
    images = [{"tags": ["redis:7.4.2-alpine", "quay.io/coreos/etcd:v3.5.17"], "digests": ["redis@sha256:aa"]}]
    assert image_on_node("redis:7.4.2-alpine", images) == "present"
    assert image_on_node("docker.io/library/redis:7.4.2-alpine", images) == "present"
    assert image_on_node("redis:7.4.2-alpine@sha256:aa", images) == "present"
    assert image_on_node("quay.io/coreos/etcd:v3.5.17@sha256:bb", images) == "tag-only"
    assert image_on_node("redis:7.2.0", images) == "absent"


def _snapshot_with_images(env: Environment, images: dict[str, list[dict[str, list[str]]]]) -> dict[str, Any]:
    return {"nodes": model_nodes(env), "images": images, "services": [], "configs": [], "secrets": [], "networks": []}


def test_an_image_missing_on_the_node_that_runs_it_fails(
    env: Environment, documents: dict[str, dict[str, Any]]
) -> None:
    def only_vault(d: dict[str, Any]) -> None:
        d.pop("iklimco")

    desired = _desired(documents, only_vault)
    everywhere = {n.name: [{"tags": ["hashicorp/vault:1.18.3"], "digests": []}] for n in env.nodes}
    assert check_images(desired, _snapshot_with_images(env, everywhere), lambda ref: None).verdict == "pass"
    everywhere["iklim-app-02"] = []
    check = check_images(desired, _snapshot_with_images(env, everywhere), lambda ref: False)
    assert check.verdict == "fail" and check.details[0].startswith(
        "vault_vault-2: hashicorp/vault:1.18.3 is not on iklim-app-02"
    )
    assert check_images(desired, _snapshot_with_images(env, everywhere), lambda ref: True).verdict == "pass"
    assert check_images(desired, _snapshot_with_images(env, everywhere), lambda ref: None).verdict == "warn"


def test_a_missing_secret_or_a_conflicting_config_fails(documents: dict[str, dict[str, Any]]) -> None:
    desired = _desired(documents)
    snapshot: dict[str, Any] = {
        "nodes": [], "services": [],
        "networks": [{"id": "n", "name": "iklim-overlay", "driver": "overlay", "scope": "swarm"}],
        "configs": [{"id": c, "name": c, "labels": {}, "data_sha256": desired.configs[c]} for c in desired.configs],
        "secrets": [{"id": s, "name": s, "labels": {}} for s in desired.secrets],
    }  # fmt: skip
    assert check_objects_live(desired, plan(desired, snapshot)).verdict == "pass"
    snapshot["secrets"] = [s for s in snapshot["secrets"] if s["name"] != "redis_password"]
    snapshot["configs"][0]["data_sha256"] = "1" * 64
    check = check_objects_live(desired, plan(desired, snapshot))
    assert check.verdict == "fail"
    assert [d.split(":")[0] for d in check.details] == [
        f"config {snapshot['configs'][0]['name']}",
        "secret redis_password",
    ]


def test_platform_constraints_are_judged_on_live_nodes_and_unknown_on_the_model() -> None:
    """Found on the Swarm lab (scenario 'placement still satisfied'): ``node.platform.os == linux``
    made the placement check fail, as if no node could run the service."""
    from iklim.plan.placement import satisfies

    live = {"hostname": "a", "role": "worker", "labels": {}, "platform": {"os": "linux", "arch": "x86_64"}}
    assert satisfies(live, ["node.platform.os == linux", "node.platform.arch == X86_64"]) is True
    assert satisfies(live, ["node.platform.os == windows"]) is False
    assert satisfies(live, ["node.platform.os != windows"]) is True
    model = {"hostname": "a", "role": "worker", "labels": {}}
    assert satisfies(model, ["node.platform.os == linux"]) is None


def test_a_config_file_edited_after_render_fails_configs_secrets(documents: dict[str, dict[str, Any]]) -> None:
    """The name's content hash no longer matches the file: Swarm would refuse the immutable config."""
    assert check_objects_static(_desired(documents)).verdict == "pass"
    hashes = config_hashes(REPO, documents)
    hashes["./config/patroni/patroni-1.yml"] = "ab" * 32
    check = check_objects_static(desired_state(copy.deepcopy(documents), hashes, {}))
    assert check.verdict == "fail"
    assert len(check.details) == 1 and "patroni-1.yml" in check.details[0] and "abababab" in check.details[0]


def test_a_stale_config_name_fails_the_live_check_too(documents: dict[str, dict[str, Any]]) -> None:
    """Not live yet, it would be created under a name that no longer says its content: refused."""
    hashes = config_hashes(REPO, documents)
    hashes["./config/patroni/patroni-1.yml"] = "ab" * 32
    desired = desired_state(copy.deepcopy(documents), hashes, {})
    snapshot: dict[str, Any] = {
        "nodes": [], "services": [], "configs": [],
        "networks": [{"id": "n", "name": "iklim-overlay", "driver": "overlay", "scope": "swarm"}],
        "secrets": [{"id": s, "name": s, "labels": {}} for s in desired.secrets],
    }  # fmt: skip
    check = check_objects_live(desired, plan(desired, snapshot))
    assert check.verdict == "fail" and len(check.details) == 1 and "patroni-1.yml" in check.details[0]
