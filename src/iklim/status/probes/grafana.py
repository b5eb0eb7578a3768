"""Grafana: ``/api/health`` answers with ``database: ok``. A single instance: healthy or down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan
from iklim.status.probes.base import ProbeContext
from iklim.status.report import MemberState, Report
from iklim.status.transport import ProbeError


@dataclass(frozen=True)
class GrafanaSnapshot:
    name: str
    address: str
    error: str | None = None
    status: int = 0
    database: str = ""
    version: str = ""


class GrafanaProbe:
    name = "grafana"

    def observe(self, ctx: ProbeContext) -> GrafanaSnapshot:
        endpoint = ctx.plan.endpoints[0]
        try:
            reply = ctx.http("GET", endpoint, "/api/health")
        except ProbeError as exc:
            return GrafanaSnapshot(endpoint.member, endpoint.address, str(exc))
        body = reply.body if isinstance(reply.body, dict) else {}
        return GrafanaSnapshot(
            endpoint.member,
            endpoint.address,
            None,
            reply.status,
            str(body.get("database", "")),
            str(body.get("version", "")),
        )

    def evaluate(self, snapshot: GrafanaSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        ok = snapshot.error is None and snapshot.status == 200 and snapshot.database == "ok"
        state = "ok" if ok else "unreachable" if snapshot.error else "unhealthy"
        member = (MemberState(snapshot.name, snapshot.address, state, ok),)
        if ok:
            return Report(
                self.name, "healthy", f"database ok, version {snapshot.version or 'unknown'}", None, None, member
            )
        why = snapshot.error or f"/api/health HTTP {snapshot.status}, database {snapshot.database or 'unknown'}"
        return Report(self.name, "down", why, None, None, member)
