"""The lab's planned hand-overs and unsafe configurations, through each cluster's own API.

Used by :mod:`iklim.drill.labseams` (one call per seam method). Sources:

- etcd ``move-leader``: ``POST /v3/maintenance/transfer-leadership`` on the leader (the v3 JSON
  gateway; etcd.io/docs/v3.4/op-guide/maintenance); returns once the leadership moved.
- Patroni: ``POST /switchover`` with ``leader`` and ``candidate``, ``GET`` / ``PATCH /config``
  (patroni.readthedocs.io/en/latest/rest_api.html), HTTP basic auth as the lab's REST user; the
  switchover answers once the candidate runs as primary; a ``null`` in a PATCH removes the key.
- Redis: ``CLIENT PAUSE WRITE`` on the master, ``SENTINEL FAILOVER <master>`` (a forced failover,
  no agreement needed; returns at once), ``REPLICAOF`` the promoted one on the old master,
  ``CLIENT UNPAUSE``,
  ``CONFIG GET`` / ``CONFIG SET min-replicas-to-write`` (redis.io/docs/latest/operate/oss_and_stack/
  management/sentinel/, replication#allow-writes-only-with-n-attached-replicas).
- RabbitMQ: a graceful stop is SIGTERM to the node's supervised process group (as ``docker stop``).

Errors: :class:`~iklim.drill.driver.DrillError`, one line naming the cluster and the step.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import redis as redis_client

from iklim.components.patroni import SECRETS as PATRONI_SECRETS
from iklim.components.redis import PASSWORD as REDIS_PASSWORD
from iklim.components.target import Target
from iklim.components.trust import scheme, ssl_context
from iklim.drill.driver import DrillError
from iklim.lab.components.patroni import REST_USER as PATRONI_REST_USER
from iklim.lab.context import LabContext
from iklim.model.schema import Environment


class ClusterContext(Protocol):
    """What the planned calls need of a target (the lab's context, the Swarm lab's seat):
    its addressing and its secrets."""

    @property
    def env(self) -> Environment: ...

    @property
    def target(self) -> Target: ...

    def secret(self, name: str) -> str: ...


#: Patroni's unsafe configuration: asynchronous, and a replica however far behind may be promoted.
PATRONI_UNSAFE: dict[str, Any] = {
    "synchronous_mode": False,
    "synchronous_mode_strict": False,
    "maximum_lag_on_failover": 1 << 40,
}


def http_json(
    url: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    auth: tuple[str, str] | None = None,
    t: float = 60,
    context: ssl.SSLContext | None = None,
) -> Any:
    """One JSON request; the decoded answer (text when not JSON); an https ``url`` is verified
    with ``context``. Raises :class:`DrillError` with the server's words on an HTTP error, OSError
    (ssl's errors among them) when unreachable."""
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=t, context=context) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        words = exc.read().decode(errors="replace").strip()[:200]
        raise DrillError(f"{method} {url}: HTTP {exc.code}: {words}") from None
    try:
        return json.loads(text)
    except ValueError:
        return text


def etcd_api(
    ctx: ClusterContext,
    member: str,
    path: str,
    body: dict[str, Any] | None = None,
    t: float = 5.0,
    context: ssl.SSLContext | None = None,
) -> Any:
    """One ``POST`` to ``member``'s etcd v3 JSON gateway on its client port: https verified with
    the CA and presenting the tool's client certificate when the model puts ``etcd`` on TLS
    (``context``, else :func:`~iklim.components.trust.ssl_context`'s); :func:`http_json`'s answer
    and errors (OSError naming the file when the CA or the certificate cannot be read)."""
    api = ctx.target.endpoint(member, "client")
    url = f"{scheme(ctx.env, 'etcd')}://{api.host}:{api.port}{path}"
    if context is None:
        context = ssl_context(ctx.env, ctx.target, "etcd")
    return http_json(url, "POST", body or {}, t=t, context=context)


def etcd_move_leader(ctx: ClusterContext, member: str, target: str) -> None:
    """Move etcd's leadership from ``member`` (the leader) to ``target`` (its id read from its
    own ``maintenance/status``); DrillError naming the step when it fails."""
    try:
        status = etcd_api(ctx, target, "/v3/maintenance/status")
        target_id = str(status["header"]["member_id"])
        etcd_api(ctx, member, "/v3/maintenance/transfer-leadership", {"targetID": target_id}, t=30.0)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DrillError(f"etcd: move-leader from {member} failed: {type(exc).__name__}: {exc}") from None


def patroni_api(
    ctx: ClusterContext,
    member: str,
    path: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    t: float = 60,
) -> Any:
    """One call to ``member``'s Patroni REST API (https verified with the CA when the model puts
    ``patroni_api`` on TLS), as the REST user; :func:`http_json`'s answer and errors."""
    api = ctx.target.endpoint(member, "patroni-api")
    auth = (PATRONI_REST_USER, ctx.secret(PATRONI_SECRETS["PATRONI_RESTAPI_PASSWORD"]))
    url = f"{scheme(ctx.env, 'patroni_api')}://{api.host}:{api.port}{path}"
    return http_json(url, method, body, auth, t, ssl_context(ctx.env, ctx.target, "patroni_api"))


def _lag(member: dict[str, Any]) -> int:
    lag = member.get("lag", "")
    return int(lag) if str(lag).isdigit() else 1 << 62  # "unknown": last choice


def patroni_switchover(ctx: ClusterContext, member: str) -> None:
    """Switch the primary ``member`` over to a synchronous standby when it has one (in synchronous
    mode Patroni accepts no other candidate: "candidate name does not match with sync_standby"),
    else to its least-lagging running replica."""
    try:
        cluster = patroni_api(ctx, member, "/cluster")
        replicas = [
            m
            for m in cluster.get("members", [])
            if m.get("role") in ("replica", "sync_standby")
            and m.get("state") in ("streaming", "running")
            and not (m.get("tags") or {}).get("nofailover")
        ]
        if not replicas:
            raise DrillError(f"patroni: no healthy replica to hand {member} over to")
        candidate = min(replicas, key=lambda m: (m.get("role") != "sync_standby", _lag(m)))
        patroni_api(ctx, member, "/switchover", "POST", {"leader": member, "candidate": candidate["name"]})
    except (OSError, ValueError, AttributeError) as exc:
        raise DrillError(f"patroni: switchover from {member} failed: {exc}") from None


def patroni_settings(ctx: ClusterContext, member: str) -> dict[str, Any]:
    """The dynamic configuration's values of :data:`PATRONI_UNSAFE`'s keys (None: not set)."""
    try:
        config = patroni_api(ctx, member, "/config")
    except OSError as exc:
        raise DrillError(f"patroni: cannot read /config: {exc}") from None
    return {key: config.get(key) for key in PATRONI_UNSAFE}


def patroni_patch(ctx: ClusterContext, members: Sequence[str], values: dict[str, Any]) -> None:
    """``PATCH /config`` with ``values`` through the first member that answers."""
    for member in members:
        try:
            patroni_api(ctx, member, "/config", "PATCH", values)
            return
        except OSError:
            continue
    raise DrillError("patroni: no member accepted PATCH /config")


#: How long the old master holds its clients' writes during a Redis hand-over (ms).
PAUSE_MS = 15000


def sentinel_switchover(ctx: ClusterContext, sentinels: Sequence[tuple[str, int]], service: str, master: str) -> None:
    """A Redis hand-over that loses no acknowledged write: ``CLIENT PAUSE <ms> WRITE`` on the
    master (its replicas drain the stream; the writes wait), ``SENTINEL FAILOVER``; once a
    Sentinel names the promoted replica, ``REPLICAOF <it>`` on the old master (what the Sentinels
    do themselves only at their next INFO round, up to 10 s later), then ``CLIENT UNPAUSE``: the
    held writes get ``READONLY`` and the clients follow the Sentinels. A bare ``SENTINEL FAILOVER``
    under load lost 46 acknowledged writes in a lab run at 50/s (what the old master took between
    the promotion and its reconfiguration). CLIENT PAUSE's documented use: "switch clients from a
    Redis instance to another one in a controlled way" (redis.io/docs/latest/commands/client-pause/)."""
    address = ctx.target.endpoint(master, "redis")
    old = _redis(ctx, master)
    try:
        old.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")  # type: ignore[no-untyped-call]
        asked = _sentinel_call(sentinels, "FAILOVER", service)
        deadline = time.monotonic() + PAUSE_MS / 1000 - 2
        while (promoted := _sentinel_call([asked], "GET-MASTER-ADDR-BY-NAME", service)) == [
            address.host,
            str(address.port),
        ]:
            if time.monotonic() > deadline:
                raise DrillError(f"redis: no replica of {master} promoted {PAUSE_MS / 1000 - 2:.0f} s after FAILOVER")
            time.sleep(0.05)
        old.execute_command("REPLICAOF", promoted[0], promoted[1])  # type: ignore[no-untyped-call]
    except redis_client.RedisError as exc:
        raise DrillError(f"redis: switchover from {master}: {exc}") from None
    finally:
        with contextlib.suppress(redis_client.RedisError):
            old.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
        old.close()


def _sentinel_call(sentinels: Sequence[tuple[str, int]], *args: object) -> Any:
    """``SENTINEL <args>`` on the first Sentinel that answers: ``FAILOVER`` returns that
    Sentinel's address; any other the decoded answer. Raises :class:`DrillError`."""
    errors = []
    for host, port in sentinels:
        client = redis_client.Redis(host, port, socket_timeout=5.0, socket_connect_timeout=2.0, decode_responses=True)
        try:
            answer = client.execute_command("SENTINEL", *args)  # type: ignore[no-untyped-call]
            return (host, port) if args[0] == "FAILOVER" else list(answer) if answer else None
        except redis_client.RedisError as exc:
            errors.append(str(exc))
        finally:
            client.close()
    raise DrillError(f"redis: SENTINEL {args[0]} refused: {'; '.join(errors)}")


def _redis(ctx: ClusterContext, member: str) -> redis_client.Redis:
    address = ctx.target.endpoint(member, "redis")
    return redis_client.Redis(address.host, address.port, password=ctx.secret(REDIS_PASSWORD), socket_timeout=2.0)


def redis_min_replicas(ctx: ClusterContext, members: Sequence[str]) -> dict[str, Any]:
    """``min-replicas-to-write`` of every member (CONFIG GET)."""
    saved: dict[str, Any] = {}
    for member in members:
        client = _redis(ctx, member)
        try:
            saved[member] = str(client.config_get("min-replicas-to-write")["min-replicas-to-write"])
        except (redis_client.RedisError, KeyError) as exc:
            raise DrillError(f"redis: CONFIG GET on {member}: {exc}") from None
        finally:
            client.close()
    return saved


def redis_set_min_replicas(ctx: ClusterContext, values: dict[str, Any]) -> None:
    """``CONFIG SET min-replicas-to-write`` per member (member -> value)."""
    for member, value in values.items():
        client = _redis(ctx, member)
        try:
            client.config_set("min-replicas-to-write", value)
        except redis_client.RedisError as exc:
            raise DrillError(f"redis: CONFIG SET min-replicas-to-write {value} on {member}: {exc}") from None
        finally:
            client.close()


def stop_gracefully(ctx: LabContext, member: str, seconds: float) -> None:
    """SIGTERM to ``member``'s supervised process group; returns once its process is gone."""
    pid = ctx.supervisor.pid(member)
    if pid is None:
        raise DrillError(f"{member} is not running")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(pid), signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            raise DrillError(f"{member} still running {seconds:.0f} s after SIGTERM")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """``pid`` exists and is no zombie (ours is reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True
