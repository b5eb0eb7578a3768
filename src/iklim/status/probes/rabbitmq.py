"""RabbitMQ: ``/api/nodes`` all running, no partitions, no memory/disk alarms, and no node that
is quorum-critical (``/api/health/checks/node-is-quorum-critical`` on each running node)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, expect_json, join_words, tolerance_words
from iklim.status.report import MemberState, Report, failures_left, graded
from iklim.status.transport import ProbeError, basic_auth

NODE_COLUMNS = "name,running,partitions,mem_alarm,disk_free_alarm"


@dataclass(frozen=True)
class RabbitNode:
    name: str
    running: bool
    partitions: tuple[str, ...]
    mem_alarm: bool
    disk_alarm: bool


@dataclass(frozen=True)
class RabbitMember:
    name: str
    address: str
    error: str | None = None
    quorum_critical: str = ""  # the check's reason when this node is quorum-critical


@dataclass(frozen=True)
class RabbitSnapshot:
    nodes: tuple[RabbitNode, ...]
    members: tuple[RabbitMember, ...]
    credentials: bool = True


def member_of(node: str, members: list[str]) -> str | None:
    """``rabbitmq-1@localhost`` (lab) or ``rabbit@rabbitmq-1`` (production) -> ``rabbitmq-1``."""
    parts = node.split("@")
    return next((m for m in members if m in parts), None)


class RabbitMQProbe:
    name = "rabbitmq"

    def observe(self, ctx: ProbeContext) -> RabbitSnapshot:
        password = ctx.secrets.get("rabbitmq_admin_password")
        endpoints = ctx.plan.endpoints
        if password is None:
            return RabbitSnapshot(
                (), tuple(RabbitMember(e.member, e.address, "no credentials") for e in endpoints), credentials=False
            )
        headers = basic_auth(str(ctx.plan.settings.get("user", "admin")), password)

        def ask(endpoint: Endpoint) -> tuple[Any, str]:
            reply = ctx.http("GET", endpoint, f"/api/nodes?columns={NODE_COLUMNS}", headers=headers)
            if reply.status == 401:
                raise ProbeError("management API refused the credentials")
            nodes = expect_json(reply, "/api/nodes")
            check = ctx.http("GET", endpoint, "/api/health/checks/node-is-quorum-critical", headers=headers)
            critical = ""
            if check.status != 200:
                body = check.body if isinstance(check.body, dict) else {}
                queues = body.get("queues") or []
                critical = str(body.get("reason", f"HTTP {check.status}"))
                critical += f" ({len(queues)} queues)" if queues else ""
            return nodes, critical

        answers = ctx.each(endpoints, ask)
        nodes: tuple[RabbitNode, ...] = ()
        members = []
        for endpoint, answer in zip(endpoints, answers, strict=True):
            if isinstance(answer, ProbeError):
                members.append(RabbitMember(endpoint.member, endpoint.address, str(answer)))
                continue
            listing, critical = answer
            members.append(RabbitMember(endpoint.member, endpoint.address, None, critical))
            if not nodes:
                nodes = tuple(
                    RabbitNode(
                        str(n.get("name")),
                        bool(n.get("running")),
                        tuple(map(str, n.get("partitions") or [])),
                        bool(n.get("mem_alarm")),
                        bool(n.get("disk_free_alarm")),
                    )
                    for n in listing
                )
        return RabbitSnapshot(nodes, tuple(members))

    def evaluate(self, snapshot: RabbitSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        names = [e.member for e in plan.endpoints]
        total = len(names)
        if not snapshot.nodes:
            why = "no management API answers" if snapshot.credentials else "cannot check: no admin password"
            reason = join_words([why, *(f"{m.name} {m.error}" for m in snapshot.members)])
            states = tuple(MemberState(m.name, m.address, "unreachable", False) for m in snapshot.members)
            return Report(self.name, "down", reason, None, 0, states)
        by_member = {member_of(n.name, names) or n.name: n for n in snapshot.nodes}
        running = [m for m in names if m in by_member and by_member[m].running]
        problems = [f"{m} not running" for m in names if m not in running]
        problems += [f"{n.name} partitioned from {', '.join(n.partitions)}" for n in snapshot.nodes if n.partitions]
        problems += [f"memory alarm on {n.name} (publishers blocked)" for n in snapshot.nodes if n.mem_alarm]
        problems += [f"disk alarm on {n.name} (publishers blocked)" for n in snapshot.nodes if n.disk_alarm]
        problems += [f"{m.name} is quorum-critical: {m.quorum_critical}" for m in snapshot.members if m.quorum_critical]
        problems += [
            f"{m.name} management API {m.error}" for m in snapshot.members if m.error is not None and m.name in running
        ]
        states = tuple(
            MemberState(m.name, m.address, "running" if m.name in running else "stopped", m.name in running)
            for m in snapshot.members
        )
        left = failures_left(len(running), total)
        summary = f"{len(running)}/{total} nodes running"
        if len(running) < total // 2 + 1:
            return Report(self.name, "down", join_words([f"{summary}; majority lost", *problems]), None, 0, states)
        status = graded(problems)
        return Report(self.name, status, join_words([summary, tolerance_words(left), *problems]), None, left, states)
