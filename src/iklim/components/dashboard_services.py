"""The panels of RabbitMQ's and Vault's dashboards (same rules as :mod:`iklim.components.dashboard_panels`).

Metric names: RabbitMQ's ``rabbitmq_prometheus`` plugin on its aggregated ``/metrics``
(``rabbitmq_identity_info``, ``rabbitmq_alarms_*``, ``rabbitmq_queue_messages_*``); OpenBao/Vault
``/v1/sys/metrics?format=prometheus`` (``vault_core_unsealed``, ``vault_core_active``,
``vault_autopilot_*`` on the active node, ``vault_raft_storage_stats_term``).
"""

from __future__ import annotations

from iklim.components.dashboard_context import Ctx, majority, up_panel
from iklim.components.grafana_json import (
    YES_NO,
    Panel,
    Query,
    count_steps,
    exactly_one_steps,
    limit_steps,
)


def rabbitmq(c: Ctx) -> list[Panel]:
    n = c.env.services.rabbitmq.members
    s, w = c.sel("rabbitmq"), c.window
    return [
        Panel(
            "RabbitMQ: nodes up",
            (Query(f"count(rabbitmq_identity_info{s})"),),
            "rabbitmq",
            kind="stat",
            steps=count_steps(n, majority(n)),
            overview=True,
        ),
        Panel(
            "RabbitMQ: memory alarms",
            (Query(f"sum(rabbitmq_alarms_memory_used_watermark{s})"),),
            "rabbitmq",
            kind="stat",
            steps=limit_steps(1),
            overview=True,
        ),
        Panel(
            "RabbitMQ: disk alarms",
            (Query(f"sum(rabbitmq_alarms_free_disk_space_watermark{s})"),),
            "rabbitmq",
            kind="stat",
            steps=limit_steps(1),
            overview=True,
        ),
        Panel("RabbitMQ: queues", (Query(f"sum(rabbitmq_queues{s})"),), "rabbitmq", kind="stat"),
        Panel(
            "RabbitMQ: queue depth",
            (
                Query(f"sum(rabbitmq_queue_messages_ready{s})", "ready"),
                Query(f"sum(rabbitmq_queue_messages_unacked{s})", "unacknowledged"),
            ),
            "rabbitmq",
            overview=True,
        ),
        Panel(
            "RabbitMQ: messages",
            (
                Query(f"sum(rate(rabbitmq_global_messages_received_total{s}[{w}]))", "published"),
                Query(f"sum(rate(rabbitmq_global_messages_delivered_total{s}[{w}]))", "delivered"),
            ),
            "rabbitmq",
            unit="ops",
        ),
        Panel(
            "RabbitMQ: memory against its limit",
            (
                Query(f"rabbitmq_process_resident_memory_bytes{s}", "{{instance}} used"),
                Query(f"rabbitmq_resident_memory_limit_bytes{s}", "{{instance}} limit"),
            ),
            "rabbitmq",
            unit="bytes",
        ),
        Panel(
            "RabbitMQ: disk free",
            (Query(f"rabbitmq_disk_space_available_bytes{s}", "{{instance}}"),),
            "rabbitmq",
            unit="bytes",
        ),
        Panel(
            "RabbitMQ: connections and channels",
            (Query(f"sum(rabbitmq_connections{s})", "connections"), Query(f"sum(rabbitmq_channels{s})", "channels")),
            "rabbitmq",
        ),
    ]


def vault(c: Ctx) -> list[Panel]:
    n = c.env.services.vault.members
    s, w = c.sel("vault"), c.window
    return [
        up_panel(c, "vault"),
        Panel(
            "Vault: members unsealed",
            (Query(f"sum(vault_core_unsealed{s})"),),
            "vault",
            kind="stat",
            steps=count_steps(n, majority(n)),
            description=f"Unsealed members, of {n}; a sealed member serves no metrics and counts as 0.",
            overview=True,
        ),
        Panel(
            "Vault: active nodes",
            (Query(f"sum(vault_core_active{s})"),),
            "vault",
            kind="stat",
            steps=exactly_one_steps(),
        ),
        Panel(
            "Vault: Raft autopilot healthy",
            (Query(f"max(vault_autopilot_healthy{s})"),),
            "vault",
            kind="stat",
            mappings=YES_NO,
            steps=(("red", None), ("green", 1)),
            overview=True,
        ),
        Panel(
            "Vault: failure tolerance",
            (Query(f"max(vault_autopilot_failure_tolerance{s})"),),
            "vault",
            kind="stat",
            steps=count_steps(n - majority(n), 1) if n > 1 else (("green", None),),
        ),
        Panel(
            "Vault: leader elections (1h)",
            (Query(f"max(changes(vault_raft_storage_stats_term{s}[1h]))"),),
            "vault",
            kind="stat",
            steps=limit_steps(2, 1),
            description="Raft term changes a member saw in the last hour: each election starts a term.",
            overview=True,
        ),
        Panel("Vault: unsealed per member", (Query(f"vault_core_unsealed{s}", "{{instance}}"),), "vault"),
        Panel("Vault: Raft term", (Query(f"vault_raft_storage_stats_term{s}", "{{peer_id}}"),), "vault"),
        Panel(
            "Vault: requests",
            (Query(f"sum by (instance) (rate(vault_core_handle_request_count{s}[{w}]))", "{{instance}}"),),
            "vault",
            unit="reqps",
        ),
    ]


def alertmanager(c: Ctx) -> list[Panel]:
    """Alertmanager: up, alerts it holds by state, notifications sent and failed per integration."""
    s, w = c.sel("alertmanager"), c.window
    return [
        up_panel(c, "alertmanager"),
        Panel(
            "Alertmanager: alerts held",
            (Query(f"sum by (state) (alertmanager_alerts{s})", "{{state}}"),),
            "alertmanager",
        ),
        Panel(
            "Alertmanager: notifications failed",
            (
                Query(
                    f"sum by (integration) (rate(alertmanager_notifications_failed_total{s}[{w}]))",
                    "{{integration}}",
                ),
            ),
            "alertmanager",
            unit="ops",
        ),
    ]
