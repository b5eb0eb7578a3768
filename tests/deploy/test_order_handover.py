"""The hand-overs' choices (:mod:`iklim.deploy.handover`), offline: Patroni's candidate, etcd's target."""

from __future__ import annotations

from typing import Any

import pytest

from iklim.deploy import handover as h
from iklim.deploy.api import DeployError
from iklim.drill.driver import Observation
from iklim.drill.labseams import Seam
from iklim.drill.workloads.base import Workload


class _Seam(Seam):
    def __init__(self, members: list[str], leader: str) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self._members, self.lead = members, leader

    def members(self) -> list[str]:
        return self._members

    def observe(self, old_leader: str | None) -> Observation:
        return Observation(self.lead)

    def workload(self, run_id: str) -> Workload:
        raise NotImplementedError


def _member(name: str, role: str, lag: Any = 0, state: str = "streaming", **tags: bool) -> dict[str, Any]:
    return {"name": name, "role": role, "state": state, "lag": lag, "tags": tags}


def _patroni(monkeypatch: pytest.MonkeyPatch, members: list[dict[str, Any]], calls: list[Any]) -> h.PatroniHandover:
    seam = _Seam(["patroni-1", "patroni-2", "patroni-3"], "patroni-1")

    def api(ctx: Any, member: str, path: str, method: str = "GET", body: Any = None) -> Any:
        calls.append((member, path, method, body))
        if path == "/switchover":
            seam.lead = body["candidate"]
            return "Successfully switched over"
        return {"members": [_member("patroni-1", "leader", state="running"), *members]}

    monkeypatch.setattr(h.planned, "patroni_api", api)
    monkeypatch.setattr(h, "LAG_WAIT_S", 0.2)
    monkeypatch.setattr(h, "VERIFY_S", 0.2)
    return h.PatroniHandover("patroni", seam)


def test_patroni_hands_over_to_the_synchronous_standby(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    handover = _patroni(monkeypatch, [_member("patroni-2", "replica"), _member("patroni-3", "sync_standby")], calls)
    assert handover.hand_over("patroni-1", ["patroni-2"]) == "patroni-3"
    assert calls[-1] == ("patroni-1", "/switchover", "POST", {"leader": "patroni-1", "candidate": "patroni-3"})


def test_patroni_waits_for_zero_lag_and_never_picks_another_than_the_sync_standby(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    members = [_member("patroni-2", "replica"), _member("patroni-3", "sync_standby", lag=4096)]
    handover = _patroni(monkeypatch, members, calls)
    with pytest.raises(DeployError, match="zero lag"):
        handover.hand_over("patroni-1", [])
    assert not [c for c in calls if c[1] == "/switchover"]


def test_patroni_without_sync_standby_prefers_an_updated_replica_and_skips_nofailover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    members = [_member("patroni-2", "replica"), _member("patroni-3", "replica")]
    assert _patroni(monkeypatch, members, calls).hand_over("patroni-1", ["patroni-3"]) == "patroni-3"
    members = [_member("patroni-2", "replica"), _member("patroni-3", "replica", nofailover=True)]
    assert _patroni(monkeypatch, members, calls).hand_over("patroni-1", ["patroni-3"]) == "patroni-2"
    members = [_member("patroni-2", "replica", lag="unknown", state="stopped")]
    with pytest.raises(DeployError):
        _patroni(monkeypatch, members, calls).hand_over("patroni-1", [])


def test_etcd_moves_the_leadership_to_an_updated_member_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    seam = _Seam(["etcd-1", "etcd-2", "etcd-3"], "etcd-2")
    moved: list[tuple[str, str]] = []
    handover = h.EtcdHandover("etcd", seam)
    monkeypatch.setattr(h.EtcdHandover, "_answers", lambda self, m: m != "etcd-3")

    def move(ctx: object, member: str, target: str) -> None:
        moved.append((member, target))
        seam.lead = target

    monkeypatch.setattr(h.planned, "etcd_move_leader", move)
    assert handover.hand_over("etcd-2", ["etcd-3", "etcd-1"]) == "etcd-1"  # etcd-3 does not answer
    assert moved == [("etcd-2", "etcd-1")]
