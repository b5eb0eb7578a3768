"""Failover timing relations between the model's clusters: values each engine accepts on its own
but that together would cost acknowledged writes or a needless demotion.

Each rule yields ``(key path, message)`` like the other semantic checks (:mod:`iklim.model.semantics`).

- etcd: election timeout >= 5 x heartbeat interval (etcd's tuning guide: "at least 5 to 10 times
  the heartbeat interval"; etcd refuses a smaller ratio only below 1, so the model enforces it).
- Patroni: ``loop_wait + 2 x retry_timeout <= ttl`` (patroni/config.py
  ``_validate_and_adjust_timeouts``: Patroni silently lowers loop_wait/retry_timeout otherwise).
- Patroni over etcd: with 3 or more etcd members Patroni gives each member
  ``retry_timeout / members`` seconds per request and does not retry it
  (patroni/dcs/etcd.py ``_calculate_timeouts``); an etcd election takes up to twice the election
  timeout (raft randomises it in [election, 2 x election): etcd raft ``resetRandomizedElectionTimeout``).
  When one request's share is shorter than that, losing etcd's leader can fail the primary's
  leader-key update and Patroni demotes a healthy primary (measured on the lab: retry_timeout 3
  with a ~1.2 s election demoted it in 3 of 13 runs; 9 in 0 of 6).
- Patroni ``synchronous_mode_strict`` means nothing without ``synchronous_mode``.
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.model.schema import Environment

Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]

#: etcd's own advice for the election timeout, in heartbeats (etcd docs, "Tuning": 5 to 10).
MIN_ELECTION_HEARTBEATS = 5


def timing_problems(env: Environment) -> Found:
    """Every failover-timing problem of ``env``: (key path, one-line message)."""
    etcd, pat = env.services.etcd, env.services.patroni
    if etcd.election_timeout_ms < MIN_ELECTION_HEARTBEATS * etcd.heartbeat_interval_ms:
        yield ("services", "etcd", "election_timeout_ms"), "etcd wants election timeout >= 5 x heartbeat"
    if pat.loop_wait + 2 * pat.retry_timeout > pat.ttl:
        yield ("services", "patroni", "ttl"), "Patroni needs loop_wait + 2 x retry_timeout <= ttl"
    per_member_ms = pat.retry_timeout * 1000 / max(etcd.members, 1)
    worst_election_ms = 2 * etcd.election_timeout_ms
    if per_member_ms <= worst_election_ms:
        yield (
            ("services", "patroni", "retry_timeout"),
            f"Patroni's retry_timeout / etcd members ({per_member_ms:.0f} ms per request) must exceed an etcd "
            f"election (up to 2 x election_timeout_ms = {worst_election_ms} ms), else losing etcd's leader "
            "demotes the primary",
        )
    if pat.synchronous_mode_strict and not pat.synchronous_mode:
        yield ("services", "patroni", "synchronous_mode_strict"), "synchronous_mode_strict needs synchronous_mode"
