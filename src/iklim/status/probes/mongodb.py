"""MongoDB: ``replSetGetStatus`` shows one PRIMARY, every member healthy, secondaries close."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, join_words, tolerance_words
from iklim.status.report import MemberState, Report, failures_left, graded
from iklim.status.transport import ProbeError

#: Seconds a secondary's last applied operation may trail the primary's.
MAX_SECONDARY_LAG_S = 10.0
SERVING_STATES = ("PRIMARY", "SECONDARY", "ARBITER")


@dataclass(frozen=True)
class MongoMember:
    name: str
    state: str  # stateStr: PRIMARY, SECONDARY, RECOVERING, (not reachable/healthy)...
    healthy: bool
    optime_ms: int | None


@dataclass(frozen=True)
class MongoSnapshot:
    replica_set: str
    members: tuple[MongoMember, ...]
    answered_by: str | None
    errors: tuple[tuple[str, str], ...]


def _logins(ctx: ProbeContext) -> list[tuple[str, str] | None]:
    """Logins that may run replSetGetStatus, least-privileged first: the exporter's, then root's."""
    logins: list[tuple[str, str] | None] = []
    for user_key, default_user, secret in (
        ("exporter_user", "exporter", "mongodb_exporter_password"),
        ("user", "root", "mongodb_root_password"),
    ):
        password = ctx.secrets.get(secret)
        if password:
            logins.append((str(ctx.plan.settings.get(user_key, default_user)), password))
    return logins or [None]


class MongoDBProbe:
    name = "mongodb"

    def observe(self, ctx: ProbeContext) -> MongoSnapshot:
        logins = _logins(ctx)

        def ask(endpoint: Endpoint) -> dict[str, Any]:
            for index, credentials in enumerate(logins):
                try:
                    reply = ctx.transport.mongo(
                        endpoint.host,
                        endpoint.port,
                        {"replSetGetStatus": 1},
                        timeout=ctx.remaining(),
                        credentials=credentials,
                    )
                except ProbeError as exc:  # e.g. the exporter's user is not created yet: try root
                    if "authentication failed" in str(exc) and index + 1 < len(logins):
                        continue
                    raise
                if reply.get("ok") != 1:
                    raise ProbeError(f"replSetGetStatus: {reply.get('codeName') or reply.get('errmsg') or 'failed'}")
                return reply
            raise ProbeError("no login to try")

        first, errors = ctx.first_answer(ask)
        if first is not None:
            endpoint, answer = first
            members = tuple(
                MongoMember(
                    str(m.get("name")),
                    str(m.get("stateStr")),
                    m.get("health") == 1,
                    m["optimeDate"] if isinstance(m.get("optimeDate"), int) else None,
                )
                for m in answer.get("members", [])
            )
            return MongoSnapshot(str(answer.get("set", "")), members, endpoint.member, errors)
        return MongoSnapshot("", (), None, errors)

    def evaluate(self, snapshot: MongoSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        total = len(plan.endpoints)
        if snapshot.answered_by is None:
            reason = "no member answers replSetGetStatus: " + ", ".join(f"{m} {e}" for m, e in snapshot.errors)
            states = tuple(MemberState(e.member, e.address, "unreachable", False) for e in plan.endpoints)
            return Report(self.name, "down", reason, None, 0, states)
        members = snapshot.members
        serving = [m for m in members if m.healthy and m.state in SERVING_STATES]
        primaries = [m for m in members if m.healthy and m.state == "PRIMARY"]
        states = tuple(MemberState(m.name, m.name, m.state.lower(), m in serving) for m in members)
        problems = [f"{m.name} {m.state if m.healthy else 'unreachable'}" for m in members if m not in serving]
        expected_set = str(plan.settings.get("replica_set", ""))
        if expected_set and snapshot.replica_set != expected_set:
            problems.append(f"replica set {snapshot.replica_set!r}, model says {expected_set!r}")
        leader = primaries[0].name if len(primaries) == 1 else None
        summary = f"{len(serving)}/{total} members, primary {leader or 'none'}"
        if leader is None or len(serving) < total // 2 + 1:
            return Report(self.name, "down", join_words([summary, *problems]), leader, 0, states)
        head = primaries[0].optime_ms
        for member in serving:
            if member.state == "SECONDARY" and head is not None and member.optime_ms is not None:
                lag = (head - member.optime_ms) / 1000
                if lag > MAX_SECONDARY_LAG_S:
                    problems.append(f"{member.name} {lag:.0f} s behind the primary")
        left = failures_left(len(serving), total)
        if len(members) < total:
            problems.append(f"{total - len(members)} member(s) missing from the replica set")
        status = graded(problems)
        return Report(self.name, status, join_words([summary, tolerance_words(left), *problems]), leader, left, states)
