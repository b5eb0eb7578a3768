"""The rendered alerting rules, checked and unit-tested by the real ``promtool`` (Debian ``prometheus``).

- ``promtool check rules`` accepts every rendered rule file;
- ``promtool test rules`` runs, for every alert, three evaluations generated from :func:`cases`:
  one scrape interval before its ``for:`` elapses the alert is not firing yet (pending), once
  ``for:`` has elapsed it fires with exactly the expected labels and annotations, and on the
  series of a healthy cluster it never fires;
- every alert has a case and every case an alert (a new alert without a unit test fails here);
- the rendered prometheus.yml lists every rule file and the stack mounts each one.

Thresholds in the cases are read from the production model, like the rules' own.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.components.alertrules import RULES_DIR, interval, mount_path, rate_window, rule_path
from iklim.components.alerts import RULES, alerts
from iklim.components.prometheus import JOBS
from iklim.model.schema import Environment
from iklim.render.tree import Tree

PROMTOOL = shutil.which("promtool")
N = "x400"  # samples per series: 400 scrape intervals, longer than any evaluation below


@dataclass(frozen=True)
class Case:
    """``firing``: series -> promtool values while the alert's condition holds; ``labels``: the
    labels the alert then carries (besides alertname, severity, component); ``healthy``: series of
    a healthy cluster; ``lead``: seconds from the start by which the condition holds."""

    firing: dict[str, str]
    labels: dict[str, str]
    healthy: dict[str, str]
    lead: int = 0


def _up(job: str, instance: str) -> Case:
    series = f'up{{job="{job}",instance="{instance}"}}'
    return Case({series: f"0{N}"}, {"job": job, "instance": instance}, {series: f"1{N}"})


def _members(job: str, members: int, up: int) -> Case:
    def series(count: int) -> dict[str, str]:
        return {f'up{{job="{job}",instance="{job}-{i}"}}': f"{int(i <= count)}{N}" for i in range(1, members + 1)}

    return Case(series(up), {}, series(members))


def _gauge(metric: str, labels: dict[str, str], bad: int, good: int) -> Case:
    selector = metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return Case({selector: f"{bad}{N}"}, labels, {selector: f"{good}{N}"})


def _patroni(env: Environment) -> dict[str, Case]:
    spec = env.services.patroni
    lab = {"job": "patroni", "scope": spec.scope}

    def member(i: int) -> dict[str, str]:
        return {**lab, "name": f"patroni-{i}", "instance": f"patroni-{i}:8008"}

    def sel(metric: str, i: int) -> str:
        return metric + "{" + ",".join(f'{k}="{v}"' for k, v in member(i).items()) + "}"

    def cluster(lag: int, streaming: int = 1, primary: int = 1) -> dict[str, str]:
        flush = spec.max_replica_lag_bytes * 4
        out = {sel("patroni_xlog_location", 1): f"{flush}{N}", sel("patroni_primary", 1): f"{primary}{N}"}
        out[sel("patroni_replica", 1)] = f"0{N}"
        for i in (2, 3):
            out[sel("patroni_xlog_location", i)] = f"0{N}"
            out[sel("patroni_primary", i)] = f"0{N}"
            out[sel("patroni_replica", i)] = f"1{N}"
            out[sel("patroni_postgres_streaming", i)] = f"{streaming if i == 2 else 1}{N}"
            out[sel("patroni_xlog_received_location", i)] = f"{flush - (lag if i == 2 else 0)}{N}"
        return out

    healthy = cluster(0)
    return {
        "PatroniTargetDown": _up("patroni", "patroni-1:8008"),
        "PatroniMembersMissing": _members("patroni", spec.members, spec.members - 1),
        "PatroniNoPrimary": Case(cluster(0, primary=0), {}, healthy),
        "PatroniReplicaLagging": Case(
            cluster(spec.max_replica_lag_bytes + 1), member(2), cluster(spec.max_replica_lag_bytes)
        ),
        "PatroniReplicaNotStreaming": Case(cluster(0, streaming=0), member(2), healthy),
        "PatroniPostgresNotRunning": _gauge("patroni_postgres_running", member(1), 0, 1),
    }


def _redis(env: Environment) -> dict[str, Case]:
    spec = env.services.redis
    name = spec.master_name

    def info(i: int, role: str, mode: str = "standalone") -> str:
        return f'redis_instance_info{{job="redis",instance="redis://redis-{i}:6379",role="{role}",redis_mode="{mode}"}}'

    def roles(masters: int) -> dict[str, str]:
        return {info(i, "master" if i <= masters else "slave"): f"1{N}" for i in range(1, spec.members + 1)}

    def sentinels(addresses: list[str]) -> dict[str, str]:
        return {
            f'redis_sentinel_master_status{{job="redis",instance="redis://redis-sentinel-{i}:26379",'
            f'master_name="{name}",master_address="{a}",master_status="ok"}}': f"1{N}"
            for i, a in enumerate(addresses, start=1)
        }

    master = {"job": "redis", "instance": "redis://redis-1:6379"}
    slaves = 'redis_connected_slaves{job="redis",instance="redis://redis-1:6379"}'
    ok = {"job": "redis", "instance": "redis://redis-sentinel-1:26379", "master_name": name}
    same = ["10.20.0.5:6379"] * spec.sentinel.members
    return {
        "RedisTargetDown": _up("redis", "redis-exporter:9121"),
        "RedisDown": _gauge("redis_up", master, 0, 1),
        "RedisMasterCountWrong": Case(roles(0), {}, roles(1)),
        "RedisSentinelsDisagree": Case(sentinels(["10.20.0.6:6379", *same[1:]]), {}, sentinels(same)),
        "RedisSentinelQuorumShort": _gauge(
            "redis_sentinel_master_ok_sentinels", ok, spec.sentinel.quorum - 1, spec.sentinel.members
        ),
        "RedisReplicasOffline": Case(
            {**roles(1), slaves: f"{spec.members - 2}{N}"}, master, {**roles(1), slaves: f"{spec.members - 1}{N}"}
        ),
    }


def _counter(metric: str, labels: dict[str, str], lead: int, others: tuple[str, ...] = ()) -> Case:
    def sel(m: str) -> str:
        return m + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"

    quiet = {sel(m): f"7{N}" for m in (metric, *others)}
    return Case({**quiet, sel(metric): f"0+1{N}"}, labels, quiet, lead=lead)


def cases(env: Environment) -> dict[str, Case]:
    """Alert name -> its unit-test case."""
    etcd, rabbit, vault = env.services.etcd, env.services.rabbitmq, env.services.vault
    member = {"job": "etcd", "instance": "etcd-01:2379"}
    prom = {"job": "prometheus", "instance": "prometheus:9090"}
    window = int(rate_window(env).removesuffix("s"))
    tsdb = (
        "prometheus_tsdb_compactions_failed_total",
        "prometheus_tsdb_head_truncations_failed_total",
        "prometheus_tsdb_reloads_failures_total",
        "prometheus_tsdb_wal_corruptions_total",
    )
    node = {"job": "rabbitmq", "instance": "rabbitmq-1:15692"}
    bao = {"job": "vault", "instance": "vault-1:8200"}
    discovered = 'prometheus_notifications_alertmanagers_discovered{job="prometheus",instance="prometheus:9090"}'
    active = [f'vault_core_active{{job="vault",instance="vault-{i}:8200"}}' for i in range(1, vault.members + 1)]
    found: dict[str, Case] = {
        "EtcdTargetDown": _up("etcd", "etcd-01:2379"),
        "EtcdMembersMissing": _members("etcd", etcd.members, etcd.members - 1),
        "EtcdQuorumLost": _members("etcd", etcd.members, etcd.members // 2),
        "EtcdNoLeader": _gauge("etcd_server_has_leader", member, 0, 1),
        "EtcdFrequentLeaderChanges": _counter("etcd_server_leader_changes_seen_total", member, 20 * interval(env)),
        **_patroni(env),
        "MongodbTargetDown": _up("mongodb", "mongodb-exporter-1:9216"),
        **_redis(env),
        "RabbitmqTargetDown": _up("rabbitmq", "rabbitmq-1:15692"),
        "RabbitmqMembersMissing": _members("rabbitmq", rabbit.members, rabbit.members - 1),
        "RabbitmqQuorumLost": _members("rabbitmq", rabbit.members, rabbit.members // 2),
        "RabbitmqMemoryAlarm": _gauge("rabbitmq_alarms_memory_used_watermark", node, 1, 0),
        "RabbitmqDiskAlarm": _gauge("rabbitmq_alarms_free_disk_space_watermark", node, 1, 0),
        "ApisixTargetDown": _up("apisix", "10.20.0.9:9091"),
        "SwagTargetDown": _up("swag", "swag-exporter:9113"),
        "PrometheusTargetDown": _up("prometheus", "prometheus:9090"),
        "PrometheusRuleEvaluationFailures": _counter("prometheus_rule_evaluation_failures_total", prom, window),
        "PrometheusTsdbFailures": _counter(tsdb[1], prom, window, tsdb),
        "GrafanaTargetDown": _up("grafana", "grafana:3000"),
        "VaultTargetDown": _up("vault", "vault-1:8200"),
        "VaultSealed": _gauge("vault_core_unsealed", bao, 0, 1),
        "VaultNoActiveNode": Case(
            {a: f"0{N}" for a in active}, {}, {a: f"{int(i == 0)}{N}" for i, a in enumerate(active)}
        ),
        "VaultAutopilotUnhealthy": _gauge("vault_autopilot_healthy", bao, 0, 1),
        "AlertmanagerTargetDown": _up("alertmanager", "alertmanager:9093"),
        "AlertmanagerNotificationsFailing": _counter(
            "alertmanager_notifications_failed_total",
            {"job": "alertmanager", "instance": "alertmanager:9093", "integration": "email"},
            window,
        ),
        "PrometheusNotConnectedToAlertmanager": Case({discovered: f"0{N}"}, {}, {discovered: f"1{N}"}),
    }
    return found


def _series(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": s, "values": v} for s, v in values.items()]


def unit_tests(env: Environment, key: str, rules_file: Path) -> dict[str, Any]:
    """The promtool test file of component ``key``: three evaluations per alert (module docstring)."""
    step = interval(env)
    every = cases(env)
    tests = []
    for alert in alerts(env)[key]:
        case = every[alert.name]
        expected = {
            "exp_labels": {**case.labels, "severity": alert.severity, "component": key},
            "exp_annotations": {"summary": alert.summary, "runbook": alert.runbook},
        }
        pending = {"eval_time": f"{alert.for_s - step}s", "alertname": alert.name, "exp_alerts": []}
        fired = {"eval_time": f"{case.lead + alert.for_s}s", "alertname": alert.name, "exp_alerts": [expected]}
        quiet = {"eval_time": f"{case.lead + alert.for_s + step}s", "alertname": alert.name, "exp_alerts": []}
        tests.append(
            {"interval": f"{step}s", "input_series": _series(case.firing), "alert_rule_test": [pending, fired]}
        )
        tests.append({"interval": f"{step}s", "input_series": _series(case.healthy), "alert_rule_test": [quiet]})
    return {"rule_files": [str(rules_file)], "evaluation_interval": f"{step}s", "tests": tests}


def _write(tmp_path: Path, prod_tree: Tree, key: str) -> Path:
    path = tmp_path / f"{key}.yml"
    path.write_bytes(prod_tree[rule_path(key)].content)
    return path


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is not installed: run scripts/install-deps.sh (Debian package prometheus)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_every_scrape_job_has_rules_and_every_alert_a_unit_test(prod_env: Environment) -> None:
    assert set(RULES) == set(JOBS), "a scrape job without alerting rules, or rules for no job"
    names = [a.name for found in alerts(prod_env).values() for a in found]
    assert len(names) == len(set(names)), "two alerts share a name"
    every = cases(prod_env)
    assert sorted(set(names) - set(every)) == [], "alerts without a promtool unit test"
    assert sorted(set(every) - set(names)) == [], "unit tests of alerts that do not exist"


@pytest.mark.parametrize("key", list(RULES))
def test_promtool_checks_and_unit_tests_the_rule_file(
    key: str, prod_env: Environment, prod_tree: Tree, tmp_path: Path
) -> None:
    rules = _write(tmp_path, prod_tree, key)
    checked = _promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    spec = tmp_path / f"{key}.test.yml"
    spec.write_text(yaml.safe_dump(unit_tests(prod_env, key, rules), sort_keys=False))
    tested = _promtool("test", "rules", str(spec))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_wrong_expectation_fails_promtool(prod_env: Environment, prod_tree: Tree, tmp_path: Path) -> None:
    """The unit tests can fail: the etcd file tested with one expected label changed is refused."""
    rules = _write(tmp_path, prod_tree, "etcd")
    data = unit_tests(prod_env, "etcd", rules)
    data["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["severity"] = "info"
    spec = tmp_path / "wrong.test.yml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert _promtool("test", "rules", str(spec)).returncode != 0


def test_every_rule_has_severity_summary_and_runbook(prod_tree: Tree) -> None:
    for key in RULES:
        document = yaml.safe_load(prod_tree[rule_path(key)].content)
        (group,) = document["groups"]
        assert group["name"] == key
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]


def test_prometheus_lists_and_mounts_every_rule_file(prod_tree: Tree) -> None:
    config = yaml.safe_load(prod_tree[f"{RULES_DIR.rsplit('/', 1)[0]}/prometheus.yml"].content)
    assert config["rule_files"] == [mount_path(key) for key in RULES]
    stack = yaml.safe_load(prod_tree["docker-stack-infra_db-prod.yml"].content)
    mounted = {c["target"] for c in stack["services"]["prometheus"]["configs"]}
    assert {mount_path(key) for key in RULES} <= mounted


def test_thresholds_follow_the_model(prod_env: Environment) -> None:
    """A changed model value changes the rendered threshold (nothing is hand-copied)."""
    patroni = prod_env.services.patroni.model_copy(update={"max_replica_lag_bytes": 12345})
    env = prod_env.model_copy(update={"services": prod_env.services.model_copy(update={"patroni": patroni})})
    lagging = next(a for a in alerts(env)["patroni"] if a.name == "PatroniReplicaLagging")
    assert lagging.expr.endswith("> 12345")
    prom = prod_env.services.prometheus.model_copy(update={"scrape_interval_s": 30})
    env = prod_env.model_copy(update={"services": prod_env.services.model_copy(update={"prometheus": prom})})
    down = next(a for a in alerts(env)["etcd"] if a.name == "EtcdTargetDown")
    assert down.for_s == 90
