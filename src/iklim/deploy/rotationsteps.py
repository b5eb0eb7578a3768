"""The engine calls of a secret rotation, one function per step (:mod:`iklim.deploy.rotation` orders them).

Each reaches the cluster through its own client and production's addressing (the context's
:class:`~iklim.components.target.Target`: overlay names and host-mode ports, from the drill seat):
psycopg to PostgreSQL, redis-py to Redis and Sentinel, the management HTTP API to RabbitMQ.
Sources are in :mod:`iklim.deploy.rotation`'s docstring. Every value travels in a protocol message,
never in an argument list; errors are :class:`~iklim.deploy.api.DeployError` naming the member and
the step, never a value.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
import redis as redis_client
from psycopg import sql

from iklim.components.base import member_names
from iklim.components.patroni import SECRETS as PATRONI_SECRETS
from iklim.components.target import Target
from iklim.components.trust import libpq_tls
from iklim.deploy.api import DeployError
from iklim.drill.driver import DrillError
from iklim.drill.labplanned import http_json
from iklim.drill.workloads.patroni import conninfo
from iklim.lab.components.rabbitmq import ADMIN_USER as RABBIT_USER
from iklim.model.schema import Environment

Progress = Callable[[str], None]
#: The superuser the steps connect as (the rendered patroni.yml's ``authentication.superuser``).
SUPERUSER = "postgres"
#: How long a replica may take to stream again after the roll (s).
STREAM_TIMEOUT_S = 120.0


class StepContext(Protocol):
    @property
    def env(self) -> Environment: ...

    @property
    def target(self) -> Target: ...

    def secret(self, name: str) -> str: ...


# --- PostgreSQL (Patroni) ------------------------------------------------------------------------


def libpq_reasons(exc: psycopg.Error) -> str:
    """``exc``'s reason for each host libpq tried (``host: reason; ...``, distinct reasons, in
    its order), or its first line when it names no host; libpq never puts a password in it.

    psycopg 3 lists every attempt of a multi-host conninfo as ``- host: 'h', port: ...: <why>``
    (https://www.psycopg.org/psycopg3/docs/api/connections.html#psycopg.Connection.connect)."""
    text = str(exc)
    found: dict[str, str] = {}
    for line in text.splitlines():
        attempt = re.match(r"- host: '([^']*)'.*?: connection (?:failed|is bad): (.*)$", line)
        if attempt:
            why = attempt.group(2)
            why = why.split(" failed: ", 1)[1] if why.startswith("connection to server at ") else why
            found.setdefault(f"{attempt.group(1)}: {why.strip()}", "")
    if found:
        return "; ".join(found)
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    return first.removeprefix("connection failed: ")


def _primary(ctx: StepContext) -> psycopg.Connection[Any]:
    members = member_names("patroni", ctx.env.services.patroni.members)
    endpoints = [(a.host, a.port) for a in (ctx.target.endpoint(m, "postgres") for m in members)]
    secret = ctx.secret(PATRONI_SECRETS["PATRONI_SUPERUSER_PASSWORD"])
    try:
        return psycopg.connect(**conninfo(endpoints, SUPERUSER, secret, 5, libpq_tls(ctx.env, ctx.target)))
    except psycopg.Error as exc:
        raise DeployError(f"patroni: no primary accepts the superuser: {libpq_reasons(exc)}") from None


def patroni_alter_role(ctx: StepContext, user: str, new: str, progress: Progress) -> None:
    """``ALTER ROLE <user> PASSWORD '<SCRAM-SHA-256 verifier of new>'`` on the primary (replicated to the replicas)."""
    with _primary(ctx) as conn:
        try:
            verifier = conn.pgconn.encrypt_password(new.encode(), user.encode(), b"scram-sha-256").decode()
            with conn.transaction():
                conn.execute("SET LOCAL log_statement = 'none'")
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(verifier)))
        except psycopg.Error as exc:
            raise DeployError(f"patroni: ALTER ROLE {user} on the primary failed: {type(exc).__name__}") from None
    progress(f"patroni: role {user} has the new password (SCRAM verifier set on the primary)")


def streaming_replicas(ctx: StepContext) -> set[str]:
    """The ``application_name`` of every replica streaming from the primary (``pg_stat_replication``)."""
    with _primary(ctx) as conn:
        rows = conn.execute("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'").fetchall()
    return {str(r[0]) for r in rows}


def patroni_replicas_streaming(ctx: StepContext, progress: Progress, timeout: float = STREAM_TIMEOUT_S) -> None:
    """Wait until every member but the leader (Patroni REST ``/cluster``) streams from the primary:
    they connected with the new value. Raises :class:`DeployError` after ``timeout`` seconds."""
    from iklim.drill.labseams import PatroniSeam

    seam = PatroniSeam(ctx)
    deadline = time.monotonic() + timeout
    while True:
        leader = seam.observe(None).leader
        try:
            streaming = streaming_replicas(ctx)
        except (DeployError, psycopg.Error):
            streaming = set()
        missing = sorted(set(seam.members()) - streaming - {leader})
        if leader is not None and not missing:
            progress(f"patroni: {len(streaming)} replica(s) streaming from {leader} with the new replication password")
            return
        if time.monotonic() > deadline:
            raise DeployError(
                f"patroni: not streaming {timeout:.0f} s after the roll: {', '.join(missing) or 'no leader'}"
            )
        time.sleep(1.0)


# --- Redis and Sentinel --------------------------------------------------------------------------


def _redis(ctx: StepContext, member: str, passwords: Sequence[str]) -> redis_client.Redis:
    """A client of ``member`` authenticated with the first of ``passwords`` it accepts."""
    address = ctx.target.endpoint(member, "redis")
    refused = ""
    for candidate in [p for p in passwords if p]:
        client = redis_client.Redis(address.host, address.port, password=candidate, socket_timeout=5.0)
        try:
            client.ping()
            return client
        except redis_client.AuthenticationError:
            refused = "neither the current nor the new password is accepted"
        except redis_client.RedisError as exc:
            refused = type(exc).__name__
        client.close()
    raise DeployError(f"redis: {member}: {refused or 'no password to try'}")


def _members(ctx: StepContext) -> list[str]:
    return member_names("redis", ctx.env.services.redis.members)


def sentinels(ctx: StepContext) -> list[tuple[str, int]]:
    names = member_names("redis-sentinel", ctx.env.services.redis.sentinel.members)
    return [(a.host, a.port) for a in (ctx.target.endpoint(m, "sentinel") for m in names)]


def _sentinel_auth_pass(ctx: StepContext, new: str) -> None:
    service = ctx.env.services.redis.master_name
    for host, port in sentinels(ctx):
        client = redis_client.Redis(host, port, socket_timeout=5.0, socket_connect_timeout=3.0)
        try:
            client.execute_command("SENTINEL", "SET", service, "auth-pass", new)  # type: ignore[no-untyped-call]
        except redis_client.RedisError as exc:
            raise DeployError(f"redis: SENTINEL SET auth-pass on {host}: {type(exc).__name__}") from None
        finally:
            client.close()


def _each_member(ctx: StepContext, passwords: Sequence[str], step: str, *commands: Sequence[str]) -> None:
    for member in _members(ctx):
        client = _redis(ctx, member, passwords)
        try:
            for command in commands:
                client.execute_command(*command)  # type: ignore[no-untyped-call]
        except redis_client.RedisError as exc:
            raise DeployError(f"redis: {step} on {member}: {type(exc).__name__}") from None
        finally:
            client.close()


def redis_accept_both(ctx: StepContext, current: str, new: str, progress: Progress) -> None:
    """Old and new both accepted by every member, in memory and in ``/data/redis.conf``; the
    replicas and the Sentinels authenticate with the new one.

    ``requirepass`` is set too: a restarted member reads it from the data directory's copy *after*
    the secret's include (the later line wins), and ``ACL SETUSER`` does not change it, so without
    it the old value would stay in the file in clear. ``CONFIG SET requirepass`` resets the default
    user to that one password, so it runs in one ``MULTI``/``EXEC`` with the ``ACL SETUSER`` that
    adds the old one back: no client sees a moment where the old value is refused."""
    _each_member(ctx, [current, new], "ACL SETUSER default >new", ("ACL", "SETUSER", "default", "on", f">{new}"))
    for member in _members(ctx):
        client = _redis(ctx, member, [new])
        try:
            pipe = client.pipeline(transaction=True)
            pipe.execute_command("CONFIG", "SET", "requirepass", new)  # type: ignore[no-untyped-call]
            if current and current != new:
                pipe.execute_command("ACL", "SETUSER", "default", "on", f">{current}")  # type: ignore[no-untyped-call]
            pipe.execute_command("CONFIG", "SET", "masterauth", new)  # type: ignore[no-untyped-call]
            pipe.execute()
            client.execute_command("CONFIG", "REWRITE")  # type: ignore[no-untyped-call]
        except redis_client.RedisError as exc:
            raise DeployError(
                f"redis: requirepass/masterauth and CONFIG REWRITE on {member}: {type(exc).__name__}"
            ) from None
        finally:
            client.close()
    _sentinel_auth_pass(ctx, new)
    progress("redis: every member accepts the old and the new password; masterauth and Sentinel auth-pass are new")


def redis_check(ctx: StepContext, new: str, progress: Progress) -> None:
    """Every member accepts the new value (after the cluster's roll; the old one is still accepted)."""
    _each_member(ctx, [new], "AUTH with the new value", ("PING",))
    progress("redis: the new password is accepted by every member (the old one until the deploy ends)")


def redis_retire_old(ctx: StepContext, new: str, progress: Progress) -> None:
    """Only the new value accepted by every member, in memory and in ``/data/redis.conf``."""
    _each_member(
        ctx,
        [new],
        "ACL SETUSER default resetpass >new / CONFIG REWRITE",
        ("ACL", "SETUSER", "default", "on", "resetpass", f">{new}"),
        ("CONFIG", "SET", "requirepass", new),
        ("CONFIG", "SET", "masterauth", new),
        ("CONFIG", "REWRITE"),
    )
    _sentinel_auth_pass(ctx, new)
    progress("redis: the old password is refused by every member (memory and data directory)")


# --- RabbitMQ ------------------------------------------------------------------------------------


def _management(ctx: StepContext) -> list[str]:
    members = member_names("rabbitmq", ctx.env.services.rabbitmq.members)
    return [f"http://{a.host}:{a.port}" for a in (ctx.target.endpoint(m, "management") for m in members)]


def _accepted(url: str, secret: str) -> bool | None:
    """True: ``GET /api/whoami`` answers as the admin with ``secret``; False: 401; None: unreachable."""
    try:
        http_json(f"{url}/api/whoami", auth=(RABBIT_USER, secret), t=10.0)
        return True
    except DrillError as exc:
        if "HTTP 401" in str(exc):
            return False
        return None
    except OSError:
        return None


def rabbit_change_password(ctx: StepContext, current: str, new: str, progress: Progress) -> None:
    """``PUT /api/users/<admin>`` with the new password and the user's tags, on the first node that answers."""
    for url in _management(ctx):
        if new and _accepted(url, new):
            progress("rabbitmq: the admin user already has the new password")
            return
        if not current or not _accepted(url, current):
            continue
        try:
            user = http_json(f"{url}/api/users/{RABBIT_USER}", auth=(RABBIT_USER, current), t=10.0)
            tags = user.get("tags", "")
            tags = ",".join(tags) if isinstance(tags, list) else str(tags)
            http_json(f"{url}/api/users/{RABBIT_USER}", "PUT", {"password": new, "tags": tags}, (RABBIT_USER, current))
        except (DrillError, OSError, AttributeError) as exc:
            words = str(exc).split(": HTTP ", 1)[-1] if isinstance(exc, DrillError) else type(exc).__name__
            raise DeployError(f"rabbitmq: changing {RABBIT_USER}'s password failed: HTTP {words}") from None
        progress(f"rabbitmq: {RABBIT_USER}'s password changed in the cluster's user database")
        return
    raise DeployError(f"rabbitmq: no node's management API accepts {RABBIT_USER} with the current or the new password")


def rabbit_check(ctx: StepContext, new: str, progress: Progress) -> None:
    """Every node answers ``GET /api/whoami`` with the new password."""
    refused = [url for url in _management(ctx) if not _accepted(url, new)]
    if refused:
        raise DeployError(f"rabbitmq: the new admin password is not accepted by {', '.join(refused)}")
    progress("rabbitmq: every node accepts the new admin password")
