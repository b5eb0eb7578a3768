"""Panels of the edge and monitoring components: Prometheus, SWAG, APISIX, MongoDB and Grafana.

The cluster components are in :mod:`iklim.components.dashboard_panels` and
:mod:`iklim.components.dashboard_services` (same :class:`Ctx`, same rules: job names from the
scrape jobs, counts from the model). The lab runs neither APISIX, MongoDB nor Grafana here, so
their queries are checked for PromQL syntax only; the metric names are the exporters' documented
ones (APISIX prometheus plugin docs, Percona mongodb_exporter ``--collector.replicasetstatus``
and ``--collector.diagnosticdata``, Grafana's ``/metrics``). :data:`PANELS` registers every
component's panels by catalogue key (``tests/test_catalogue.py``: a key with a scrape job needs
one).
"""

from __future__ import annotations

from iklim.components import dashboard_panels as db
from iklim.components import dashboard_services as services
from iklim.components.dashboard_context import Ctx, PanelSource, majority, up_panel
from iklim.components.grafana_json import Panel, Query, count_steps, exactly_one_steps, limit_steps

_NO_RULES = "no rule group is loaded (the series exist per rule group)"


def prometheus(c: Ctx) -> list[Panel]:
    s, w = c.sel("prometheus"), c.window
    total = sum(c.targets.values())
    return [
        Panel(
            "Prometheus: targets up",
            (Query("sum(up)"),),
            "prometheus",
            kind="stat",
            steps=count_steps(total, total),
            description=f"Scrape targets that answer, of the {total} the rendered jobs list.",
        ),
        Panel(
            "Prometheus: config reloaded",
            (Query(f"min(prometheus_config_last_reload_successful{s})"),),
            "prometheus",
            kind="stat",
            mappings=((0, "failed", "red"), (1, "ok", "green")),
            steps=(("red", None), ("green", 1)),
        ),
        Panel(
            "Prometheus: failed compactions (1h)",
            (Query(f"sum(increase(prometheus_tsdb_compactions_failed_total{s}[1h]))"),),
            "prometheus",
            kind="stat",
            steps=limit_steps(1),
        ),
        Panel(
            "Prometheus: WAL corruptions (1h)",
            (Query(f"sum(increase(prometheus_tsdb_wal_corruptions_total{s}[1h]))"),),
            "prometheus",
            kind="stat",
            steps=limit_steps(1),
        ),
        Panel("Prometheus: targets up by job", (Query("sum by (job) (up)", "{{job}}"),), "prometheus"),
        Panel(
            "Prometheus: scrape duration by job",
            (Query("max by (job) (scrape_duration_seconds)", "{{job}}"),),
            "prometheus",
            unit="s",
        ),
        Panel(
            "Prometheus: rule evaluation failures",
            (Query(f"sum(rate(prometheus_rule_evaluation_failures_total{s}[{w}]))", "failures"),),
            "prometheus",
            unit="ops",
            empty_when=_NO_RULES,
        ),
        Panel("Prometheus: head series", (Query(f"prometheus_tsdb_head_series{s}", "series"),), "prometheus"),
        Panel(
            "Prometheus: samples appended",
            (Query(f"rate(prometheus_tsdb_head_samples_appended_total{s}[{w}])", "samples"),),
            "prometheus",
            unit="ops",
        ),
        Panel(
            "Prometheus: TSDB blocks on disk",
            (Query(f"prometheus_tsdb_storage_blocks_bytes{s}", "blocks"),),
            "prometheus",
            unit="bytes",
        ),
    ]


def swag(c: Ctx) -> list[Panel]:
    s, w = c.sel("swag"), c.window
    return [
        Panel(
            "SWAG: nginx status read",
            (Query(f"min(nginx_up{s})"),),
            "swag",
            kind="stat",
            mappings=((0, "no", "red"), (1, "yes", "green")),
            steps=(("red", None), ("green", 1)),
        ),
        Panel("SWAG: active connections", (Query(f"sum(nginx_connections_active{s})"),), "swag", kind="stat"),
        Panel(
            "SWAG: requests",
            (Query(f"sum(rate(nginx_http_requests_total{s}[{w}]))", "requests"),),
            "swag",
            unit="reqps",
        ),
        Panel(
            "SWAG: connections by state",
            tuple(Query(f"sum(nginx_connections_{state}{s})", state) for state in ("reading", "writing", "waiting")),
            "swag",
        ),
        Panel(
            "SWAG: connections dropped",
            (
                Query(
                    f"sum(rate(nginx_connections_accepted{s}[{w}])) - sum(rate(nginx_connections_handled{s}[{w}]))",
                    "dropped",
                ),
            ),
            "swag",
            unit="ops",
            description="Accepted but not handled: nginx ran out of worker connections.",
        ),
    ]


def apisix(c: Ctx) -> list[Panel]:
    s, w = c.sel("apisix"), c.window
    return [
        up_panel(c, "apisix"),
        Panel(
            "APISIX: replicas reaching etcd",
            (Query(f"sum(apisix_etcd_reachable{s})"),),
            "apisix",
            kind="stat",
            steps=count_steps(c.targets["apisix"], c.targets["apisix"]),
        ),
        Panel(
            "APISIX: requests by status",
            (Query(f"sum by (code) (rate(apisix_http_status{s}[{w}]))", "{{code}}"),),
            "apisix",
            unit="reqps",
        ),
        Panel(
            "APISIX: latency p99",
            (
                Query(
                    f"histogram_quantile(0.99, sum by (type, le) (rate(apisix_http_latency_bucket{s}[{w}])))",
                    "{{type}}",
                ),
            ),
            "apisix",
            unit="ms",
        ),
        Panel(
            "APISIX: connections",
            (Query(f"sum by (state) (apisix_nginx_http_current_connections{s})", "{{state}}"),),
            "apisix",
        ),
    ]


def mongodb(c: Ctx) -> list[Panel]:
    n = c.env.services.mongodb.members
    s, w = c.sel("mongodb"), c.window
    return [
        Panel(
            "MongoDB: members reached",
            (Query(f"sum(mongodb_up{s})"),),
            "mongodb",
            kind="stat",
            steps=count_steps(n, majority(n)),
        ),
        Panel(
            "MongoDB: primaries",
            (Query(f"count(mongodb_rs_myState{s} == 1)"),),
            "mongodb",
            kind="stat",
            steps=exactly_one_steps(),
            description="Members whose own replica-set state is PRIMARY (1).",
        ),
        Panel(
            "MongoDB: replication lag",
            (
                Query(
                    f"max(mongodb_rs_members_optimeDate{s}) - on () group_right () "
                    f"min by (member_idx) (mongodb_rs_members_optimeDate{s})",
                    "{{member_idx}}",
                ),
            ),
            "mongodb",
            unit="ms",
            description="How far each member's last applied operation is behind the newest one.",
        ),
        Panel("MongoDB: replica-set state", (Query(f"mongodb_rs_myState{s}", "{{instance}}"),), "mongodb"),
        Panel(
            "MongoDB: connections",
            (Query(f"mongodb_ss_connections{c.sel('mongodb', conn_type='current')}", "{{instance}}"),),
            "mongodb",
        ),
        Panel(
            "MongoDB: operations",
            (Query(f"sum by (legacy_op_type) (rate(mongodb_ss_opcounters{s}[{w}]))", "{{legacy_op_type}}"),),
            "mongodb",
            unit="ops",
        ),
    ]


def grafana(c: Ctx) -> list[Panel]:
    s, w = c.sel("grafana"), c.window
    return [
        up_panel(c, "grafana"),
        Panel(
            "Grafana: HTTP requests",
            (
                Query(
                    f"sum by (status_code) (rate(grafana_http_request_duration_seconds_count{s}[{w}]))",
                    "{{status_code}}",
                ),
            ),
            "grafana",
            unit="reqps",
        ),
    ]


#: Catalogue key -> its panels: the registry of component dashboards (every key with a scrape job).
PANELS: dict[str, PanelSource] = {
    "etcd": db.etcd,
    "patroni": db.patroni,
    "redis": db.redis,
    "rabbitmq": services.rabbitmq,
    "vault": services.vault,
    "mongodb": mongodb,
    "apisix": apisix,
    "swag": swag,
    "prometheus": prometheus,
    "grafana": grafana,
    "alertmanager": services.alertmanager,
}
