"""Prometheus: ready, and every active target up.

A target that is down because its member is down is already reported by that member's component
(the probes listed before this one), so it is named here but does not degrade Prometheus: the
scrape is doing its job. A down target whose member is fine is a monitoring problem: degraded.
Targets not scraped yet (``unknown``, right after a start) are counted as pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan
from iklim.status.probes.base import ProbeContext, expect_json, join_words
from iklim.status.report import MemberState, Report
from iklim.status.transport import ProbeError


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str  # up | down | unknown
    error: str


@dataclass(frozen=True)
class PrometheusSnapshot:
    name: str
    address: str
    error: str | None
    ready: bool = False
    targets: tuple[Target, ...] = ()


class PrometheusProbe:
    name = "prometheus"

    def observe(self, ctx: ProbeContext) -> PrometheusSnapshot:
        endpoint = ctx.plan.endpoints[0]
        try:
            ready = ctx.http("GET", endpoint, "/-/ready").status == 200
            data = expect_json(ctx.http("GET", endpoint, "/api/v1/targets?state=active"), "targets")
            targets = tuple(
                Target(
                    str(t["labels"].get("job", "")),
                    str(t["labels"].get("instance", "")),
                    str(t.get("health")),
                    str(t.get("lastError") or ""),
                )
                for t in data["data"]["activeTargets"]
            )
        except ProbeError as exc:
            return PrometheusSnapshot(endpoint.member, endpoint.address, str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            return PrometheusSnapshot(endpoint.member, endpoint.address, f"unexpected answer ({exc})")
        return PrometheusSnapshot(endpoint.member, endpoint.address, None, ready, targets)

    def evaluate(self, snapshot: PrometheusSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        ok = snapshot.error is None and snapshot.ready
        states = (MemberState(snapshot.name, snapshot.address, "ready" if ok else "unreachable", ok),)
        if snapshot.error is not None:
            return Report(self.name, "down", snapshot.error, None, None, states)
        if not snapshot.ready:
            return Report(self.name, "down", "not ready (/-/ready)", None, None, states)
        targets = snapshot.targets
        up = sum(t.health == "up" for t in targets)
        pending = sum(t.health == "unknown" for t in targets)
        down = [t for t in targets if t.health not in ("up", "unknown")]
        known = [t for t in down if _known_outage(t, peers)]
        unexplained = [t for t in down if t not in known]
        words = [f"ready, {up}/{len(targets)} targets up"]
        if pending:
            words.append(f"{pending} not scraped yet")
        if known:
            words.append("down with their member: " + ", ".join(f"{t.job} {t.instance}" for t in known))
        words += [f"target {t.job} {t.instance} down" + (f" ({t.error})" if t.error else "") for t in unexplained]
        return Report(self.name, "degraded" if unexplained else "healthy", join_words(words), None, None, states)


def _known_outage(target: Target, peers: Mapping[str, Report]) -> bool:
    """True when the component probed before reports the target's member as not ok."""
    report = peers.get(target.job)
    if report is None:
        return False
    host = target.instance.rpartition(":")[0]
    return any(not m.ok and host in (m.name, m.address.rpartition(":")[0]) for m in report.members)
