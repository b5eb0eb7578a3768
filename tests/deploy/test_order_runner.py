"""The runner (:mod:`iklim.deploy.runner`) against in-memory clusters: followers first, a verified
hand-over, the former leader last; a failed or unverified hand-over stops and rolls back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from iklim.deploy import handover as handover_module
from iklim.deploy.api import DeployError, Hooks, ServiceApplier
from iklim.deploy.measure import outage
from iklim.deploy.order import order_services
from iklim.deploy.report import render_json, render_text
from iklim.deploy.runner import run_deploy
from iklim.drill.driver import DrillError, Observation
from iklim.drill.history import History, Refused
from iklim.drill.labseams import Seam
from iklim.drill.workloads.base import Client, Workload
from iklim.model.loader import load_environment
from iklim.model.schema import Environment
from iklim.plan.diff import Plan, ServicePlan
from iklim.plan.grace import service_components

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env() -> Environment:
    return load_environment(ROOT / "environments" / "prod.yaml")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handover_module, "VERIFY_S", 0.5)
    monkeypatch.setattr("iklim.deploy.watch.PERIOD_S", 0.01)
    monkeypatch.setattr("iklim.deploy.measure.MARGIN_S", 0.05)


class FakeCluster(Seam):
    """One cluster in memory: its members, its leader, what happened (``events``, shared)."""

    def __init__(self, component: str, members: list[str], leader: str, events: list[str]) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self.component, self._members, self.lead, self.events = component, members, leader, events
        self.refuse = False
        self.ignore = False  # accept the switchover but move nothing
        self.down: set[str] = set()

    def members(self) -> list[str]:
        return list(self._members)

    def observe(self, old_leader: str | None) -> Observation:
        return Observation(None if self.lead in self.down else self.lead)

    def switchover(self, member: str) -> None:
        self.events.append(f"switchover {member}")
        if self.refuse:
            raise DrillError(f"{self.component}: refused")
        if not self.ignore:
            self.lead = next(m for m in self._members if m != member and m not in self.down)

    def restarted(self, member: str) -> None:
        self.events.append(f"unseal {member}")

    def workload(self, run_id: str) -> Workload:
        return MemoryWorkload(self)


class MemoryWorkload(Workload):
    """Writes into a list; refused while the cluster has no leader (``down``)."""

    name = "memory"

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster, self.stored = cluster, []

    def setup(self) -> None:
        return None

    def client(self) -> Client:
        workload = self

        class _C(Client):
            def write(self, value: str) -> None:
                if workload.cluster.lead in workload.cluster.down:
                    raise Refused("no leader")
                workload.stored.append(value)

            def close(self) -> None:
                return None

        return _C()

    def final_read(self) -> list[str]:
        return list(self.stored)


class FakeApplier(ServiceApplier):
    def __init__(self, events: list[str], clusters: dict[str, FakeCluster], fail: str = "") -> None:
        self.events, self.clusters, self.fail = events, clusters, fail

    def apply(self, service: str) -> int:
        self.events.append(f"apply {service}")
        if service == self.fail:
            raise DeployError(f"{service}: task failed")
        member = service.split("_", 1)[1]
        for cluster in self.clusters.values():
            if cluster.lead == member and cluster.component == "vault":  # SIGTERM of the active
                cluster.lead = next(m for m in cluster.members() if m != member)
        return 2

    def rollback(self, service: str) -> None:
        self.events.append(f"rollback {service}")


class RecordingHooks(Hooks):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def before_cluster(self, cluster: str, services: Sequence[str]) -> None:
        self.events.append(f"before {cluster}")

    def after_cluster(self, cluster: str, services: Sequence[str]) -> None:
        self.events.append(f"after {cluster}")


def _plan(*families: str) -> Plan:
    return Plan(services=[ServicePlan(n, "x", "rolling-restart") for n in families])


def _run(env: Environment, plan: Plan, seams: dict[str, FakeCluster], events: list[str], **kw: Any) -> Any:
    order = order_services(env, plan.changed, service_components(env))
    applier = FakeApplier(events, seams, kw.pop("fail", ""))
    return run_deploy(
        env,
        plan,
        applier,
        RecordingHooks(events),
        seams,
        lambda line: None,
        order=order,
        health=kw.pop("health", lambda c: (True, "ok")),
        **kw,
    )


REDIS = [f"iklimco_redis-{n}" for n in (1, 2, 3)] + [f"iklimco_redis-sentinel-{n}" for n in (1, 2, 3)]


def test_followers_first_then_the_hand_over_then_the_former_leader(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-1", events)}
    result = _run(env, _plan(*REDIS), seams, events)
    assert result.ok, result.error
    assert events == [
        "before redis",
        "apply iklimco_redis-2",
        "apply iklimco_redis-3",
        "switchover redis-1",
        "apply iklimco_redis-1",
        *[f"apply iklimco_redis-sentinel-{n}" for n in (1, 2, 3)],
        "after redis",
    ]
    redis = result.cluster("redis")
    assert (redis.leader_before, redis.leader_after, redis.leader_changes) == ("redis-1", "redis-2", 1)
    assert '"leader_changes": 1' in render_json(result) and "1 change(s)" in render_text(result)


def test_a_refused_hand_over_stops_and_rolls_back_in_the_same_order(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-3", events)}
    seams["redis"].refuse = True
    result = _run(env, _plan(*REDIS), seams, events)
    assert not result.ok and "hand-over from redis-3 failed" in str(result.error)
    assert "apply iklimco_redis-3" not in events  # the leader was never restarted
    assert result.rolled_back == ["iklimco_redis-1", "iklimco_redis-2"]
    assert events[-2:] == ["rollback iklimco_redis-1", "rollback iklimco_redis-2"]


def test_an_unverified_hand_over_stops_the_deploy(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-2", events)}
    seams["redis"].ignore = True  # accepted, but the leader does not move
    result = _run(env, _plan(*REDIS), seams, events)
    assert not result.ok and "moved away from redis-2" in str(result.error)
    assert "apply iklimco_redis-2" not in events
    assert result.cluster("redis").leader_changes == 0


def test_etcd_is_handed_over_before_patroni_is_touched(env: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    seams = {
        "etcd": FakeCluster("etcd", ["etcd-1", "etcd-2", "etcd-3"], "etcd-1", events),
        "patroni": FakeCluster("patroni", ["patroni-1", "patroni-2", "patroni-3"], "patroni-2", events),
    }
    # generic hand-overs (the real ones speak HTTP): the order is the runner's
    kinds = {"etcd": handover_module.Handover, "patroni": handover_module.Handover}
    monkeypatch.setattr(handover_module, "_KINDS", kinds)
    names = [f"iklimco_patroni-{n}" for n in (1, 2, 3)] + [f"iklimco_etcd-{n}" for n in (1, 2, 3)]
    result = _run(env, _plan(*names), seams, events)
    assert result.ok, result.error
    applied = [e.split()[1] for e in events if e.startswith("apply")]
    assert applied == [
        "iklimco_etcd-2",
        "iklimco_etcd-3",
        "iklimco_etcd-1",
        "iklimco_patroni-1",
        "iklimco_patroni-3",
        "iklimco_patroni-2",
    ]
    assert events.index("switchover etcd-1") < events.index("apply iklimco_etcd-1")
    assert [c.leader_changes for c in result.clusters] == [1, 1]


def test_vault_standbys_first_the_active_hands_over_by_its_own_stop_and_every_member_is_unsealed(
    env: Environment,
) -> None:
    events: list[str] = []
    seams = {"vault": FakeCluster("vault", ["vault-1", "vault-2", "vault-3"], "vault-1", events)}
    result = _run(env, _plan(*[f"vault_vault-{n}" for n in (1, 2, 3)]), seams, events)
    assert result.ok, result.error
    assert not any(e.startswith("switchover") for e in events)  # never step-down
    assert events[1:-1] == [
        "apply vault_vault-2",
        "unseal vault-2",
        "apply vault_vault-3",
        "unseal vault-3",
        "apply vault_vault-1",
        "unseal vault-1",
    ]
    assert result.cluster("vault").leader_changes == 1


def test_a_rolled_back_vault_member_is_unsealed_again(env: Environment) -> None:
    """A rollback restarts the member as an apply does, and it comes back sealed (found by review:
    the healthcheck accepts a sealed member, so the rollback 'converged' with Vault sealed)."""
    events: list[str] = []
    seams = {"vault": FakeCluster("vault", ["vault-1", "vault-2", "vault-3"], "vault-1", events)}
    result = _run(env, _plan(*[f"vault_vault-{n}" for n in (1, 2, 3)]), seams, events, fail="vault_vault-3")
    assert not result.ok and result.rolled_back == ["vault_vault-2", "vault_vault-3"]
    assert events[-4:] == ["rollback vault_vault-2", "unseal vault-2", "rollback vault_vault-3", "unseal vault-3"]


def test_an_unexpected_error_in_a_hook_still_rolls_back_and_shows_no_text(env: Environment) -> None:
    events: list[str] = []

    class Failing(RecordingHooks):
        def before_cluster(self, cluster: str, services: Sequence[str]) -> None:
            if cluster == "redis":
                b"\xff-secret".decode()  # UnicodeDecodeError, whose text quotes the bytes

    seams = {
        "etcd": FakeCluster("etcd", ["etcd-1", "etcd-2", "etcd-3"], "etcd-1", events),
        "redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-1", events),
    }
    order = order_services(env, _plan("iklimco_etcd-2", *REDIS).changed, service_components(env))
    result = run_deploy(
        env, _plan("iklimco_etcd-2", *REDIS), FakeApplier(events, seams), Failing(events), seams,
        lambda line: None, order=order, health=lambda c: (True, "ok"),
    )  # fmt: skip
    assert result.error is not None and "UnicodeDecodeError" in result.error and "xff" not in result.error
    assert result.rolled_back == ["iklimco_etcd-2"]


def test_every_rabbitmq_node_waits_for_quorum_and_is_drained_before_its_restart(env: Environment) -> None:
    events: list[str] = []
    seams = {"rabbitmq": FakeCluster("rabbitmq", ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"], "rabbitmq-1", events)}
    seams["rabbitmq"].lead = None  # type: ignore[assignment]  # no measured queue: members by name

    def member_exec(member: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        events.append(f"{argv[1]} {member}")
        return 0, ""

    result = _run(env, _plan(*[f"iklimco_rabbitmq-{n}" for n in (1, 2, 3)]), seams, events, member_exec=member_exec)
    assert result.ok, result.error
    for n in (1, 2, 3):
        at = events.index(f"apply iklimco_rabbitmq-{n}")
        assert events[at - 2 : at + 2] == [
            f"await_online_quorum_plus_one rabbitmq-{n}",
            f"drain rabbitmq-{n}",
            f"apply iklimco_rabbitmq-{n}",
            f"revive rabbitmq-{n}",
        ]


def test_a_refused_drain_stops_before_the_node_restarts(env: Environment) -> None:
    events: list[str] = []
    seams = {"rabbitmq": FakeCluster("rabbitmq", ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"], "rabbitmq-1", events)}

    def member_exec(member: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        return (69, "quorum queue q would lose quorum") if member == "rabbitmq-3" else (0, "")

    result = _run(env, _plan(*[f"iklimco_rabbitmq-{n}" for n in (1, 2, 3)]), seams, events, member_exec=member_exec)
    assert "await_online_quorum_plus_one on rabbitmq-3 exited 69" in str(result.error)
    assert result.applied == ["iklimco_rabbitmq-2"] and result.rolled_back == ["iklimco_rabbitmq-2"]


def test_a_cluster_that_needs_a_hand_over_but_has_no_seam_is_refused_before_anything(env: Environment) -> None:
    events: list[str] = []
    result = _run(env, _plan("iklimco_patroni-1"), {}, events)
    assert "patroni: no seam" in str(result.error) and events == []


def test_mongodb_goes_by_name_and_says_so(env: Environment) -> None:
    events: list[str] = []
    result = _run(env, _plan(*[f"iklimco_mongodb-{n}" for n in (3, 1, 2)]), {}, events)
    assert result.ok and [e for e in events if e.startswith("apply")] == [
        f"apply iklimco_mongodb-{n}" for n in (1, 2, 3)
    ]
    assert "FAKE" in result.cluster("mongodb").note


def test_an_unhealthy_cluster_after_a_member_stops_and_rolls_back(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-1", events)}
    monkeypatch.setattr("iklim.deploy.runner.time.sleep", lambda s: None)
    result = _run(env, _plan(*REDIS), seams, events, health=lambda c: (False, "2 of 3 replicas"), healthy_timeout=0)
    assert result.error == "redis: not healthy 0 s after iklimco_redis-2: 2 of 3 replicas"
    assert result.rolled_back == ["iklimco_redis-2"]


def test_a_failed_stateless_apply_rolls_back_everything_in_order(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-1", events)}
    result = _run(env, _plan("iklimco_redis-1", "iklimco_grafana"), seams, events, fail="iklimco_grafana")
    assert result.applied == ["iklimco_redis-1"]
    # The failed service is rolled back too: its update was sent, so it holds the new spec.
    assert result.rolled_back == ["iklimco_redis-1", "iklimco_grafana"]
    assert result.error == "iklimco_grafana: task failed"


def test_measure_counts_acknowledged_lost_and_the_outage(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-1", events)}
    result = _run(env, _plan(*REDIS), seams, events, measure=True)
    measured = result.cluster("redis").measured
    assert measured is not None and measured.note == ""
    assert measured.acknowledged > 0 and measured.lost == 0
    assert measured.outage_s is not None and measured.outage_s < 1.0


def test_outage_is_the_longest_time_without_an_acknowledged_write() -> None:
    now = [0.0]
    history = History(clock=lambda: now[0])
    for at, ok in [(1.0, True), (2.0, False), (3.0, False), (4.5, True), (5.0, True)]:
        now[0] = at
        history.run(0, "write", f"v{at}", (lambda: None) if ok else _refuse)
    assert outage(history.ops(), 1.5, 4.8) == pytest.approx(3.5)  # 1.0 -> 4.5
    assert outage(history.ops(), 4.6, 4.9) == pytest.approx(0.5)  # 4.5 -> 5.0
    assert outage(history.ops(), 6.0, 9.0) == pytest.approx(4.0)  # 5.0 -> the window's end
    assert outage([], 0, 1) is None


def _refuse() -> None:
    raise Refused("no")


def test_a_deploy_stopped_after_a_drain_revives_the_drained_node(env: Environment) -> None:
    events: list[str] = []
    seams = {"rabbitmq": FakeCluster("rabbitmq", ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"], "rabbitmq-1", events)}
    seams["rabbitmq"].ignore = True

    def member_exec(member: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        events.append(f"{argv[1]} {member}")
        return 0, ""

    names = [f"iklimco_rabbitmq-{n}" for n in (1, 2, 3)]
    result = _run(env, _plan(*names), seams, events, member_exec=member_exec)
    assert "moved away from rabbitmq-1" in str(result.error)  # the drain did not move the queue's leader
    assert (
        events.index("drain rabbitmq-1")
        < events.index("revive rabbitmq-1")
        < events.index("rollback iklimco_rabbitmq-2")
    )
    assert "apply iklimco_rabbitmq-1" not in events


def test_no_health_wait_between_the_rabbitmq_drain_and_the_drained_nodes_restart(env: Environment) -> None:
    events: list[str] = []
    seams = {"rabbitmq": FakeCluster("rabbitmq", ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"], "rabbitmq-3", events)}
    drained: set[str] = set()

    def member_exec(member: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        if argv[1] == "drain":
            drained.add(member)
            if member == seams["rabbitmq"].lead:
                seams["rabbitmq"].lead = "rabbitmq-1"
        if argv[1] == "revive":
            drained.discard(member)
        return 0, ""

    def health(cluster: str) -> tuple[bool, str]:
        events.append("health")
        return (not drained, "a drained node's listeners are suspended")

    names = [f"iklimco_rabbitmq-{n}" for n in (1, 2, 3)]
    result = _run(env, _plan(*names), seams, events, member_exec=member_exec, health=health)
    assert result.ok, result.error
    assert result.cluster("rabbitmq").leader_changes == 1


def test_a_leader_hands_over_before_its_rollback(env: Environment) -> None:
    """After the deploy's hand-over an updated member leads; the rollback moves the role off it
    before restarting it, as the deploy did (never a leader restarted without a hand-over)."""
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-3", events)}
    result = _run(env, _plan(*REDIS, "iklimco_grafana"), seams, events, fail="iklimco_grafana")
    assert result.error == "iklimco_grafana: task failed"
    # redis-1 took the role from redis-3 in the deploy; it hands over before its own rollback, and
    # so does redis-2, which this fake Sentinel promotes next (a real one picks by its own rules).
    back = events[events.index("apply iklimco_grafana") + 1 :]
    assert back[:5] == [
        "switchover redis-1", "rollback iklimco_redis-1", "switchover redis-2", "rollback iklimco_redis-2",
        "rollback iklimco_redis-3",
    ], events  # fmt: skip
    assert result.rolled_back[:3] == ["iklimco_redis-1", "iklimco_redis-2", "iklimco_redis-3"]
    assert not result.rollback_errors


def test_a_refused_hand_over_before_a_rollback_is_reported_and_the_rollback_goes_on(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-3", events)}

    class Refusing(FakeApplier):
        def apply(self, service: str) -> int:
            if service == "iklimco_grafana":
                seams["redis"].refuse = True
            return super().apply(service)

    order = order_services(env, _plan(*REDIS, "iklimco_grafana").changed, service_components(env))
    result = run_deploy(
        env, _plan(*REDIS, "iklimco_grafana"), Refusing(events, seams, "iklimco_grafana"), RecordingHooks(events),
        seams, lambda line: None, order=order, health=lambda c: (True, "ok"),
    )  # fmt: skip
    assert "iklimco_redis-1" in result.rolled_back and "iklimco_grafana" in result.rolled_back
    assert any("hand-over from redis-1 failed" in e and "without a hand-over" in e for e in result.rollback_errors)


def test_a_rollback_goes_on_past_errors_that_are_not_deploy_errors(env: Environment) -> None:
    """A cluster API that refuses the connection (OSError) in the hand-over, an Engine error in one
    service's rollback: each is one line in rollback_errors and every other service is rolled back."""
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-3", events)}

    def refused(member: str) -> None:
        raise ConnectionRefusedError("secret-looking text")

    class Failing(FakeApplier):
        def apply(self, service: str) -> int:
            if service == "iklimco_grafana":
                seams["redis"].switchover = refused  # type: ignore[method-assign]
            return super().apply(service)

        def rollback(self, service: str) -> None:
            super().rollback(service)
            if service == "iklimco_redis-2":
                raise RuntimeError("engine said no")

    plan = _plan(*REDIS, "iklimco_grafana")
    result = run_deploy(
        env, plan, Failing(events, seams, "iklimco_grafana"), RecordingHooks(events), seams, lambda line: None,
        order=order_services(env, plan.changed, service_components(env)), health=lambda c: (True, "ok"),
    )  # fmt: skip
    assert result.error == "iklimco_grafana: task failed"
    assert [e for e in events if e.startswith("rollback")] == [f"rollback {s}" for s in (*REDIS, "iklimco_grafana")]
    assert "iklimco_redis-2" not in result.rolled_back and "iklimco_grafana" in result.rolled_back
    assert "iklimco_redis-2: rollback: unexpected RuntimeError" in result.rollback_errors
    assert any("hand-over: unexpected ConnectionRefusedError" in e for e in result.rollback_errors)
    assert not any("secret-looking" in e or "engine said" in e for e in result.rollback_errors)


def test_a_leader_that_cannot_be_read_before_a_rollback_is_reported(env: Environment) -> None:
    events: list[str] = []
    seams = {"redis": FakeCluster("redis", ["redis-1", "redis-2", "redis-3"], "redis-3", events)}

    class Blind(FakeApplier):
        def apply(self, service: str) -> int:
            if service == "iklimco_grafana":
                seams["redis"].down.add(seams["redis"].lead)  # observe() names no leader now
            return super().apply(service)

    plan = _plan(*REDIS, "iklimco_grafana")
    result = run_deploy(
        env, plan, Blind(events, seams, "iklimco_grafana"), RecordingHooks(events), seams, lambda line: None,
        order=order_services(env, plan.changed, service_components(env)), health=lambda c: (True, "ok"),
    )  # fmt: skip
    assert "iklimco_redis-1" in result.rolled_back
    line = "redis: no leader named before redis-1's rollback (rolled back without a hand-over)"
    assert line in result.rollback_errors
