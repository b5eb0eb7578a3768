"""Patroni: ``/cluster`` has exactly one leader; replicas ``streaming`` on the leader's timeline
with lag under the model's limit; not paused; a synchronous standby when synchronous mode is on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, expect_json, join_words, tolerance_words
from iklim.status.report import MemberState, Report, graded

LEADER_ROLES = ("leader", "standby_leader", "master", "primary")
STANDBY_ROLES = ("sync_standby", "quorum_standby")


@dataclass(frozen=True)
class PatroniMember:
    name: str
    role: str
    state: str
    timeline: int | None
    lag: int | None  # bytes behind the leader; None when Patroni reports it unknown


@dataclass(frozen=True)
class PatroniSnapshot:
    members: tuple[PatroniMember, ...]
    paused: bool
    answered_by: str | None
    api_errors: tuple[tuple[str, str], ...]  # (member, error) for REST APIs that did not answer


def _lag(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class PatroniProbe:
    name = "patroni"

    def observe(self, ctx: ProbeContext) -> PatroniSnapshot:
        def ask(endpoint: Endpoint) -> Any:
            return expect_json(ctx.http("GET", endpoint, "/cluster"), "/cluster")

        first, errors = ctx.first_answer(ask)
        if first is not None:
            endpoint, answer = first
            members = tuple(
                PatroniMember(
                    str(m.get("name")),
                    str(m.get("role")),
                    str(m.get("state")),
                    m.get("timeline") if isinstance(m.get("timeline"), int) else None,
                    _lag(m.get("lag")),
                )
                for m in answer.get("members", [])
            )
            return PatroniSnapshot(members, bool(answer.get("pause")), endpoint.member, errors)
        return PatroniSnapshot((), False, None, errors)

    def evaluate(self, snapshot: PatroniSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        expected = [e.member for e in plan.endpoints]
        addresses = {e.member: e.address for e in plan.endpoints}
        if snapshot.answered_by is None:
            reason = "no Patroni REST API answers: " + ", ".join(f"{m} {err}" for m, err in snapshot.api_errors)
            states = tuple(MemberState(m, addresses[m], "unreachable", False) for m in expected)
            return Report(self.name, "down", reason, None, 0, states)
        limit = int(plan.settings.get("max_replica_lag_bytes", 0))
        leaders = [m for m in snapshot.members if m.role in LEADER_ROLES and m.state == "running"]
        leader = leaders[0] if len(leaders) == 1 else None
        good, problems = [], []
        for member in snapshot.members:
            if member in leaders:
                continue
            why = self._replica_problem(member, leader, limit)
            if why:
                problems.append(f"{member.name} {why}")
            else:
                good.append(member)
        seen = {m.name for m in snapshot.members}
        problems += [f"{name} missing from the cluster" for name in expected if name not in seen]
        states = tuple(
            MemberState(
                m.name, addresses.get(m.name, ""), m.role if m in leaders else m.state, m in leaders or m in good
            )
            for m in snapshot.members
        ) + tuple(MemberState(n, addresses[n], "missing", False) for n in expected if n not in seen)
        if leader is None:
            words = "no leader" if not leaders else f"{len(leaders)} leaders: {', '.join(m.name for m in leaders)}"
            return Report(self.name, "down", join_words([words, *problems]), None, 0, states)
        summary = f"leader {leader.name}, {len(good)}/{len(expected) - 1} replicas streaming"
        if snapshot.paused:
            problems.append("maintenance mode (paused): no automatic failover")
        if plan.settings.get("synchronous_mode") and not any(m.role in STANDBY_ROLES for m in good):
            problems.append("synchronous mode is on but no synchronous standby is streaming")
        tolerates = 0 if snapshot.paused else len(good)
        status = graded(problems)
        reason = join_words([summary, tolerance_words(tolerates), *problems])
        return Report(self.name, status, reason, leader.name, tolerates, states)

    @staticmethod
    def _replica_problem(member: PatroniMember, leader: PatroniMember | None, limit: int) -> str:
        if member.state != "streaming":
            return member.state
        if leader is not None and member.timeline != leader.timeline:
            return f"on timeline {member.timeline}, leader on {leader.timeline}"
        if member.lag is None:
            return "lag unknown"
        if member.lag > limit:
            return f"lags {member.lag} bytes (limit {limit})"
        return ""
