"""etcd: every member healthy, one leader agreed by all, raft index spread small, no alarms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, expect_json, join_words, tolerance_words
from iklim.status.report import MemberState, Report, failures_left, graded
from iklim.status.transport import ProbeError

#: Raft entries a member may trail the others by before the cluster counts as degraded. Two reads
#: of a busy cluster a millisecond apart differ by a few entries; a member that cannot apply
#: (slow disk, partition) falls behind by thousands.
RAFT_INDEX_SPREAD_LIMIT = 1000
#: /health waits for a linearizable read; without quorum it stalls, so it gets a shorter leash.
HEALTH_TIMEOUT = 0.5


@dataclass(frozen=True)
class EtcdMember:
    name: str
    address: str
    error: str | None = None
    healthy: bool = False
    member_id: str = ""
    leader_id: str = ""
    raft_index: int = 0
    alarms: tuple[str, ...] = ()
    health_error: str = ""  # why /health did not say true (a member without quorum stalls it)


@dataclass(frozen=True)
class EtcdSnapshot:
    members: tuple[EtcdMember, ...]


class EtcdProbe:
    name = "etcd"

    def observe(self, ctx: ProbeContext) -> EtcdSnapshot:
        def ask(endpoint: Endpoint) -> EtcdMember:
            status = expect_json(ctx.http("POST", endpoint, "/v3/maintenance/status", body={}), "status")
            try:  # a member that lost quorum answers status but stalls /health: keep what it said
                reply = ctx.http("GET", endpoint, "/health", timeout=HEALTH_TIMEOUT)
                health = reply.body if isinstance(reply.body, dict) else {}
                healthy = health.get("health") == "true"
                why = "" if healthy else f"health: {health.get('reason') or f'HTTP {reply.status}'}"
            except ProbeError as exc:
                healthy, why = False, f"health: {str(exc).rpartition(': ')[2]}"
            alarms: tuple[str, ...] = ()
            if not healthy and why != "health: timed out" and str(status.get("leader", "0")) != "0":
                alarms, failed = _alarms(ctx, endpoint)
                healthy, why = (True, "") if alarms else (healthy, f"{why}; {failed}" if failed else why)
            return EtcdMember(
                endpoint.member,
                endpoint.address,
                None,
                healthy,
                str(status["header"]["member_id"]),
                str(status.get("leader", "0")),
                int(status.get("raftIndex", 0)),
                alarms,
                why,
            )

        endpoints = ctx.plan.endpoints
        answers = ctx.each(endpoints, ask)
        return EtcdSnapshot(
            tuple(
                EtcdMember(e.member, e.address, str(a)) if isinstance(a, ProbeError) else a
                for e, a in zip(endpoints, answers, strict=True)
            )
        )

    def evaluate(self, snapshot: EtcdSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        members = snapshot.members
        total = len(members)
        answered = [m for m in members if m.error is None]
        healthy = [m for m in answered if m.healthy]
        names = {m.member_id: m.name for m in answered}
        leaders = {m.leader_id for m in answered}
        leader = names.get(next(iter(leaders)), "unknown") if len(leaders) == 1 and "0" not in leaders else None
        states = tuple(MemberState(m.name, m.address, _state(m, names), m.error is None and m.healthy) for m in members)
        left = failures_left(len(healthy), total)
        summary = f"{len(healthy)}/{total} members, leader {leader or 'none'}"
        problems = [f"{m.name} {m.error or f'unhealthy ({m.health_error})'}" for m in members if m not in healthy]
        if len(healthy) < total // 2 + 1:  # a survivor's idea of the leader is stale without quorum
            reason = join_words(
                [f"{len(healthy)}/{total} members, leader none; quorum ({total // 2 + 1}) lost", *problems]
            )
            return Report(self.name, "down", reason, None, 0, states)
        if leader is None:
            seen = ", ".join(sorted(names.get(i, i) for i in leaders))
            return Report(self.name, "down", f"{summary}; members disagree on the leader ({seen})", None, 0, states)
        indexes = [m.raft_index for m in answered]
        spread = max(indexes) - min(indexes)
        if spread > RAFT_INDEX_SPREAD_LIMIT:
            problems.append(f"raft index spread {spread} (limit {RAFT_INDEX_SPREAD_LIMIT})")
        problems += sorted({a for m in answered for a in m.alarms})
        status = graded(problems)
        return Report(self.name, status, join_words([summary, tolerance_words(left), *problems]), leader, left, states)


def _alarms(ctx: ProbeContext, endpoint: Endpoint) -> tuple[tuple[str, ...], str]:
    """The cluster's alarms as ``endpoint`` lists them ("NOSPACE on <member id>"), and why the
    list could not be read ("" when it was), asked only when its ``/health`` said false: an alarm
    makes ``/health`` false on every member (etcd 3.4 answers ``{"health":"false"}`` without a
    reason, 3.5 "ALARM NOSPACE"; etcd's ``etcdhttp`` health handler; seen on the lab's etcd
    3.4.23), so a healthy answer means none. The list is a linearizable read: a member without
    quorum does not answer it within :data:`HEALTH_TIMEOUT`."""
    try:
        reply = expect_json(
            ctx.http("POST", endpoint, "/v3/maintenance/alarm", body={"action": "GET"}, timeout=HEALTH_TIMEOUT),
            "alarm",
        )
        listed = reply.get("alarms") or []
        alarms = tuple(f"{a.get('alarm', 'UNKNOWN')} on {a.get('memberID', '?')}" for a in listed)
    except ProbeError as exc:
        return (), f"alarm list: {str(exc).rpartition(': ')[2]}"
    except (AttributeError, TypeError):  # not the documented {"alarms": [{...}]}
        return (), "alarm list: unexpected answer"
    return alarms, ""


def _state(member: EtcdMember, names: Mapping[str, str]) -> str:
    if member.error is not None:
        return "unreachable"
    if not member.healthy:
        return "unhealthy"
    return "leader" if member.leader_id == member.member_id else "follower"
