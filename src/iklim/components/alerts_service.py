"""Alerting rules of the service tier: Redis/Sentinel, RabbitMQ, Vault, Prometheus and the rest.

Metric names are the exporters' own:

- redis_exporter (oliver006/redis_exporter, README "What's exported"): ``redis_up`` per target,
  ``redis_instance_info{role}``, ``redis_connected_slaves``, and for a Sentinel target
  ``redis_sentinel_master_status{master_name,master_address,master_status}`` and
  ``redis_sentinel_master_ok_sentinels``;
- RabbitMQ's ``rabbitmq_prometheus`` plugin (RabbitMQ docs, "Monitoring with Prometheus"):
  ``rabbitmq_alarms_memory_used_watermark``, ``rabbitmq_alarms_free_disk_space_watermark``;
- Vault/OpenBao ``/v1/sys/metrics?format=prometheus`` (Vault docs, "Telemetry metrics
  reference"): ``vault_core_unsealed``, ``vault_core_active``, ``vault_autopilot_healthy``;
- Prometheus's own: ``prometheus_rule_evaluation_failures_total`` and the
  ``prometheus_tsdb_*_failures/failed/corruptions_total`` counters.
"""

from __future__ import annotations

from iklim.components.alertrules import (
    Alert,
    after_scrapes,
    at_least_one_scrape,
    members_below,
    rate_window,
    target_down,
)
from iklim.model.schema import Environment

_RESTART = "Check the service (`docker service ps`, `docker service logs`) and restart it."


def redis(env: Environment) -> list[Alert]:
    """Redis: a member down, not exactly one master, Sentinels disagreeing or short of quorum,
    replicas offline."""
    spec = env.services.redis
    sentinel = spec.sentinel
    failover = at_least_one_scrape(env, (sentinel.down_after_milliseconds + sentinel.failover_timeout_ms) / 1000)
    master = 'redis_instance_info{job="redis",role="master",redis_mode!="sentinel"}'
    by_sentinel = f'redis_sentinel_master_status{{job="redis",master_name="{spec.master_name}"}}'
    return [
        target_down(env, "redis", "redis_exporter", _RESTART + " Without it no Redis alert can fire."),
        Alert(
            "RedisDown",
            'redis_up{job="redis"} == 0',
            at_least_one_scrape(env, sentinel.down_after_milliseconds / 1000),
            "critical",
            "A Redis or Sentinel member does not answer redis_exporter",
            "Check the member's service (`docker service ps`, `docker service logs`). If it was the "
            "master, Sentinel promotes a replica after down_after_milliseconds: confirm with "
            f"`redis-cli -p 26379 sentinel get-master-addr-by-name {spec.master_name}`.",
        ),
        Alert(
            "RedisMasterCountWrong",
            f"(count({master}) or vector(0)) != 1",
            failover,
            "critical",
            "Redis has no master, or more than one, for longer than a Sentinel failover takes",
            "Ask every Sentinel `sentinel get-master-addr-by-name`; with no master, check that "
            f"{sentinel.quorum} Sentinels run and see each other (`sentinel ckquorum`). With two masters, "
            "`replicaof` the one Sentinels do not name to the one they do.",
        ),
        Alert(
            "RedisSentinelsDisagree",
            f"count(count by (master_address) ({by_sentinel})) > 1",
            failover,
            "critical",
            "Sentinels name different Redis masters",
            "Compare `sentinel master <name>` (address, config-epoch) on each Sentinel and check the "
            "overlay between nodes. A Sentinel adopts a peer's master only at a greater config-epoch, so "
            "one that names another master at the same epoch keeps it across restarts: remove its "
            "/data/sentinel.conf and restart it (it starts from the stack's config at epoch 0 and takes "
            "its peers' view).",
        ),
        Alert(
            "RedisSentinelQuorumShort",
            f'redis_sentinel_master_ok_sentinels{{job="redis",master_name="{spec.master_name}"}} < {sentinel.quorum}',
            after_scrapes(env),
            "critical",
            f"A Sentinel sees fewer than quorum ({sentinel.quorum}) healthy Sentinels: no failover possible",
            "Start the missing Sentinels (`docker service ps` on the sentinel services); run "
            "`sentinel ckquorum` on a running one until it answers OK.",
        ),
        Alert(
            "RedisReplicasOffline",
            f'(redis_connected_slaves{{job="redis"}} and on (instance) {master}) < {spec.members - 1}',
            failover,
            "warning",
            f"The Redis master has fewer than {spec.members - 1} connected replicas",
            "Check the replicas' services and logs (`INFO replication` on each); a replica that cannot "
            "sync often lacks the password or memory.",
        ),
    ]


def rabbitmq(env: Environment) -> list[Alert]:
    """RabbitMQ: nodes missing (a partition under pause_minority pauses the minority, whose metrics
    listener stops with it), quorum lost for quorum queues, memory and disk alarms."""
    spec = env.services.rabbitmq
    down_runbook = (
        f"Check the node's service and log. partition_handling is {spec.partition_handling}: a node cut "
        "off from the majority pauses itself and resumes when the network heals; "
        "`rabbitmq-diagnostics cluster_status` on a running node lists partitions."
    )
    alarm = "Publishers are blocked cluster-wide until the alarm clears."
    return [
        target_down(env, "rabbitmq", "RabbitMQ", down_runbook),
        *members_below(env, "rabbitmq", "RabbitMQ", spec.members, down_runbook),
        Alert(
            "RabbitmqMemoryAlarm",
            'rabbitmq_alarms_memory_used_watermark{job="rabbitmq"} == 1',
            after_scrapes(env, 1),
            "critical",
            "A RabbitMQ node is above its memory high watermark",
            f"{alarm} Find the queues holding messages (`rabbitmq-diagnostics memory_breakdown`, "
            "management UI) and the consumers that stopped.",
        ),
        Alert(
            "RabbitmqDiskAlarm",
            'rabbitmq_alarms_free_disk_space_watermark{job="rabbitmq"} == 1',
            after_scrapes(env, 1),
            "critical",
            "A RabbitMQ node's free disk is below its limit",
            f"{alarm} Free space on the node's RabbitMQ volume (`df`), or drain the large queues.",
        ),
    ]


def vault(env: Environment) -> list[Alert]:
    """Vault: a member sealed, no active node, Raft autopilot unhealthy."""
    spec = env.services.vault
    return [
        target_down(
            env,
            "vault",
            "Vault",
            "Check the member's service (`docker service ps`, `docker service logs`) and restart it. A "
            "restarted member comes back sealed (VaultSealed fires for it): unseal it with `iklim vault unseal`.",
        ),
        Alert(
            "VaultSealed",
            'vault_core_unsealed{job="vault"} == 0',
            after_scrapes(env, 1),
            "critical",
            "A Vault member is sealed",
            f"Unseal it with {spec.key_threshold} of the {spec.key_shares} key shares (`iklim vault unseal`). "
            "A member seals after a restart: find why it restarted (`docker service logs`).",
        ),
        Alert(
            "VaultNoActiveNode",
            '(sum(vault_core_active{job="vault"}) or vector(0)) < 1',
            after_scrapes(env),
            "critical",
            "No Vault member is active: secrets cannot be read",
            "Run `vault operator raft list-peers` on an unsealed member: unseal sealed members until "
            f"a majority of {spec.members} runs; check the cluster port between members.",
        ),
        Alert(
            "VaultAutopilotUnhealthy",
            'vault_autopilot_healthy{job="vault"} == 0',
            at_least_one_scrape(env, spec.autopilot_stabilization_s + after_scrapes(env)),
            "warning",
            "Vault's Raft autopilot reports the cluster unhealthy",
            "`vault operator raft autopilot state` names the unhealthy server; unseal or restart it, "
            "remove a dead peer with `vault operator raft remove-peer`.",
        ),
    ]


def prometheus(env: Environment) -> list[Alert]:
    """Prometheus itself: rule evaluation failures and TSDB failures."""
    window = rate_window(env)
    tsdb = " or ".join(
        f'increase({m}{{job="prometheus"}}[{window}]) > 0'
        for m in (
            "prometheus_tsdb_compactions_failed_total",
            "prometheus_tsdb_head_truncations_failed_total",
            "prometheus_tsdb_reloads_failures_total",
            "prometheus_tsdb_wal_corruptions_total",
        )
    )
    return [
        target_down(env, "prometheus", "Prometheus", _RESTART),
        Alert(
            "PrometheusRuleEvaluationFailures",
            f'increase(prometheus_rule_evaluation_failures_total{{job="prometheus"}}[{window}]) > 0',
            after_scrapes(env, 1),
            "warning",
            "Prometheus fails to evaluate alerting rules: alerts may not fire",
            "Open /rules on Prometheus: the failing rule shows its error. Fix the model or the "
            "renderer (config/prometheus/rules is rendered), then re-deploy.",
        ),
        Alert(
            "PrometheusTsdbFailures",
            tsdb,
            after_scrapes(env, 1),
            "warning",
            "Prometheus's TSDB reports failed compactions, truncations, reloads or WAL corruption",
            "Read the Prometheus log; check free space on the prometheus-data volume of its node. "
            "A corrupt block can be moved out of the volume and Prometheus restarted.",
        ),
    ]


def down_only(env: Environment, key: str, label: str) -> list[Alert]:
    """A component whose metrics carry no cluster state: only its targets going down."""
    return [target_down(env, key, label, _RESTART)]


def alertmanager(env: Environment) -> list[Alert]:
    """Alertmanager: down (then no alert reaches anyone), or failing to deliver notifications."""
    window = rate_window(env)
    return [
        Alert(
            "AlertmanagerTargetDown",
            'up{job="alertmanager"} == 0',
            after_scrapes(env),
            "critical",
            "Alertmanager is down: no alert reaches the receivers",
            _RESTART + " Until it runs, watch Prometheus's /alerts page or `iklim status`.",
        ),
        Alert(
            "AlertmanagerNotificationsFailing",
            f'increase(alertmanager_notifications_failed_total{{job="alertmanager"}}[{window}]) > 0',
            after_scrapes(env, 1),
            "critical",
            "Alertmanager fails to deliver notifications to a receiver",
            "Read the Alertmanager log for the integration's error; check the receiver's Docker secret "
            "(SMTP password or webhook token) and that the SMTP host or webhook is reachable from the "
            "service nodes.",
        ),
        Alert(
            "PrometheusNotConnectedToAlertmanager",
            '(max(prometheus_notifications_alertmanagers_discovered{job="prometheus"}) or vector(0)) < 1',
            after_scrapes(env),
            "critical",
            "Prometheus has no Alertmanager to send alerts to",
            "Check the alerting section of prometheus.yml (rendered) and that the alertmanager service "
            "resolves on the overlay (`docker service ps`).",
        ),
    ]
