"""redis_exporter (Debian's prometheus-redis-exporter): how Prometheus scrapes Redis and the
Sentinels, multi-target, with the same password map production builds at container start."""

from __future__ import annotations

import shutil

from iklim.components.redis import EXPORTER, PASSWORD, exporter_password_map
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.probes import tcp_open, wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = f"{EXPORTER}-1"
BINARY = "prometheus-redis-exporter"


class RedisExporterLab(LabComponent):
    name = EXPORTER
    binaries = (BINARY,)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        passwords = folder / "redis-passwords.json"
        write_private(passwords, exporter_password_map(ctx.env, ctx.target, ctx.secret(PASSWORD)))
        argv = (
            shutil.which(BINARY) or BINARY,
            f"-redis.password-file={passwords}",
            "-web.listen-address={0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "exporter")),
        )
        return [ProcessSpec(MEMBER, argv, folder)]

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        where = ctx.target.endpoint(MEMBER, "exporter")
        wait_for(lambda: True if tcp_open(where.host, where.port) else None, deadline, "redis_exporter")
        return f"listening on {where.host}:{where.port}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        where = ctx.target.endpoint(MEMBER, "exporter")
        ok = tcp_open(where.host, where.port)
        return ok, f"{where.host}:{where.port} {'listening' if ok else 'not listening'}"
