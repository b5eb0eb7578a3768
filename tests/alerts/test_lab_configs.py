"""The lab's Prometheus and Alertmanager configs, written without starting anything: Prometheus
loads the rendered rule files of the jobs it scrapes and sends alerts to the lab's Alertmanager;
the lab's Alertmanager keeps the production routes but no integration (no SMTP or webhook traffic
leaves this machine)."""

from __future__ import annotations

from pathlib import Path

import yaml

from iklim.components.alerts import rule_files
from iklim.lab.components.alertmanager import AlertmanagerLab
from iklim.lab.components.prometheus import PrometheusLab
from iklim.lab.context import LabContext
from iklim.model.schema import Environment


def _ctx(prod_env: Environment, tmp_path: Path) -> LabContext:
    return LabContext.create(prod_env, tmp_path / "lab", postgres_bin="/usr/lib/postgresql/15/bin")


def test_lab_prometheus_loads_the_rules_of_what_it_scrapes(prod_env: Environment, tmp_path: Path) -> None:
    ctx = _ctx(prod_env, tmp_path)
    lab = PrometheusLab(frozenset({"etcd", "redis", "alertmanager"}))
    (spec,) = lab.processes(ctx)
    config = yaml.safe_load((spec.cwd / "prometheus.yml").read_text())
    loaded = {Path(p).stem: Path(p).read_text() for p in config["rule_files"]}
    assert loaded == rule_files(prod_env, frozenset({"etcd", "redis", "alertmanager", "prometheus"}))
    where = ctx.target.endpoint("alertmanager-1", "http")
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [f"{where.host}:{where.port}"]
    (bare,) = PrometheusLab(frozenset({"etcd"})).processes(ctx)
    assert "alerting" not in yaml.safe_load((bare.cwd / "prometheus.yml").read_text())


def test_lab_alertmanager_keeps_routes_but_sends_nothing(prod_env: Environment, tmp_path: Path) -> None:
    ctx = _ctx(prod_env, tmp_path)
    (spec,) = AlertmanagerLab().processes(ctx)
    text = (spec.cwd / "alertmanager.yml").read_text()
    config = yaml.safe_load(text)
    receivers = prod_env.services.alertmanager.receivers
    assert config["receivers"] == [{"name": r.name} for r in receivers]
    assert [r["receiver"] for r in config["route"]["routes"]] == [r.name for r in receivers]
    for receiver in receivers:
        for value in (
            receiver.email.smarthost if receiver.email else None,
            receiver.webhook.url if receiver.webhook else None,
        ):
            assert value is None or value not in text
