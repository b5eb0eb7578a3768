"""Grafana dashboards provisioned as files: one per scraped component and one overview (issue 15).

Each dashboard is JSON (Grafana's dashboard model, ``schemaVersion`` :data:`SCHEMA_VERSION`, the
version Grafana 11 writes) under ``config/grafana/dashboards/<key>.json``; the provisioning file
``config/grafana/dashboards.yml`` (Grafana docs, "Provisioning", dashboards providers) loads them
read-only from :data:`MOUNT_DIR`. Panel queries are PromQL on the engines' own metrics (the same
names the alerting rules read, see :mod:`iklim.components.alerts_db` and ``alerts_service``);
thresholds drawn on panels are the model's (``max_replica_lag_bytes``, member counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iklim.components.base import CONFIG_ROOT, header
from iklim.components.yamlout import dump_yaml
from iklim.model.schema import Environment

SCHEMA_VERSION = 39
DIR = f"{CONFIG_ROOT}/grafana/dashboards"
PROVIDER_PATH = f"{CONFIG_ROOT}/grafana/dashboards.yml"
MOUNT_DIR = "/etc/grafana/dashboards"
PROVIDER_TARGET = "/etc/grafana/provisioning/dashboards/iklim.yml"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # the provisioned datasource's uid


@dataclass(frozen=True)
class Panel:
    """One panel: ``kind`` ``stat`` (current value) or ``timeseries``; ``expr`` PromQL; ``legend``
    Grafana's legend template; ``threshold`` a red line/colour from the model, if any."""

    title: str
    expr: str
    kind: str = "timeseries"
    legend: str = ""
    unit: str = "short"
    threshold: float | None = None


#: The Redis members that report the master role (Sentinels report none).
REDIS_MASTER = 'redis_instance_info{job="redis",role="master",redis_mode!="sentinel"}'


def _lag(scope: str) -> str:
    sel = f'job="patroni",scope="{scope}"'
    return (
        f"(max by (scope) (patroni_xlog_location{{{sel}}}) - on (scope) group_right "
        f"patroni_xlog_received_location{{{sel}}}) and on (instance) (patroni_replica{{{sel}}} == 1)"
    )


def panels(env: Environment) -> dict[str, list[Panel]]:
    """Catalogue key -> the panels of its dashboard (components whose metrics carry cluster state)."""
    s = env.services
    scope = s.patroni.scope
    master = s.redis.master_name
    return {
        "etcd": [
            Panel("Members up", 'sum(up{job="etcd"})', "stat", threshold=s.etcd.members // 2 + 1),
            Panel("Has leader", 'etcd_server_has_leader{job="etcd"}', "stat", "{{instance}}"),
            Panel("Leader", 'etcd_server_is_leader{job="etcd"}', legend="{{instance}}"),
            Panel(
                "Leader changes (1h)",
                'increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h])',
                legend="{{instance}}",
            ),
        ],
        "patroni": [
            Panel("Members up", 'sum(up{job="patroni"})', "stat"),
            Panel("Primary", f'patroni_primary{{job="patroni",scope="{scope}"}}', legend="{{name}}"),
            Panel(
                "Replication lag",
                _lag(scope),
                legend="{{name}}",
                unit="bytes",
                threshold=s.patroni.max_replica_lag_bytes,
            ),
            Panel("Streaming", f'patroni_postgres_streaming{{job="patroni",scope="{scope}"}}', legend="{{name}}"),
            Panel("Timeline (failovers)", f'max(patroni_postgres_timeline{{job="patroni",scope="{scope}"}})', "stat"),
        ],
        "redis": [
            Panel("Members up", 'redis_up{job="redis"}', "stat", "{{instance}}"),
            Panel("Masters", f"count({REDIS_MASTER})", "stat"),
            Panel(
                "Connected replicas",
                'redis_connected_slaves{job="redis"} and on (instance) ' + REDIS_MASTER,
                "stat",
                "{{instance}}",
            ),
            Panel(
                "Sentinels OK",
                f'redis_sentinel_master_ok_sentinels{{job="redis",master_name="{master}"}}',
                legend="{{instance}}",
                threshold=s.redis.sentinel.quorum,
            ),
        ],
        "rabbitmq": [
            Panel("Nodes up", 'sum(up{job="rabbitmq"})', "stat", threshold=s.rabbitmq.members // 2 + 1),
            Panel("Messages ready", 'sum(rabbitmq_queue_messages_ready{job="rabbitmq"})'),
            Panel("Memory alarm", 'rabbitmq_alarms_memory_used_watermark{job="rabbitmq"}', legend="{{instance}}"),
            Panel("Disk alarm", 'rabbitmq_alarms_free_disk_space_watermark{job="rabbitmq"}', legend="{{instance}}"),
        ],
        "vault": [
            Panel("Unsealed", 'vault_core_unsealed{job="vault"}', "stat", "{{instance}}"),
            Panel("Active", 'vault_core_active{job="vault"}', legend="{{instance}}"),
            Panel("Autopilot healthy", 'max(vault_autopilot_healthy{job="vault"})', "stat"),
        ],
        "prometheus": [
            Panel("Targets up by job", "sum by (job) (up)", legend="{{job}}"),
            Panel(
                "Rule evaluation failures",
                'increase(prometheus_rule_evaluation_failures_total{job="prometheus"}[5m])',
                legend="{{rule_group}}",
            ),
            Panel("TSDB head series", 'prometheus_tsdb_head_series{job="prometheus"}', "stat"),
        ],
        "alertmanager": [
            Panel("Alerts", 'alertmanager_alerts{job="alertmanager"}', legend="{{state}}"),
            Panel(
                "Failed notifications",
                'increase(alertmanager_notifications_failed_total{job="alertmanager"}[5m])',
                legend="{{integration}}",
            ),
        ],
    }


def overview(env: Environment) -> list[Panel]:
    """The overview: health, leaders, replication lag, failovers, queue depth, Vault seal state."""
    s = env.services
    return [
        Panel("Targets up by job", "sum by (job) (up)", "stat", "{{job}}"),
        Panel("etcd members with a leader", 'sum(etcd_server_has_leader{job="etcd"})', "stat"),
        Panel("Patroni primaries", f'sum(patroni_primary{{job="patroni",scope="{s.patroni.scope}"}})', "stat"),
        Panel("Redis masters", f"count({REDIS_MASTER})", "stat"),
        Panel("Vault active nodes", 'sum(vault_core_active{job="vault"})', "stat"),
        Panel("Vault unsealed members", 'sum(vault_core_unsealed{job="vault"})', "stat"),
        Panel(
            "Replication lag",
            _lag(s.patroni.scope),
            legend="{{name}}",
            unit="bytes",
            threshold=s.patroni.max_replica_lag_bytes,
        ),
        Panel(
            "Patroni timeline (each failover adds one)",
            f'max(patroni_postgres_timeline{{job="patroni",scope="{s.patroni.scope}"}})',
            "stat",
        ),
        Panel(
            "etcd leader changes (1h)",
            'max(increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h]))',
        ),
        Panel("RabbitMQ messages ready", 'sum(rabbitmq_queue_messages_ready{job="rabbitmq"})'),
        Panel("Firing alerts", 'count by (severity) (ALERTS{alertstate="firing"})', "stat", "{{severity}}"),
    ]


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    width = 8 if panel.kind == "stat" else 12
    per_row = 24 // width
    field: dict[str, Any] = {"defaults": {"unit": panel.unit}, "overrides": []}
    if panel.threshold is not None:
        field["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": panel.threshold}],
        }
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": 8, "w": width, "x": (index % per_row) * width, "y": (index // per_row) * 8},
        "fieldConfig": field,
        "targets": [{"refId": "A", "datasource": dict(DATASOURCE), "expr": panel.expr, "legendFormat": panel.legend}],
    }


def dashboard(uid: str, title: str, found: list[Panel]) -> dict[str, Any]:
    """One dashboard document (Grafana's JSON model)."""
    return {
        "uid": uid,
        "title": title,
        "tags": ["iklim"],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": [_panel(i, p) for i, p in enumerate(found)],
    }


def dashboards(env: Environment) -> dict[str, dict[str, Any]]:
    """File stem -> dashboard: ``overview`` then one per component of :func:`panels`."""
    out = {"overview": dashboard("iklim-overview", "iklim overview", overview(env))}
    for key, found in panels(env).items():
        out[key] = dashboard(f"iklim-{key}", f"iklim {key}", found)
    return out


def provider() -> str:
    """Grafana's dashboards provisioning file: one read-only file provider."""
    data = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "iklim",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": MOUNT_DIR},
            }
        ],
    }
    return header("#") + dump_yaml(data)


def files(env: Environment) -> dict[str, str]:
    """Repo-relative path -> text of every dashboard file (JSON carries no comment banner)."""
    return {f"{DIR}/{stem}.json": json.dumps(doc, indent=2) + "\n" for stem, doc in dashboards(env).items()}
