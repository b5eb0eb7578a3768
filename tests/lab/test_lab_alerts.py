"""The rendered alerting rules run in the lab's real Prometheus against the real engines (issue 15).

- every rule group of a component the lab scrapes is loaded and evaluates without error;
- every metric a loaded rule reads is exposed by the lab's real engines (the names are the
  engines' own, not guessed);
- stopping one etcd member and the Redis master makes the matching alert fire in
  ``/api/v1/alerts`` within its ``for:`` plus two scrape intervals, reach Alertmanager when the lab
  runs it, and resolve after the member is started again.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from redis.sentinel import Sentinel

from iklim.components.alertrules import Alert, interval
from iklim.components.alerts import alerts
from iklim.components.base import member_names
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components
from iklim.lab.probes import http_json

#: Metric names in a PromQL expression: an identifier directly followed by a selector or range.
_METRIC = re.compile(r"\b([a-z_][a-z0-9_]*)\{")
#: Metrics present only in the state they report (autopilot: only the active node exports it).
_CONDITIONAL = {"vault_autopilot_healthy"}
#: Slack for this test's own polling (one poll period) on top of for: + 2 scrape intervals.
_POLL = 1.0


def _prometheus(lab: LabContext) -> Any:
    return next(c for c in components() if c.name == "prometheus")


def _api(lab: LabContext, path: str) -> Any:
    return http_json(f"{_prometheus(lab).url(lab)}{path}", timeout=5)["data"]


def _scraped(lab: LabContext) -> frozenset[str]:
    scraped: frozenset[str] = _prometheus(lab).scraped
    return scraped


def _firing(lab: LabContext, name: str) -> list[dict[str, Any]]:
    found = _api(lab, "/api/v1/alerts")["alerts"]
    return [a for a in found if a["labels"]["alertname"] == name and a["state"] == "firing"]


def _alert(lab: LabContext, key: str, name: str) -> Alert:
    return next(a for a in alerts(lab.env)[key] if a.name == name)


def test_rules_are_loaded_and_evaluate(lab: LabContext) -> None:
    expected = set(alerts(lab.env, _scraped(lab)))
    time.sleep(2 * interval(lab.env))  # every group evaluated at least once
    groups = {g["name"]: g for g in _api(lab, "/api/v1/rules")["groups"]}
    assert set(groups) == expected
    broken = [(r["name"], r.get("lastError")) for g in groups.values() for r in g["rules"] if r["health"] == "err"]
    assert not broken


def test_every_metric_a_rule_reads_is_exposed_by_the_real_engines(lab: LabContext) -> None:
    missing, checked = [], set()
    for key, found in alerts(lab.env, _scraped(lab)).items():
        for alert in found:
            for metric in set(_METRIC.findall(alert.expr)) - _CONDITIONAL - {"up"}:
                checked.add(metric)
                query = urllib.parse.quote(f"count({metric})")
                if not _api(lab, f"/api/v1/query?query={query}")["result"]:
                    missing.append(f"{key}: {alert.name} reads {metric}, which no lab engine exposes")
    assert not missing, "\n".join(missing)
    assert len(checked) >= 20, sorted(checked)  # the extraction found the rules' metrics


def _drill(
    lab: LabContext,
    key: str,
    name: str,
    instance: str,
    member: str,
    repair: Callable[[], object] | None = None,
) -> tuple[float, float]:
    """Stop ``member``; wait for alert ``name`` firing on ``instance`` (and reaching Alertmanager
    when the lab runs one); start it again, run ``repair`` (an unseal), wait for the alert to
    resolve. With ``repair`` the member is started at once: the alert is about the state it
    restarts in (sealed). Returns (seconds to fire, seconds to resolve after the repair)."""
    alert = _alert(lab, key, name)
    step = interval(lab.env)
    budget = alert.for_s + 2 * step + _POLL
    spec = next(s for c in components() for s in c.processes(lab) if s.name == member)
    lab.supervisor.stop(member, grace=5)
    broken = time.monotonic()  # the member is down from here (a Patroni leader takes seconds to stop)
    if repair is not None:
        lab.supervisor.start(spec)
    fired = None
    try:
        while time.monotonic() - broken < budget + 3 * step:  # keep watching past the budget to report
            if any(a["labels"].get("instance") == instance for a in _firing(lab, name)):
                fired = time.monotonic() - broken
                break
            time.sleep(_POLL)
        if "alertmanager" in _scraped(lab) and fired is not None:
            # Prometheus sends at evaluation time; Alertmanager holds it at once (group_wait delays
            # the notification, not the receiving).
            assert _eventually_received(lab, name, step), f"{name} never reached Alertmanager"
    finally:
        if repair is None:
            lab.supervisor.start(spec)
        else:
            repair()
    assert fired is not None, f"{name} did not fire for {instance} within {budget + 3 * step:.0f} s"
    assert fired <= budget, f"{name} fired after {fired:.1f} s, beyond for: {alert.for_s} s + 2 scrapes"
    started = time.monotonic()
    while any(a["labels"].get("instance") == instance for a in _firing(lab, name)):
        assert time.monotonic() - started < 6 * step, f"{name} still firing {6 * step} s after {member} recovered"
        time.sleep(_POLL)
    resolved = time.monotonic() - started
    print(f"{name} ({member}): fired {fired:.1f} s after the break (budget {budget:.0f} s), resolved {resolved:.1f} s")
    return fired, resolved


def _eventually_received(lab: LabContext, name: str, step: int) -> bool:
    manager = next(c for c in components() if c.name == "alertmanager")
    deadline = time.monotonic() + 2 * step
    while time.monotonic() < deadline:
        if any(a["labels"]["alertname"] == name for a in http_json(f"{manager.url(lab)}/api/v2/alerts", timeout=5)):
            return True
        time.sleep(_POLL)
    return False


def _wait_healthy(lab: LabContext, name: str, within: float) -> None:
    component = next(c for c in components() if c.name == name)
    deadline = time.monotonic() + within
    while True:
        ok, words = component.health(lab)
        if ok:
            return
        assert time.monotonic() < deadline, f"{name} not healthy again: {words}"
        time.sleep(1)


def test_stopping_an_etcd_member_fires_and_resolves_etcd_target_down(lab: LabContext) -> None:
    member = member_names("etcd", lab.env.services.etcd.members)[-1]
    where = lab.target.endpoint(member, "client")
    _drill(lab, "etcd", "EtcdTargetDown", f"{where.host}:{where.port}", member)
    _wait_healthy(lab, "etcd", 60)


def test_stopping_the_redis_master_fires_and_resolves_redis_down(lab: LabContext) -> None:
    spec = lab.env.services.redis
    sentinels = [
        (lab.target.endpoint(m, "sentinel").host, lab.target.endpoint(m, "sentinel").port)
        for m in member_names("redis-sentinel", spec.sentinel.members)
    ]
    host, port = Sentinel(sentinels, socket_timeout=1).discover_master(spec.master_name)
    member = next(
        m
        for m in member_names("redis", spec.members)
        if (lab.target.endpoint(m, "redis").host, lab.target.endpoint(m, "redis").port) == (host, int(port))
    )
    _drill(lab, "redis", "RedisDown", f"redis://{host}:{port}", member)
    _wait_healthy(lab, "redis", 90)


def test_stopping_the_patroni_leader_fires_and_resolves_patroni_target_down(lab: LabContext) -> None:
    patroni = next(c for c in components() if c.name == "patroni")
    leader = next(m for m in patroni.cluster(lab)["members"] if m["role"] == "leader")  # type: ignore[attr-defined]
    where = lab.target.endpoint(leader["name"], "patroni-api")
    _drill(lab, "patroni", "PatroniTargetDown", f"{where.host}:{where.port}", leader["name"])
    _wait_healthy(lab, "patroni", 120)


def test_stopping_a_rabbitmq_node_fires_and_resolves_rabbitmq_target_down(lab: LabContext) -> None:
    member = member_names("rabbitmq", lab.env.services.rabbitmq.members)[-1]
    where = lab.target.endpoint(member, "metrics")
    _drill(lab, "rabbitmq", "RabbitmqTargetDown", f"{where.host}:{where.port}", member)
    _wait_healthy(lab, "rabbitmq", 120)


def test_a_restarted_sealed_openbao_member_fires_and_resolves_vault_sealed(lab: LabContext) -> None:
    """An OpenBao member comes back from a restart sealed, and keeps serving /v1/sys/metrics
    (unauthenticated_metrics_access) with ``vault_core_unsealed`` 0: VaultSealed fires, and
    resolves once the lab unseals it (the Vault bootstrap's unseal step)."""
    bao = next(c for c in components() if c.name == "vault")
    member = member_names("vault", lab.env.services.vault.members)[-1]
    where = lab.target.endpoint(member, "api")
    _drill(
        lab,
        "vault",
        "VaultSealed",
        f"{where.host}:{where.port}",
        member,
        repair=lambda: bao.wait_ready(lab, time.monotonic() + 120),
    )
    _wait_healthy(lab, "vault", 60)
