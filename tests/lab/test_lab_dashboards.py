"""Every dashboard query against the lab's real Prometheus: valid PromQL, data for what the lab runs.

The dashboards are the production ones (``iklim.components.dashboards.specs``: the job names and
metric names are the same in the lab; only addresses differ, and no query names an address). A
query of a component the lab scrapes must return at least one series, unless its panel says when
it rightly returns none (``Panel.empty_when``); a query of a component the lab cannot run
(MongoDB, APISIX, Grafana here) must still parse. The leader and member stats must show the
healthy lab's values, from the model.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from iklim.components import dashboards
from iklim.components.dashboard_context import context
from iklim.components.grafana_json import dashboard_json
from iklim.lab.context import LabContext


def _query(base: str, expr: str) -> dict[str, Any]:
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(f"{base}/api/v1/query", data=data, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 400 bad_data: a query Prometheus cannot parse
        answer = json.loads(exc.read())
    return answer


def _base(lab: LabContext) -> str:
    return "http://{0.host}:{0.port}".format(lab.target.endpoint("prometheus-1", "http"))


def _lab_jobs(base: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/api/v1/targets?state=active", timeout=5) as response:
        targets = json.loads(response.read())["data"]["activeTargets"]
    return {t["labels"]["job"] for t in targets}


def test_every_dashboard_query_parses_and_returns_data_for_what_the_lab_runs(lab: LabContext) -> None:
    base = _base(lab)
    ctx = context(lab.env)
    specs = dashboards.specs(lab.env)
    rendered = dashboards.files(lab.env)
    for spec in specs:  # what is queried here is exactly what is rendered
        assert rendered[f"{dashboards.DASHBOARD_DIR}/{spec.key}.json"] == dashboard_json(spec.dashboard)
    jobs = _lab_jobs(base)
    assert {"etcd", "patroni", "redis", "rabbitmq", "vault", "prometheus", "swag"} <= jobs, jobs
    wanted: dict[tuple[str, str, str], str] = {}  # (dashboard, panel, expr) -> the job it needs data from
    parse_errors, checked = [], 0
    for spec in specs:
        for panel in spec.dashboard.panels:
            for q in panel.queries:
                checked += 1
                answer = _query(base, q.expr)
                if answer["status"] != "success":
                    parse_errors.append(f"{spec.key}: {panel.title}: {q.expr}: {answer.get('error')}")
                elif ctx.jobs[panel.component] in jobs and not panel.empty_when:
                    wanted[(spec.key, panel.title, q.expr)] = ctx.jobs[panel.component]
    assert not parse_errors, "\n".join(parse_errors)
    # rate() over four scrape intervals needs two samples in its window: poll until each has data
    deadline = time.monotonic() + 8 * lab.env.services.prometheus.scrape_interval_s
    empty = dict(wanted)
    while empty and time.monotonic() < deadline:
        empty = {key: job for key, job in empty.items() if not _query(base, key[2])["data"]["result"]}
        if empty:
            time.sleep(2)
    assert not empty, "no data for:\n" + "\n".join(f"{d}: {t}: {e}" for d, t, e in empty)
    assert checked > 50 and len(wanted) > 40, (checked, len(wanted))


def _value(base: str, expr: str) -> float | None:
    result = _query(base, expr)["data"]["result"]
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_the_healthy_labs_leaders_and_members_show_on_the_overview(lab: LabContext) -> None:
    base = _base(lab)
    s = lab.env.services
    expected = {
        "etcd: members with a leader": s.etcd.members,
        "Patroni: leaders": 1,
        "Patroni: replicas streaming": s.patroni.members - 1,
        "Redis: masters": 1,
        "Sentinel: Sentinels agreeing": s.redis.sentinel.members,
        "RabbitMQ: nodes up": s.rabbitmq.members,
        "Vault: members unsealed": s.vault.members,
        "Vault: Raft autopilot healthy": 1,
    }
    (overview,) = [d.dashboard for d in dashboards.specs(lab.env) if d.key == dashboards.OVERVIEW]
    exprs = {p.title: p.queries[0].expr for p in overview.panels if p.title in expected}
    assert set(exprs) == set(expected)
    deadline = time.monotonic() + 4 * s.prometheus.scrape_interval_s
    seen: dict[str, float | None] = {}
    while time.monotonic() < deadline:
        seen = {title: _value(base, expr) for title, expr in exprs.items()}
        if all(seen[t] == v for t, v in expected.items()):
            break
        time.sleep(2)
    assert seen == {t: float(v) for t, v in expected.items()}
