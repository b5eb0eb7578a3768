"""Alerting rules of the DB tier: etcd, Patroni/PostgreSQL, MongoDB.

Metric names are the engines' own:

- etcd: ``etcd_server_has_leader`` (1 when the member sees a leader),
  ``etcd_server_leader_changes_seen_total`` (counter) on the client port's ``/metrics``
  (etcd docs, "Metrics": server section);
- Patroni: ``/metrics`` on the REST API (Patroni docs, "REST API", ``GET /metrics``; patroni/api.py
  ``do_GET_metrics``): ``patroni_primary``, ``patroni_replica``, ``patroni_postgres_running``,
  ``patroni_postgres_streaming``, ``patroni_xlog_location`` (leader's WAL flush position in bytes,
  0 elsewhere), ``patroni_xlog_received_location`` (replica's received position), labels
  ``scope`` and ``name``.
"""

from __future__ import annotations

from iklim.components.alertrules import (
    Alert,
    after_scrapes,
    at_least_one_scrape,
    members_below,
    quorum,
    target_down,
)
from iklim.model.schema import Environment

#: The range over which etcd leader changes are counted.
LEADER_CHANGE_WINDOW = "1h"


def etcd(env: Environment) -> list[Alert]:
    """etcd: no leader, members missing / quorum lost, more leader changes than a rolling update."""
    spec = env.services.etcd
    members = spec.members
    down_runbook = (
        "Find the member on its DB node (`docker service ps` on the etcd member service, "
        "`docker service logs`); restart it or restore its node. While fewer than "
        f"{quorum(members)} of {members} members run, Patroni cannot renew its leader key and APISIX "
        "cannot read its config: bring members back before anything else."
    )
    return [
        target_down(env, "etcd", "etcd", down_runbook),
        *members_below(env, "etcd", "etcd", members, down_runbook),
        Alert(
            "EtcdNoLeader",
            'etcd_server_has_leader{job="etcd"} == 0',
            at_least_one_scrape(env, spec.election_timeout_ms / 1000),
            "critical",
            "An etcd member has seen no leader for longer than the election timeout",
            "Run `etcdctl endpoint status --cluster -w table` on a DB node: if no member is leader, the "
            "cluster lost quorum (see EtcdQuorumLost); if only this member has none, it is partitioned "
            "from the others: check the private network and the node's firewall (peer port).",
        ),
        Alert(
            "EtcdFrequentLeaderChanges",
            f'increase(etcd_server_leader_changes_seen_total{{job="etcd"}}[{LEADER_CHANGE_WINDOW}]) > {members}',
            after_scrapes(env, 1),
            "warning",
            f"etcd changed leader more than {members} times in {LEADER_CHANGE_WINDOW} "
            "(more than a rolling update of every member causes)",
            "Look for a member whose disk or network is slow (`etcdctl check perf`, fsync latency in "
            "the member's log, node load). Heartbeat and election timeouts are model values "
            "(services.etcd): raise them only when the network, not a disk, is the cause.",
        ),
    ]


def patroni(env: Environment) -> list[Alert]:
    """Patroni: no primary, replica lag beyond the model's limit, replica not streaming, Postgres down."""
    spec = env.services.patroni
    scope = f'job="patroni",scope="{spec.scope}"'
    failover = spec.ttl + spec.loop_wait  # the leader key expires (ttl), a replica promotes next loop
    down_runbook = (
        "Check the member on its DB node (`docker service logs`, `patronictl list`); restart it. "
        "A stopped primary is replaced by failover within ttl + loop_wait; a member that comes back "
        "rejoins as a replica (pg_rewind)."
    )
    return [
        target_down(env, "patroni", "Patroni", down_runbook),
        *members_below(env, "patroni", "Patroni", spec.members, down_runbook, quorum_cluster=False),
        Alert(
            "PatroniNoPrimary",
            f"(sum(patroni_primary{{{scope}}}) or vector(0)) < 1",
            at_least_one_scrape(env, failover),
            "critical",
            "The Patroni cluster has had no primary for longer than a failover takes (ttl + loop_wait)",
            "Run `patronictl list`: if no member is Leader, check etcd first (Patroni needs it to take "
            "the leader key), then the members' logs. If the cluster is paused, `patronictl resume`. "
            "Never promote by hand with pg_ctl: use `patronictl failover`.",
        ),
        Alert(
            "PatroniReplicaLagging",
            f"((max by (scope) (patroni_xlog_location{{{scope}}}) - on (scope) group_right "
            f"patroni_xlog_received_location{{{scope}}}) and on (instance) (patroni_replica{{{scope}}} == 1))"
            f" > {spec.max_replica_lag_bytes}",
            at_least_one_scrape(env, spec.ttl),
            "warning",
            f"A Patroni replica is more than max_replica_lag_bytes ({spec.max_replica_lag_bytes} bytes) "
            "behind the primary",
            "Check the replica's disk and network (`patronictl list` Lag column, pg_stat_replication on "
            "the primary). A replica beyond maximum_lag_on_failover is not promoted; if it does not "
            "catch up, `patronictl reinit` it.",
        ),
        Alert(
            "PatroniReplicaNotStreaming",
            f"(patroni_replica{{{scope}}} == 1) and on (instance) (patroni_postgres_streaming{{{scope}}} == 0)",
            at_least_one_scrape(env, failover),
            "warning",
            "A Patroni replica is not streaming WAL from the primary",
            "Check the replica's log for replication connection errors (pg_hba, replication password, "
            "a missing WAL segment). `patronictl reinit` the member when it cannot resume.",
        ),
        Alert(
            "PatroniPostgresNotRunning",
            f"patroni_postgres_running{{{scope}}} == 0",
            at_least_one_scrape(env, failover),
            "critical",
            "Patroni runs but its PostgreSQL does not",
            "Read the member's log (`docker service logs`): Patroni restarts PostgreSQL each loop; "
            "a crash loop usually means a full volume or a bad parameter in the Patroni config.",
        ),
    ]


def mongodb(env: Environment) -> list[Alert]:
    """MongoDB: its exporters' targets (the replica set's own metrics need the real mongod)."""
    return [
        target_down(
            env,
            "mongodb",
            "mongodb_exporter",
            "Check the mongodb-exporter service of that member and the mongod it reads "
            "(`docker service logs`, `rs.status()` in mongosh).",
        ),
    ]
