"""The shortest ``stop_grace_period`` each stateful component needs to hand over cleanly on SIGTERM.

Swarm stops a task with the image's stop signal (SIGTERM), waits ``stop_grace_period`` (Docker's
default: 10 s) and then SIGKILLs it. A member killed mid-hand-over is a crash: its cluster waits
for its own failure detection instead. Each minimum below is derived from the model where the
engine's shutdown is bounded by a model timing, else from the engine's documented default:

==========  ===============================================================================
etcd        ``5 s + 2 x election_timeout`` (etcd's request timeout, ``ServerConfig.ReqTimeout``,
            bounds the leadership transfer a leader makes when it stops).
patroni     ``ttl``: Patroni stops PostgreSQL and deletes its leader key; killed before that,
            the cluster has no leader until the key expires after ``ttl``.
mongodb     15 s: ``shutdownTimeoutMillisForSignaledShutdown`` (default 15000 ms), the time a
            primary stopped by SIGTERM waits for an electable secondary before stepping down.
redis       10 s: Redis 7's ``shutdown-timeout`` (default 10 s), the time a master waits on
            SIGTERM for its replicas to catch up; Sentinel has no hand-over (0).
rabbitmq    60 s (choice): a stopping node hands its quorum-queue leaderships over and closes
            client connections; the model has no timing for it and the engine no bound.
vault       10 s: the active node releases its lock and Raft leadership on SIGTERM
            (hashicorp/vault#24457); Docker's default grace is the floor.
prometheus  10 s: Prometheus flushes its TSDB head on SIGTERM; Docker's default is the floor.
grafana     0: its state lives in the database file, written as it goes.
==========  ===============================================================================

Components without state need no hand-over (0). ``tests/plan/test_grace.py`` fails when a
stateful catalogue entry has no row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from iklim.model.schema import Environment

#: Docker's stop grace period when a service sets none (``docker service create --stop-grace-period``).
DOCKER_DEFAULT_S = 10.0

#: Catalogue key -> (minimum seconds for ``env``, the reason in words).
MINIMUMS: Mapping[str, Callable[[Environment], tuple[float, str]]] = {
    "etcd": lambda env: (
        5 + 2 * env.services.etcd.election_timeout_ms / 1000,
        "etcd's request timeout (5 s + 2 x election_timeout) bounds its leadership transfer on stop",
    ),
    "patroni": lambda env: (
        float(env.services.patroni.ttl),
        "Patroni must release its leader key before ttl would expire it",
    ),
    "mongodb": lambda env: (15.0, "mongod waits up to 15 s on SIGTERM for a secondary to catch up"),
    "redis": lambda env: (10.0, "Redis 7 waits up to shutdown-timeout (10 s) for its replicas on SIGTERM"),
    "rabbitmq": lambda env: (60.0, "a stopping node hands over its quorum-queue leaderships (choice: 60 s)"),
    "vault": lambda env: (10.0, "the active node releases its lock and Raft leadership on SIGTERM"),
    "prometheus": lambda env: (10.0, "Prometheus flushes its TSDB head on SIGTERM"),
    "grafana": lambda env: (0.0, "Grafana writes its database as it goes"),
}

#: Services of a stateful component that hold no state of their own (exporters, Sentinel).
NO_HANDOVER_MARKERS = ("exporter", "sentinel")


def service_components(env: Environment) -> dict[str, str]:
    """Full service name (``iklimco_etcd-1``) -> catalogue key, from each builder's contribution."""
    from iklim.components import BUILDERS

    stacks = {"infra": env.stacks.infra, "vault": env.stacks.vault}
    found: dict[str, str] = {}
    for key, build in BUILDERS.items():
        part = build(env)
        for name in part.services:
            found[f"{stacks[part.stack]}_{name}"] = key
    return found


def minimum(env: Environment, component: str, service: str) -> tuple[float, str]:
    """The minimum grace of ``service`` (of catalogue ``component``) and why; (0, reason) without hand-over."""
    if any(marker in service for marker in NO_HANDOVER_MARKERS) or component not in MINIMUMS:
        return 0.0, "no hand-over"
    return MINIMUMS[component](env)
