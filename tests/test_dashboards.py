"""The rendered Grafana dashboards: Grafana 11.4's schema, PromQL a real Prometheus parses, model-derived.

The schema is :mod:`grafana_schema` (written from Grafana's docs, not from the renderer); each
mutation of a valid dashboard that Grafana would not load must fail it. The PromQL of every panel
is parsed by a real Prometheus (the Debian package, with no targets: ``/api/v1/query`` answers
``bad_data`` for a query it cannot parse). Data for the queries is the lab test's
(``tests/lab/test_lab_dashboards.py``).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from iklim.components import dashboards
from iklim.components.grafana_json import DATASOURCE
from iklim.components.prometheus import JOBS
from iklim.model.catalogue import CATALOGUE
from iklim.model.schema import Environment
from iklim.render.tree import Tree

from .conftest import free_port


def load_schema() -> ModuleType:
    """``tests/grafana_schema.py`` as a module (tests are not a package)."""
    path = Path(__file__).resolve().parent / "grafana_schema.py"
    spec = importlib.util.spec_from_file_location("grafana_schema", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["grafana_schema"] = module
    spec.loader.exec_module(module)
    return module


SCHEMA = load_schema()


def rendered_dashboards(tree: Tree) -> dict[str, Any]:
    return {
        path: json.loads(f.content)
        for path, f in tree.items()
        if path.startswith(dashboards.DASHBOARD_DIR + "/") and path.endswith(".json")
    }


def datasource_uid(tree: Tree) -> str:
    text = tree["config/grafana/datasources.yml"].content.decode()
    (source,) = yaml.safe_load(text)["datasources"]
    return str(source["uid"])


def test_every_rendered_dashboard_passes_grafanas_schema_and_uids_are_unique(prod_tree: Tree) -> None:
    found = rendered_dashboards(prod_tree)
    uid = datasource_uid(prod_tree)
    parsed = [SCHEMA.validate(data, uid) for data in found.values()]
    SCHEMA.unique_uids(parsed)
    assert uid == DATASOURCE["uid"]
    scraped = {e.key for e in CATALOGUE if e.key in JOBS}
    assert {Path(p).stem for p in found} == scraped | {dashboards.OVERVIEW}


def test_grafana_mounts_the_provider_and_every_dashboard_where_the_provider_looks(prod_tree: Tree) -> None:
    stack = yaml.safe_load(prod_tree["docker-stack-infra_db-prod.yml"].content)
    mounted = {c["target"]: stack["configs"][c["source"]]["file"] for c in stack["services"]["grafana"]["configs"]}
    provider_text = mounted.pop("/etc/grafana/provisioning/dashboards/iklim.yml")
    assert provider_text == f"./{dashboards.PROVIDER_PATH}"
    (provider,) = yaml.safe_load(prod_tree[dashboards.PROVIDER_PATH].content)["providers"]
    assert provider["type"] == "file" and provider["disableDeletion"] is True
    folder = provider["options"]["path"]
    mounted.pop("/etc/grafana/provisioning/datasources/prometheus.yml")
    files = set(rendered_dashboards(prod_tree))
    assert {f"{folder}/{Path(p).name}" for p in files} == set(mounted)
    assert {m.removeprefix("./") for m in mounted.values()} == files


def test_thresholds_and_counts_follow_the_model(prod_env: Environment) -> None:
    """A changed lag limit, member count or Sentinel quorum changes the panels, with no copy to edit."""
    services = prod_env.services
    changed = prod_env.model_copy(
        update={
            "services": services.model_copy(
                update={
                    "patroni": services.patroni.model_copy(update={"max_replica_lag_bytes": 777_777}),
                    "rabbitmq": services.rabbitmq.model_copy(update={"members": 5}),
                    "redis": services.redis.model_copy(
                        update={"sentinel": services.redis.sentinel.model_copy(update={"quorum": 3})}
                    ),
                }
            )
        }
    )

    def steps(env: Environment, key: str, title: str) -> list[Any]:
        data = json.loads(dashboards.files(env)[f"{dashboards.DASHBOARD_DIR}/{key}.json"])
        (panel,) = [p for p in data["panels"] if p["title"] == title]
        return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    lag = "Patroni: replication lag"
    assert steps(prod_env, "patroni", lag)[-1] == services.patroni.max_replica_lag_bytes
    assert steps(changed, "patroni", lag)[-1] == 777_777
    assert steps(prod_env, "rabbitmq", "RabbitMQ: nodes up") == [None, 2, 3]
    assert steps(changed, "rabbitmq", "RabbitMQ: nodes up") == [None, 3, 5]
    assert steps(prod_env, "redis", "Sentinel: Sentinels agreeing") == [None, services.redis.sentinel.quorum, 3]
    assert steps(changed, "redis", "Sentinel: Sentinels agreeing") == [None, 3]  # quorum = members: no orange


def test_queries_name_the_rendered_scrape_jobs(prod_tree: Tree) -> None:
    config = yaml.safe_load(prod_tree["config/prometheus/prometheus.yml"].content)
    jobs = {j["job_name"] for j in config["scrape_configs"]}
    named = set()
    for data in rendered_dashboards(prod_tree).values():
        for panel in data["panels"]:
            for target in panel["targets"]:
                named.update(re.findall(r'job="([^"]+)"', target["expr"]))
    assert named == jobs, named ^ jobs


@pytest.fixture(scope="module")
def bare_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with no targets on 127.0.0.1 (never the lab's addresses): a PromQL parser."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run scripts/install-deps.sh"
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text("global: {}\n")
    url = f"http://127.0.0.1:{free_port()}"
    log = (folder / "log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (folder / "log").read_text()
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def query(url: str, expr: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query (its JSON, also for a 400 ``bad_data``)."""
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query", data=data, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
    return answer


def test_every_query_is_promql_a_real_prometheus_parses(prod_tree: Tree, bare_prometheus: str) -> None:
    bad = []
    count = 0
    for path, data in rendered_dashboards(prod_tree).items():
        for panel in data["panels"]:
            for target in panel["targets"]:
                count += 1
                answer = query(bare_prometheus, target["expr"])
                if answer["status"] != "success":
                    bad.append(f"{path}: {panel['title']}: {answer.get('error')}")
    assert not bad, "\n".join(bad)
    assert count > 50


def test_the_parser_refuses_broken_promql(bare_prometheus: str) -> None:
    answer = query(bare_prometheus, 'sum(up{job="etcd"}')
    assert answer["status"] == "error" and answer["errorType"] == "bad_data"


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

BROKEN: dict[str, Mutation] = {
    "uid over 40 characters": _set("uid", "x" * 41),
    "uid with a slash": _set("uid", "iklim/etcd"),
    "no title": _set("title", _DELETE),
    "schemaVersion newer than Grafana 11.4": _set("schemaVersion", 41),
    "no panels": _set("panels", []),
    "panel without id": _set("panels.0.id", _DELETE),
    "panel of an unknown type": _set("panels.0.type", "graph-v2"),
    "panel without gridPos": _set("panels.0.gridPos", _DELETE),
    "panel beyond the grid": _set("panels.0.gridPos.x", 20),
    "panel without targets": _set("panels.0.targets", []),
    "target without refId": _set("panels.0.targets.0.refId", _DELETE),
    "target without expr": _set("panels.0.targets.0.expr", _DELETE),
    "target without datasource": _set("panels.0.targets.0.datasource", _DELETE),
    "target on another datasource": _set("panels.0.targets.0.datasource.uid", "loki"),
    "misspelt key": _set("panels.0.gridpos", {"h": 4, "w": 6, "x": 0, "y": 0}),
    "thresholds not rising": _set("panels.0.fieldConfig.defaults.thresholds.steps.2.value", 0),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_dashboard_fails_the_schema(prod_tree: Tree, name: str) -> None:
    data = copy.deepcopy(rendered_dashboards(prod_tree)[f"{dashboards.DASHBOARD_DIR}/etcd.json"])
    SCHEMA.validate(copy.deepcopy(data), DATASOURCE["uid"])  # the unbroken one passes
    BROKEN[name](data)
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        SCHEMA.validate(data, DATASOURCE["uid"])


def test_panels_on_a_datasource_grafana_does_not_provision_fail(prod_tree: Tree) -> None:
    data = rendered_dashboards(prod_tree)[f"{dashboards.DASHBOARD_DIR}/overview.json"]
    with pytest.raises(ValueError, match="other than uid"):
        SCHEMA.validate(data, "not-provisioned")


def test_two_dashboards_with_one_uid_fail(prod_tree: Tree) -> None:
    data = rendered_dashboards(prod_tree)[f"{dashboards.DASHBOARD_DIR}/vault.json"]
    one = SCHEMA.validate(data, DATASOURCE["uid"])
    with pytest.raises(ValueError, match="repeat"):
        SCHEMA.unique_uids([one, one])


def _panel_expr(env: Environment, key: str, title: str) -> str:
    (spec,) = [s for s in dashboards.specs(env) if s.key == key]
    (panel,) = [p for p in spec.dashboard.panels if p.title == title]
    return panel.queries[0].expr


def _series(metric: str, values: dict[str, str], **labels: str) -> list[dict[str, str]]:
    """promtool input series, one per instance: ``values`` instance -> promtool value notation."""
    out = []
    for instance, value in values.items():
        pairs = ",".join(f'{k}="{v}"' for k, v in {**labels, "instance": instance}.items())
        out.append({"series": f"{metric}{{{pairs}}}", "values": value})
    return out


def test_failure_panels_compute_what_they_claim_on_a_broken_cluster(prod_env: Environment, tmp_path: Path) -> None:
    """Synthetic series of a broken cluster through ``promtool test rules``: the queries Grafana
    runs give the lag, the leader count and the failovers the titles promise (the healthy lab
    cannot show these)."""
    binary = shutil.which("promtool")
    assert binary, "promtool is not installed: run scripts/install-deps.sh"
    pg = {"job": "patroni", "scope": prod_env.services.patroni.scope}
    a, b, c = "db-1:8008", "db-2:8008", "db-3:8008"
    series = [
        *_series("patroni_primary", {a: "1x20", b: "0x20", c: "0x20"}, **pg),
        *_series("patroni_replica", {a: "0x20", b: "1x20", c: "1x20"}, **pg),
        *_series("patroni_xlog_location", {a: "50000000x20", b: "0x20", c: "0x20"}, **pg),
        *_series("patroni_xlog_received_location", {a: "0x20", b: "49999000x20", c: "1000x20"}, **pg),
        *_series("patroni_postgres_streaming", {a: "0x20", b: "1x20", c: "0x20"}, **pg),
        *_series("patroni_postgres_timeline", {a: "1x10 2x10", b: "1x10 2x10", c: "1x20"}, **pg),
        {"series": 'redis_master_repl_offset{job="redis",instance="r2"}', "values": "5000x20"},
        {
            "series": 'redis_connected_slave_offset_bytes{job="redis",instance="r2",slave_ip="r3",slave_port="6379"}',
            "values": "4200x20",
        },
        # Sentinels: the master moved from r1 to r2 halfway; one Sentinel still names r1 (disagreement)
        {
            "series": 'redis_sentinel_master_status{job="redis",instance="s1",master_address="r1:6379"}',
            "values": "1x10",
        },
        {
            "series": 'redis_sentinel_master_status{job="redis",instance="s1",master_address="r2:6379"}',
            "values": "_x10 1x10",
        },
        {
            "series": 'redis_sentinel_master_status{job="redis",instance="s2",master_address="r1:6379"}',
            "values": "1x20",
        },
    ]
    tests = [
        {
            "expr": _panel_expr(prod_env, "patroni", "Patroni: replication lag"),
            "eval_time": "15m",
            "exp_samples": [
                {"labels": f'{{instance="{b}",job="patroni",scope="{pg["scope"]}"}}', "value": 1000},
                {"labels": f'{{instance="{c}",job="patroni",scope="{pg["scope"]}"}}', "value": 49999000},
            ],
        },
        {
            "expr": _panel_expr(prod_env, "patroni", "Patroni: leaders"),
            "eval_time": "15m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
        {
            "expr": _panel_expr(prod_env, "patroni", "Patroni: replicas streaming"),
            "eval_time": "15m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
        {
            "expr": _panel_expr(prod_env, "patroni", "Patroni: failovers (1h)"),
            "eval_time": "15m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
        {
            "expr": _panel_expr(prod_env, "redis", "Redis: replica lag"),
            "eval_time": "15m",
            "exp_samples": [{"labels": '{instance="r2",job="redis",slave_ip="r3",slave_port="6379"}', "value": 800}],
        },
        {
            "expr": _panel_expr(prod_env, "redis", "Sentinel: masters named"),
            "eval_time": "15m",
            "exp_samples": [{"labels": "{}", "value": 2}],
        },
        {
            "expr": _panel_expr(prod_env, "redis", "Sentinel: master changes (1h)"),
            "eval_time": "15m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
    ]
    (tmp_path / "none.yml").write_text("groups: []\n")
    unit = {
        "rule_files": ["none.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(unit, sort_keys=False))
    run = subprocess.run([binary, "test", "rules", "panels.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
