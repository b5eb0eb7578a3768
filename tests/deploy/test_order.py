"""The cluster-aware order (:mod:`iklim.deploy.order`), offline: derived from the model and the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from iklim.deploy.order import ClusterRoll, Member, cluster_entries, deploy_order, leader_last, order_services
from iklim.model.loader import load_environment
from iklim.model.schema import Environment
from iklim.plan.diff import Plan, ServicePlan
from iklim.plan.grace import service_components

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env() -> Environment:
    return load_environment(ROOT / "environments" / "prod.yaml")


def _everything(env: Environment, action: str = "rolling-restart") -> Plan:
    names = sorted(service_components(env))
    return Plan(services=[ServicePlan(n, n.split("_", 1)[0], action) for n in names])


def test_etcd_is_rolled_before_patroni(env: Environment) -> None:
    clusters = [c.cluster for c in deploy_order(env, _everything(env)).clusters]
    assert "etcd" in clusters and "patroni" in clusters
    assert clusters.index("etcd") < clusters.index("patroni"), clusters


def test_the_cluster_order_is_etcd_patroni_mongodb_redis_rabbitmq_vault(env: Environment) -> None:
    clusters = [c.cluster for c in deploy_order(env, _everything(env)).clusters]
    assert clusters == ["etcd", "patroni", "mongodb", "redis", "rabbitmq", "vault"]


def test_clusters_are_the_stateful_entries_with_several_members(env: Environment) -> None:
    keys = {e.key for e in cluster_entries(env)}
    assert "prometheus" not in keys and "grafana" not in keys  # stateful but single
    assert "apisix" not in keys  # three replicas, no state
    assert keys == {"etcd", "patroni", "mongodb", "redis", "rabbitmq", "vault"}


def test_a_cluster_of_one_member_rolls_as_a_stateless_service(env: Environment) -> None:
    rabbitmq = env.services.rabbitmq.model_copy(update={"members": 1})
    single = env.model_copy(update={"services": env.services.model_copy(update={"rabbitmq": rabbitmq})})
    assert "rabbitmq" not in {e.key for e in cluster_entries(single)}


def test_data_members_then_sentinels_and_exporters_with_the_stateless(env: Environment) -> None:
    order = deploy_order(env, _everything(env))
    redis = next(c for c in order.clusters if c.cluster == "redis")
    assert [m.member for m in redis.members] == ["redis-1", "redis-2", "redis-3"]
    assert [m.member for m in redis.companions] == ["redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"]
    stateless = [m.service for m in order.stateless]
    assert "iklimco_redis-exporter" in stateless and "iklimco_mongodb-exporter-1" in stateless
    assert "iklimco_grafana" in stateless and "iklimco_apisix" in stateless
    assert order.services[-len(stateless) :] == tuple(stateless)  # after every cluster
    vault = next(c for c in order.clusters if c.cluster == "vault")
    assert [m.service for m in vault.members] == ["vault_vault-1", "vault_vault-2", "vault_vault-3"]


def test_only_changed_services_are_ordered_and_removals_are_left_to_the_clean_up(env: Environment) -> None:
    plan = Plan(
        services=[
            ServicePlan("iklimco_patroni-2", "iklimco", "rolling-restart"),
            ServicePlan("iklimco_etcd-3", "iklimco", "metadata-only"),
            ServicePlan("iklimco_etcd-1", "iklimco", "unchanged"),
            ServicePlan("iklimco_old-thing", "iklimco", "remove"),
            ServicePlan("iklimco_new-thing", "iklimco", "create"),
        ]
    )
    order = deploy_order(env, plan)
    assert [(c.cluster, [m.member for m in c.members]) for c in order.clusters] == [
        ("etcd", ["etcd-3"]),
        ("patroni", ["patroni-2"]),
    ]
    assert [m.service for m in order.stateless] == ["iklimco_new-thing"]
    assert order.removed == ("iklimco_old-thing",)
    assert not order.clusters[0].members[0].restarts and order.clusters[1].members[0].restarts


def test_members_sort_by_number_not_by_text(env: Environment) -> None:
    components = {f"iklimco_etcd-{n}": "etcd" for n in (10, 2, 1)}
    plans = [ServicePlan(n, "iklimco", "rolling-restart") for n in components]
    [roll] = order_services(env, plans, components).clusters
    assert [m.member for m in roll.members] == ["etcd-1", "etcd-2", "etcd-10"]


def test_the_leader_goes_last() -> None:
    roll = ClusterRoll("etcd", "etcd", tuple(Member(f"s_etcd-{n}", f"etcd-{n}", "rolling-restart") for n in (1, 2, 3)))
    assert [m.member for m in leader_last(roll, "etcd-1")] == ["etcd-2", "etcd-3", "etcd-1"]
    assert [m.member for m in leader_last(roll, None)] == ["etcd-1", "etcd-2", "etcd-3"]
