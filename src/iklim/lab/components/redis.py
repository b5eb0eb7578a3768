"""Redis master + replicas and 3 Sentinels on 127.0.2.1-3, with the production configs.

As in production, each member copies its rendered config into its data directory on first start
(so Sentinel's rewrites survive restarts) and reads the password from an include file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import redis as redis_client

from iklim.components.base import member_names
from iklim.components.redis import AUTH_INCLUDE, PASSWORD, redis_conf, sentinel_conf
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.probes import wait_for
from iklim.lab.supervisor import ProcessSpec


class RedisLab(LabComponent):
    name = "redis"
    binaries = ("redis-server", "redis-sentinel")

    def names(self, ctx: LabContext) -> tuple[list[str], list[str]]:
        spec = ctx.env.services.redis
        return member_names("redis", spec.members), member_names("redis-sentinel", spec.sentinel.members)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        redis_names, sentinel_names = self.names(ctx)
        master, password = redis_names[0], ctx.secret(PASSWORD)
        monitor = ctx.env.services.redis.master_name
        specs = []
        for member in redis_names:
            folder = ctx.member_dir(member)
            auth = Path(ctx.target.path(member, AUTH_INCLUDE))
            write_private(auth, f"requirepass {password}\nmasterauth {password}\n")
            conf = folder / "data" / "redis.conf"
            if not conf.exists():
                write_private(conf, redis_conf(ctx.env, ctx.target, member, master))
            binary = shutil.which("redis-server") or "redis-server"
            specs.append(ProcessSpec(member, (binary, str(conf)), folder))
        for member in sentinel_names:
            folder = ctx.member_dir(member)
            conf = folder / "data" / "sentinel.conf"
            if not conf.exists():
                text = sentinel_conf(ctx.env, ctx.target, member, master)
                write_private(conf, text + f"sentinel auth-pass {monitor} {password}\n")
            binary = shutil.which("redis-sentinel") or "redis-sentinel"
            specs.append(ProcessSpec(member, (binary, str(conf)), folder))
        return specs

    def _summary(self, ctx: LabContext) -> tuple[bool, str]:
        redis_names, sentinel_names = self.names(ctx)
        monitor = ctx.env.services.redis.master_name
        masters, others, links = set(), [], 0
        for member in sentinel_names:
            sentinel = ctx.target.endpoint(member, "sentinel")
            client = redis_client.Redis(sentinel.host, sentinel.port, socket_timeout=1)
            try:
                state: dict[str, Any] = client.sentinel_master(monitor)  # type: ignore[assignment]
                masters.add((state["ip"], int(state["port"])))
                others.append(int(state["num-other-sentinels"]))
                if state["flags"] == "master":
                    links += 1
            finally:
                client.close()
        replicas = len(redis_names) - 1
        if len(masters) != 1:  # no Sentinel has a master yet, or they disagree: observe, never assume
            return False, f"Sentinels report {len(masters)} masters ({', '.join(sorted(map(str, masters)))})"
        host, port = next(iter(masters))
        client = redis_client.Redis(host, port, password=ctx.secret(PASSWORD), socket_timeout=1)
        try:
            info = client.info("replication")
        finally:
            client.close()
        up = sum(
            1
            for key, value in info.items()
            if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
        )
        ok = (
            len(masters) == 1
            and links == len(sentinel_names)
            and all(n == len(sentinel_names) - 1 for n in others)
            and up == replicas
        )
        return ok, f"master {host}:{port}, {up}/{replicas} replicas online, {len(sentinel_names)} sentinels agree"

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def ready() -> str | None:
            try:
                ok, words = self._summary(ctx)
            except redis_client.RedisError as exc:
                raise OSError(str(exc)) from None
            return words if ok else None

        return wait_for(ready, deadline, "a master, online replicas and agreeing Sentinels", interval=0.5)

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            return self._summary(ctx)
        except (redis_client.RedisError, StopIteration, OSError) as exc:
            return False, str(exc) or type(exc).__name__
