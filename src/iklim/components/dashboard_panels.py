"""The panels of each component's dashboard, from the model and the scrape jobs Prometheus renders.

etcd, Patroni and Redis here; RabbitMQ and Vault in :mod:`iklim.components.dashboard_services`,
the rest in :mod:`iklim.components.dashboard_edge`, whose ``PANELS`` registers them all. Job
names come from the scrape jobs, member counts and thresholds from the model
(:class:`iklim.components.dashboard_context.Ctx`); no number is copied by hand. Metric names are
the exporters' own, as the lab's Prometheus reads them (``tests/lab/test_lab_dashboards.py``):
etcd's native ``/metrics`` (``etcd_server_*``, ``etcd_disk_*``), Patroni's ``GET /metrics``
(``patroni_*``, Patroni REST API docs) and redis_exporter (``redis_*``, Sentinel as
``redis_sentinel_*``).
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


def etcd(c: Ctx) -> list[Panel]:
    n = c.env.services.etcd.members
    s, w = c.sel("etcd"), c.window
    return [
        up_panel(c, "etcd"),
        Panel(
            "etcd: members with a leader",
            (Query(f"sum(etcd_server_has_leader{s})"),),
            "etcd",
            kind="stat",
            steps=count_steps(n, majority(n)),
            description=f"Members that see a leader, of {n}; below {majority(n)} the cluster has no quorum.",
            overview=True,
        ),
        Panel(
            "etcd: leader changes (1h)",
            (Query(f"max(increase(etcd_server_leader_changes_seen_total{s}[1h]))"),),
            "etcd",
            kind="stat",
            steps=limit_steps(3, 1),
            overview=True,
        ),
        Panel(
            "etcd: pending proposals",
            (Query(f"sum(etcd_server_proposals_pending{s})"),),
            "etcd",
            kind="stat",
            steps=limit_steps(10, 1),
        ),
        Panel("etcd: leader", (Query(f"etcd_server_is_leader{s}", "{{instance}}"),), "etcd"),
        Panel(
            "etcd: proposals",
            (
                Query(f"sum(rate(etcd_server_proposals_committed_total{s}[{w}]))", "committed"),
                Query(f"sum(rate(etcd_server_proposals_failed_total{s}[{w}]))", "failed"),
            ),
            "etcd",
            unit="ops",
        ),
        Panel(
            "etcd: WAL fsync p99",
            (Query(_p99("etcd_disk_wal_fsync_duration_seconds_bucket", s, w), "{{instance}}"),),
            "etcd",
            unit="s",
        ),
        Panel(
            "etcd: backend commit p99",
            (Query(_p99("etcd_disk_backend_commit_duration_seconds_bucket", s, w), "{{instance}}"),),
            "etcd",
            unit="s",
        ),
        Panel(
            "etcd: peer round trip p99",
            (Query(_p99("etcd_network_peer_round_trip_time_seconds_bucket", s, w), "{{instance}}"),),
            "etcd",
            unit="s",
        ),
        Panel(
            "etcd: database size",
            (Query(f"etcd_mvcc_db_total_size_in_bytes{s}", "{{instance}}"),),
            "etcd",
            unit="bytes",
        ),
    ]


def _p99(bucket: str, sel: str, window: str) -> str:
    return f"histogram_quantile(0.99, sum by (instance, le) (rate({bucket}{sel}[{window}])))"


def patroni_lag(c: Ctx) -> str:
    """Bytes each replica has received less than the leader has written (Patroni's own ``lag``)."""
    s = c.sel("patroni")
    leader = f"max by (scope) (patroni_xlog_location{s} * patroni_primary{s})"
    replicas = f"(patroni_xlog_received_location{s} and on (instance) patroni_replica{s} == 1)"
    return f"{leader} - on (scope) group_right () {replicas}"


def patroni(c: Ctx) -> list[Panel]:
    spec = c.env.services.patroni
    s = c.sel("patroni")
    replicas = spec.members - 1
    return [
        up_panel(c, "patroni"),
        Panel(
            "Patroni: leaders",
            (Query(f"sum(patroni_primary{s})"),),
            "patroni",
            kind="stat",
            steps=exactly_one_steps(),
            description="Members running as primary: 0 is no leader, 2 or more a split brain.",
            overview=True,
        ),
        Panel(
            "Patroni: replicas streaming",
            (Query(f"sum(patroni_postgres_streaming{s} and on (instance) patroni_replica{s} == 1)"),),
            "patroni",
            kind="stat",
            steps=count_steps(replicas, 1),
            description=f"Replicas streaming WAL from the leader, of {replicas}.",
            overview=True,
        ),
        Panel(
            "Patroni: leader lock held",
            (Query(f"1 - max(patroni_cluster_unlocked{s})"),),
            "patroni",
            kind="stat",
            mappings=YES_NO,
            steps=(("red", None), ("green", 1)),
        ),
        Panel(
            "Patroni: replication lag",
            (Query(patroni_lag(c), "{{name}}"),),
            "patroni",
            unit="bytes",
            steps=limit_steps(spec.max_replica_lag_bytes, spec.maximum_lag_on_failover),
            description=(
                f"WAL bytes behind the leader; orange from maximum_lag_on_failover ({spec.maximum_lag_on_failover}:"
                f" not promoted), red from max_replica_lag_bytes ({spec.max_replica_lag_bytes}: lagging)."
            ),
            overview=True,
        ),
        Panel(
            "Patroni: failovers (1h)",
            (Query(f"max(changes(patroni_postgres_timeline{s}[1h]))"),),
            "patroni",
            kind="stat",
            steps=limit_steps(2, 1),
            description="Timeline switches a member saw in the last hour: each promotion starts a timeline.",
            overview=True,
        ),
        Panel("Patroni: role (1 = primary)", (Query(f"patroni_primary{s}", "{{name}}"),), "patroni"),
        Panel("Patroni: timeline", (Query(f"patroni_postgres_timeline{s}", "{{name}}"),), "patroni"),
        Panel("Patroni: PostgreSQL running", (Query(f"patroni_postgres_running{s}", "{{name}}"),), "patroni"),
    ]


def redis(c: Ctx) -> list[Panel]:
    spec = c.env.services.redis
    sentinel = spec.sentinel
    data = c.sel("redis", redis_mode="!sentinel")
    s, w = c.sel("redis"), c.window
    return [
        up_panel(c, "redis", "Redis: Redis and Sentinel targets up"),
        Panel(
            "Redis: masters",
            (Query(f"count(redis_instance_info{c.sel('redis', redis_mode='!sentinel', role='master')})"),),
            "redis",
            kind="stat",
            steps=exactly_one_steps(),
            overview=True,
        ),
        Panel(
            "Redis: replicas connected to the master",
            (Query(f"max(redis_connected_slaves{s})"),),
            "redis",
            kind="stat",
            steps=count_steps(spec.members - 1, 1),
        ),
        Panel(
            "Sentinel: Sentinels agreeing",
            (Query(f"min(redis_sentinel_master_ok_sentinels{s})"),),
            "redis",
            kind="stat",
            steps=count_steps(sentinel.members, sentinel.quorum),
            description=f"Sentinels that see the master, of {sentinel.members}; failover needs {sentinel.quorum}.",
            overview=True,
        ),
        Panel(
            "Sentinel: masters named",
            (Query(f"count(count by (master_address) (redis_sentinel_master_status{s}))"),),
            "redis",
            kind="stat",
            steps=exactly_one_steps(),
            description="Distinct master addresses the Sentinels report: more than one is a disagreement.",
        ),
        Panel(
            "Sentinel: master changes (1h)",
            (Query(f"count(count by (master_address) (count_over_time(redis_sentinel_master_status{s}[1h]))) - 1"),),
            "redis",
            kind="stat",
            steps=limit_steps(2, 1),
            description="Master addresses the Sentinels reported in the last hour, less one: the failovers.",
            overview=True,
        ),
        Panel(
            "Redis: replica lag",
            (
                Query(
                    f"redis_master_repl_offset{s} - on (instance) group_right () redis_connected_slave_offset_bytes{s}",
                    "{{slave_ip}}:{{slave_port}}",
                ),
            ),
            "redis",
            unit="bytes",
            description="Bytes of the master's replication stream each replica has not acknowledged yet.",
            overview=True,
        ),
        Panel("Redis: master link up", (Query(f"redis_master_link_up{s}", "{{instance}}"),), "redis"),
        Panel("Redis: memory used", (Query(f"redis_memory_used_bytes{data}", "{{instance}}"),), "redis", unit="bytes"),
        Panel(
            "Redis: commands",
            (Query(f"rate(redis_commands_processed_total{data}[{w}])", "{{instance}}"),),
            "redis",
            unit="ops",
        ),
        Panel("Redis: clients", (Query(f"redis_connected_clients{data}", "{{instance}}"),), "redis"),
    ]
