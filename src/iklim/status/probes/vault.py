"""Vault / OpenBao: ``/v1/sys/health`` per node (active, standby, sealed, uninitialised); with a
token, autopilot healthy and failure tolerance >= 1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, join_words, tolerance_words
from iklim.status.report import MemberState, Report, failures_left, graded
from iklim.status.transport import ProbeError
from iklim.vault.health import HEALTH_CODES, HEALTH_PATH

SERVING = ("active", "standby", "performance-standby")


@dataclass(frozen=True)
class VaultNode:
    name: str
    address: str
    state: str  # a HEALTH_CODES value, or "unreachable"
    error: str | None = None


@dataclass(frozen=True)
class Autopilot:
    healthy: bool
    failure_tolerance: int
    leader: str
    voters: tuple[str, ...]
    unhealthy: tuple[str, ...]


@dataclass(frozen=True)
class VaultSnapshot:
    nodes: tuple[VaultNode, ...]
    autopilot: Autopilot | None
    autopilot_note: str = ""  # why autopilot was not read (no token, refused)


class VaultProbe:
    name = "vault"

    def observe(self, ctx: ProbeContext) -> VaultSnapshot:
        token = ctx.secrets.get("vault_token")

        def ask(endpoint: Endpoint) -> tuple[VaultNode, Autopilot | None, str]:
            reply = ctx.http("GET", endpoint, HEALTH_PATH)
            node = VaultNode(endpoint.member, endpoint.address, HEALTH_CODES.get(reply.status, f"HTTP {reply.status}"))
            if token is None or node.state != "active":
                return node, None, ""
            state = ctx.http("GET", endpoint, "/v1/sys/storage/raft/autopilot/state", headers={"X-Vault-Token": token})
            if state.status != 200 or not isinstance(state.body, dict):
                return node, None, f"autopilot state refused (HTTP {state.status})"
            return node, _autopilot(state.body.get("data") or {}), ""

        endpoints = ctx.plan.endpoints
        answers = ctx.each(endpoints, ask)
        nodes, autopilot, note = [], None, "" if token else "autopilot not checked (no token)"
        for endpoint, answer in zip(endpoints, answers, strict=True):
            if isinstance(answer, ProbeError):
                nodes.append(VaultNode(endpoint.member, endpoint.address, "unreachable", str(answer)))
                continue
            nodes.append(answer[0])
            autopilot = autopilot or answer[1]
            note = note or answer[2]
        return VaultSnapshot(tuple(nodes), autopilot, note)

    def evaluate(self, snapshot: VaultSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        nodes = snapshot.nodes
        total = len(nodes)
        active = [n for n in nodes if n.state == "active"]
        serving = [n for n in nodes if n.state in SERVING]
        states = tuple(MemberState(n.name, n.address, n.state, n.state in SERVING) for n in nodes)
        problems = [
            f"{n.name} {n.state}" + (f" ({n.error})" if n.error else "") for n in nodes if n.state not in SERVING
        ]
        leader = active[0].name if len(active) == 1 else None
        summary = f"active {leader or 'none'}, {len(serving)}/{total} unsealed"
        if not active or len(serving) < total // 2 + 1:
            why = "no active node" if not active else f"quorum ({total // 2 + 1}) lost"
            return Report(self.name, "down", join_words([summary, why, *problems]), leader, 0, states)
        if len(active) > 1:
            problems.append(f"{len(active)} nodes claim to be active")
        pilot = snapshot.autopilot
        tolerates = failures_left(len(serving), total)
        if pilot is not None:
            tolerates = min(tolerates, pilot.failure_tolerance)
            if not pilot.healthy:
                problems.append("autopilot unhealthy" + (f": {', '.join(pilot.unhealthy)}" if pilot.unhealthy else ""))
            if pilot.failure_tolerance < 1:
                problems.append(f"autopilot failure tolerance {pilot.failure_tolerance}")
        status = graded(problems)
        reason = join_words([summary, tolerance_words(tolerates), *problems, snapshot.autopilot_note])
        return Report(self.name, status, reason, leader, tolerates, states)


def _autopilot(data: Mapping[str, Any]) -> Autopilot:
    servers = data.get("servers") or {}
    unhealthy = tuple(sorted(str(s.get("name") or i) for i, s in servers.items() if not s.get("healthy")))
    return Autopilot(
        bool(data.get("healthy")),
        int(data.get("failure_tolerance", 0)),
        str(data.get("leader", "")),
        tuple(map(str, data.get("voters") or [])),
        unhealthy,
    )
