"""SWAG: its nginx answers ``/stub_status`` on the overlay-only status port (the page
nginx-prometheus-exporter reads). A single instance: healthy or down."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan
from iklim.status.probes.base import ProbeContext
from iklim.status.report import MemberState, Report
from iklim.status.transport import ProbeError

_ACTIVE = re.compile(r"Active connections:\s*(\d+)")


@dataclass(frozen=True)
class SwagSnapshot:
    name: str
    address: str
    error: str | None = None
    status: int = 0
    active: int | None = None


class SwagProbe:
    """One GET of ``/stub_status``; healthy when it answers 200 with nginx's connection count."""

    name = "swag"

    def observe(self, ctx: ProbeContext) -> SwagSnapshot:
        endpoint = ctx.plan.endpoints[0]
        try:
            reply = ctx.http("GET", endpoint, "/stub_status")
        except ProbeError as exc:
            return SwagSnapshot(endpoint.member, endpoint.address, str(exc))
        found = _ACTIVE.search(reply.text)
        return SwagSnapshot(endpoint.member, endpoint.address, None, reply.status, int(found[1]) if found else None)

    def evaluate(self, snapshot: SwagSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        ok = snapshot.error is None and snapshot.status == 200 and snapshot.active is not None
        state = "ok" if ok else "unreachable" if snapshot.error else "unhealthy"
        member = (MemberState(snapshot.name, snapshot.address, state, ok),)
        if ok:
            return Report(
                self.name, "healthy", f"nginx serving, {snapshot.active} active connections", None, None, member
            )
        why = snapshot.error or f"/stub_status HTTP {snapshot.status}, no connection count"
        return Report(self.name, "down", why, None, None, member)
