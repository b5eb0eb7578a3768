"""The panels of each component's dashboard, from the model and the scrape jobs Prometheus renders.

:data:`PANELS` maps a catalogue key with a scrape job to the function that lists its panels
(``tests/test_catalogue.py``: an entry without one must declare ``absent["scrape"]``). Job names
are read from :data:`iklim.components.prometheus.JOBS`, member counts and thresholds from the
model (:class:`Ctx`); no number is copied by hand. Metric names are the exporters' own, as the
lab's Prometheus reads them (``tests/lab/test_lab_dashboards.py``): etcd's native ``/metrics``
(``etcd_server_*``, ``etcd_disk_*``), Patroni's ``GET /metrics`` (``patroni_*``, Patroni REST API
docs), redis_exporter (``redis_*``, Sentinel as ``redis_sentinel_*``), RabbitMQ's
``rabbitmq_prometheus`` plugin (``rabbitmq_*``), OpenBao/Vault ``/v1/sys/metrics`` (``vault_*``),
Prometheus's self-metrics, nginx-prometheus-exporter (``nginx_*``), APISIX's prometheus plugin
(``apisix_*``) and Percona mongodb_exporter (``mongodb_*``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from iklim.components.grafana_json import (
    YES_NO,
    Panel,
    Query,
    count_steps,
    exactly_one_steps,
    limit_steps,
)
from iklim.components.prometheus import JOBS
from iklim.components.target import ProductionTarget
from iklim.model.catalogue import CATALOGUE, entry
from iklim.model.schema import Environment


@dataclass(frozen=True)
class Ctx:
    """What panels are derived from: the model, each key's scrape job name and target count, the
    rate window (four scrape intervals, so a ``rate`` always spans several samples)."""

    env: Environment
    jobs: dict[str, str]
    targets: dict[str, int]
    window: str

    def sel(self, key: str, **labels: str) -> str:
        """A PromQL label selector for ``key``'s job plus ``labels`` (values quoted as PromQL strings)."""
        pairs = [("job", self.jobs[key]), *labels.items()]
        return "{" + ",".join(f"{k}{_op(v)}{_quote(v.lstrip('!~'))}" for k, v in pairs) + "}"


def _op(value: str) -> str:
    return "!=" if value.startswith("!") else "=~" if value.startswith("~") else "="


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def context(env: Environment) -> Ctx:
    """The :class:`Ctx` of ``env``: job names and expected target counts from the rendered jobs."""
    target = ProductionTarget(env)
    jobs: dict[str, str] = {}
    targets: dict[str, int] = {}
    for key, job in JOBS.items():
        config = job(env, target)
        jobs[key] = str(config["job_name"])
        static = [t for block in config.get("static_configs", []) for t in block["targets"]]
        # a DNS-discovered job (APISIX's tasks.<service>) has one target per member of its section
        targets[key] = len(static) or getattr(env.services, entry(key).section).members
    return Ctx(env, jobs, targets, f"{4 * env.services.prometheus.scrape_interval_s}s")


def majority(members: int) -> int:
    """The members a Raft or Paxos-style cluster of ``members`` needs to work."""
    return members // 2 + 1


def up_panel(c: Ctx, key: str, title: str = "") -> Panel:
    """Targets of ``key``'s job answering their scrape, against the count the job has."""
    total = c.targets[key]
    quorum = majority(total) if entry(key).quorum else total
    return Panel(
        title or f"{entry(key).label}: targets up",
        (Query(f"sum(up{c.sel(key)})"),),
        key,
        kind="stat",
        steps=count_steps(total, quorum),
        description=f"Scrape targets of job {c.jobs[key]} that answer, of {total}.",
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


PanelSource = Callable[[Ctx], list[Panel]]

#: Catalogue key -> its panels; more in :mod:`iklim.components.dashboard_edge`.
CORE: dict[str, PanelSource] = {
    "etcd": etcd,
    "patroni": patroni,
    "redis": redis,
    "rabbitmq": rabbitmq,
    "vault": vault,
}

__all__ = ["CATALOGUE", "CORE", "Ctx", "PanelSource", "context", "majority", "up_panel"]
