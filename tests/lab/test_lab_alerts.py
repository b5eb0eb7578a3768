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
from typing import Any

from redis.sentinel import Sentinel

from iklim.components.alertrules import Alert, interval
from iklim.components.alerts import alerts
from iklim.components.base import member_names
from iklim.components.dashboards import dashboards
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
    missing = []
    for key, found in alerts(lab.env, _scraped(lab)).items():
        for alert in found:
            for metric in set(_METRIC.findall(alert.expr)) - _CONDITIONAL - {"up"}:
                query = urllib.parse.quote(f"count({metric})")
                if not _api(lab, f"/api/v1/query?query={query}")["result"]:
                    missing.append(f"{key}: {alert.name} reads {metric}, which no lab engine exposes")
    assert not missing, "\n".join(missing)


def _drill(lab: LabContext, key: str, name: str, member: str, instance: str) -> tuple[float, float]:
    """Stop ``member``; wait for alert ``name`` firing on ``instance``; start it again and wait for
    the alert to resolve. Returns (seconds to fire, seconds to resolve)."""
    alert = _alert(lab, key, name)
    step = interval(lab.env)
    budget = alert.for_s + 2 * step + _POLL
    spec = next(s for c in components() for s in c.processes(lab) if s.name == member)
    stopped = time.monotonic()
    lab.supervisor.stop(member, grace=5)
    fired = None
    try:
        while time.monotonic() - stopped < budget + 3 * step:  # keep watching past the budget to report
            if any(a["labels"].get("instance") == instance for a in _firing(lab, name)):
                fired = time.monotonic() - stopped
                break
            time.sleep(_POLL)
        if "alertmanager" in _scraped(lab) and fired is not None:
            manager = next(c for c in components() if c.name == "alertmanager")
            received = http_json(f"{manager.url(lab)}/api/v2/alerts", timeout=5)
            # Prometheus sends at evaluation time; Alertmanager holds it at once (group_wait is for
            # the notification, not for receiving).
            assert any(a["labels"]["alertname"] == name for a in received) or _eventually_received(
                lab, manager, name, step
            )
    finally:
        lab.supervisor.start(spec)
    assert fired is not None, f"{name} did not fire for {instance} within {budget + 3 * step:.0f} s"
    assert fired <= budget, f"{name} fired after {fired:.1f} s, beyond for: {alert.for_s} s + 2 scrapes"
    started = time.monotonic()
    while any(a["labels"].get("instance") == instance for a in _firing(lab, name)):
        assert time.monotonic() - started < 6 * step, f"{name} still firing {6 * step} s after {member} restarted"
        time.sleep(_POLL)
    return fired, time.monotonic() - started


def _eventually_received(lab: LabContext, manager: Any, name: str, step: int) -> bool:
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
    fired, resolved = _drill(lab, "etcd", "EtcdTargetDown", member, f"{where.host}:{where.port}")
    print(f"EtcdTargetDown: fired {fired:.1f} s after the stop, resolved {resolved:.1f} s after the start")
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
    fired, resolved = _drill(lab, "redis", "RedisDown", member, f"redis://{host}:{port}")
    print(f"RedisDown: fired {fired:.1f} s after the stop, resolved {resolved:.1f} s after the start")
    _wait_healthy(lab, "redis", 90)


#: Panels that are empty on a healthy lab by design.
_EMPTY_WHEN_HEALTHY = {'count by (severity) (ALERTS{alertstate="firing"})'}


def test_every_dashboard_query_returns_data_for_the_lab_components(lab: LabContext) -> None:
    """Each panel query of the rendered dashboards evaluates on the lab's Prometheus and, when every
    job it names runs in the lab, returns data."""
    scraped = _scraped(lab)
    empty = []
    for stem, doc in dashboards(lab.env).items():
        for panel in doc["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                jobs = set(re.findall(r'job="([a-z]+)"', expr))
                result = _api(lab, f"/api/v1/query?query={urllib.parse.quote(expr)}")["result"]
                if not result and jobs <= scraped and expr not in _EMPTY_WHEN_HEALTHY:
                    empty.append(f"{stem}: {panel['title']}: {expr}")
    assert not empty, "\n".join(empty)
