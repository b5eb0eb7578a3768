"""Alertmanager: ``/-/healthy`` answers 200 and ``/api/v2/alerts`` lists what it holds.

A single instance: healthy or down. The reason names how many alerts are active, so
``iklim status`` shows at a glance that something is firing (Alertmanager docs, "Management API"
and the v2 OpenAPI ``GET /alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan
from iklim.status.probes.base import ProbeContext
from iklim.status.report import MemberState, Report
from iklim.status.transport import ProbeError


@dataclass(frozen=True)
class AlertmanagerSnapshot:
    name: str
    address: str
    error: str | None = None
    status: int = 0
    active: tuple[str, ...] = ()


class AlertmanagerProbe:
    name = "alertmanager"

    def observe(self, ctx: ProbeContext) -> AlertmanagerSnapshot:
        endpoint = ctx.plan.endpoints[0]
        try:
            status = ctx.http("GET", endpoint, "/-/healthy").status
            reply = ctx.http("GET", endpoint, "/api/v2/alerts?active=true&silenced=false&inhibited=false")
        except ProbeError as exc:
            return AlertmanagerSnapshot(endpoint.member, endpoint.address, str(exc))
        body = reply.body if isinstance(reply.body, list) else []
        names = tuple(sorted(str(a.get("labels", {}).get("alertname", "?")) for a in body if isinstance(a, dict)))
        return AlertmanagerSnapshot(endpoint.member, endpoint.address, None, status, names)

    def evaluate(self, snapshot: AlertmanagerSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        ok = snapshot.error is None and snapshot.status == 200
        state = "ok" if ok else "unreachable" if snapshot.error else "unhealthy"
        member = (MemberState(snapshot.name, snapshot.address, state, ok),)
        if not ok:
            why = snapshot.error or f"/-/healthy HTTP {snapshot.status}"
            return Report(self.name, "down", why, None, None, member)
        firing = ", ".join(sorted(set(snapshot.active))) or "none"
        return Report(self.name, "healthy", f"{len(snapshot.active)} active alerts ({firing})", None, None, member)
