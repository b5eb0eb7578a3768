"""APISIX: every instance's metrics export answering, the admin API answering.

APISIX 3.11 (the pinned version) has no status server (``/status/ready`` arrived in 3.13) and
its control API listens on the container's loopback only, so each instance is asked for its
Prometheus export (``plugin_attr.prometheus.export_addr``, ``/apisix/prometheus/metrics``):
an answer proves that instance's workers run.

Production runs APISIX as one Swarm service; its ``tasks.<stack>_apisix`` name resolves to every
task, so each instance is asked directly. With the admin key the admin API proves it can read
its configuration from etcd (``/apisix/admin/routes``); without it, a 401 proves it answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, join_words, tolerance_words
from iklim.status.report import MemberState, Report, graded
from iklim.status.transport import ProbeError

#: APISIX's default ``plugin_attr.prometheus.export_uri``.
METRICS_PATH = "/apisix/prometheus/metrics"


@dataclass(frozen=True)
class ApisixInstance:
    name: str
    address: str
    ready: bool
    error: str | None = None


@dataclass(frozen=True)
class ApisixSnapshot:
    instances: tuple[ApisixInstance, ...]
    admin_status: int  # 0 when the admin API did not answer
    admin_error: str | None
    admin_key: bool


class ApisixProbe:
    name = "apisix"

    def observe(self, ctx: ProbeContext) -> ApisixSnapshot:
        status = list(ctx.plan.of("status"))
        problems: list[ApisixInstance] = []
        for tasks in ctx.plan.of("tasks"):
            try:
                addresses = ctx.transport.resolve(tasks.host)
                status += [Endpoint(f"apisix@{ip}", ip, tasks.port, "status") for ip in addresses]
            except ProbeError as exc:
                problems.append(ApisixInstance(tasks.host, tasks.address, False, str(exc)))

        def ask(endpoint: Endpoint) -> bool:
            return ctx.http("GET", endpoint, METRICS_PATH).status == 200

        answers = ctx.each(status, ask)
        instances = tuple(
            ApisixInstance(e.member, e.address, False, str(a))
            if isinstance(a, ProbeError)
            else ApisixInstance(e.member, e.address, a)
            for e, a in zip(status, answers, strict=True)
        ) + tuple(problems)
        key = ctx.secrets.get("apisix_admin_key")
        admin = ctx.plan.of("admin")[0]
        try:
            reply = ctx.http("GET", admin, "/apisix/admin/routes", headers={"X-API-KEY": key} if key else None)
            return ApisixSnapshot(instances, reply.status, None, key is not None)
        except ProbeError as exc:
            return ApisixSnapshot(instances, 0, str(exc), key is not None)

    def evaluate(self, snapshot: ApisixSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        expected = int(plan.settings.get("members", len(plan.of("status")) or 1))
        ready = [i for i in snapshot.instances if i.ready]
        states = tuple(
            MemberState(i.name, i.address, "ready" if i.ready else "not ready", i.ready) for i in snapshot.instances
        )
        problems = [f"{i.name} {i.error or 'not ready'}" for i in snapshot.instances if not i.ready]
        admin_ok = snapshot.admin_status == 200 or (not snapshot.admin_key and snapshot.admin_status == 401)
        if not admin_ok:
            problems.append(f"admin API {snapshot.admin_error or f'HTTP {snapshot.admin_status}'}")
        summary = f"{len(ready)}/{expected} instances ready"
        if not ready:
            return Report(self.name, "down", join_words([summary, *problems]), None, 0, states)
        if len(ready) < expected and not any("not ready" in p for p in problems):
            problems.append(f"{expected - len(ready)} instance(s) missing")
        left = max(0, len(ready) - 1)
        note = "" if snapshot.admin_key else "admin API checked without a key"
        status = graded(problems)
        return Report(
            self.name, status, join_words([summary, tolerance_words(left), *problems, note]), None, left, states
        )
