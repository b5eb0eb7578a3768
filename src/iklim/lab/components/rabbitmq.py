"""RabbitMQ x3 on 127.0.2.1-3 with management and Prometheus plugins, clustered.

The nodes share one epmd on this host (supervised here, bound to loopback), so each node gets
its own distribution port; AMQP, management and metrics ports repeat per address as in production.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from iklim.components.base import member_names
from iklim.components.rabbitmq import (
    ADMIN_PASSWORD,
    COOKIE,
    DIST_PORT,
    EPMD_PORT,
    rabbitmq_conf,
)
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.probes import http_json, tcp_open, wait_for
from iklim.lab.supervisor import ProcessSpec

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "rabbitmq-epmd"
ADMIN_USER = "admin"
BOOT_FAILED = "BOOT FAILED"  # what rabbit logs when its boot aborts
MAX_BOOT_RESTARTS = 3


def dist_port(index: int) -> int:
    """Member N's Erlang distribution port: 25672, 25673, ... (one epmd serves them all)."""
    return DIST_PORT + index - 1


def node_env(ctx: LabContext, member: str, index: int) -> dict[str, str]:
    """The environment of a member's server, also needed by rabbitmqctl against that member."""
    folder = ctx.target.member_dir(member)
    return {
        "HOME": str(folder),
        "RABBITMQ_NODENAME": ctx.target.erlang_node(member),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "data"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid"),
        "RABBITMQ_DIST_PORT": str(dist_port(index)),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(EPMD_PORT),
    }


class EpmdLab(LabComponent):
    """The one Erlang port mapper the RabbitMQ nodes share, bound to loopback and supervised,
    so ``lab down`` leaves no epmd behind."""

    name = "epmd"
    binaries = ("epmd",)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        epmd = shutil.which("epmd") or "epmd"
        argv = (epmd, "-address", "127.0.0.1", "-port", str(EPMD_PORT))
        return [ProcessSpec(EPMD, argv, ctx.root, {"ERL_EPMD_ADDRESS": "127.0.0.1"})]

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        wait_for(lambda: True if tcp_open("127.0.0.1", EPMD_PORT) else None, deadline, "epmd")
        return f"listening on 127.0.0.1:{EPMD_PORT}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        ok = tcp_open("127.0.0.1", EPMD_PORT)
        return ok, f"127.0.0.1:{EPMD_PORT} {'listening' if ok else 'not listening'}"


class RabbitMQLab(LabComponent):
    name = "rabbitmq"
    needs = ("epmd",)
    restarts_members = True

    def missing(self) -> str | None:
        if not Path(SERVER).exists():
            return f"not available on this host ({SERVER} not found)"
        return None

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("rabbitmq", ctx.env.services.rabbitmq.members)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        specs = []
        cookie, password = ctx.secret(COOKIE), ctx.secret(ADMIN_PASSWORD)
        for index, member in enumerate(self.members(ctx), 1):
            folder = ctx.member_dir(member)
            write_private(folder / ".erlang.cookie", cookie, mode=0o400)
            write_private(folder / "rabbitmq.conf", rabbitmq_conf(ctx.env, ctx.target, member))
            write_private(folder / "enabled_plugins", "[rabbitmq_management,rabbitmq_prometheus].\n")
            env = node_env(ctx, member, index) | {"RABBITMQ_DEFAULT_PASS": password}
            specs.append(ProcessSpec(member, (SERVER,), folder, env))
        return specs

    def nodes(self, ctx: LabContext) -> list[dict[str, object]]:
        auth = (ADMIN_USER, ctx.secret(ADMIN_PASSWORD))
        for member in self.members(ctx):
            try:
                data: list[dict[str, object]] = http_json(
                    "http://{0.host}:{0.port}/api/nodes".format(ctx.target.endpoint(member, "management")),
                    auth=auth,
                    timeout=2,
                )
                return data
            except OSError:
                continue
        raise OSError("no RabbitMQ management API answers")

    def _summary(self, ctx: LabContext) -> tuple[bool, str]:
        nodes = self.nodes(ctx)
        running = [n for n in nodes if n.get("running")]
        partitions = [n["name"] for n in nodes if n.get("partitions")]
        alarms = [n["name"] for n in nodes if n.get("mem_alarm") or n.get("disk_free_alarm")]
        total = len(self.members(ctx))
        ok = len(running) == total and not partitions and not alarms
        words = f"{len(running)}/{total} nodes running"
        if partitions:
            words += f", partitioned: {', '.join(map(str, partitions))}"
        if alarms:
            words += f", alarms on {', '.join(map(str, alarms))}"
        return ok, words

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        """Wait until every node runs in one cluster, restarting a node whose boot failed.

        Nodes that start together on kept data can race while they synchronise feature flags
        (``BOOT FAILED ... incompatible_feature_flags``, rabbitmq-server#4881 and #8477); in
        production Swarm's restart policy starts such a task again, and so does the lab, at most
        ``MAX_BOOT_RESTARTS`` times per node, each restart written to the progress log file.
        """
        specs = {spec.name: spec for spec in self.processes(ctx)}
        restarts = dict.fromkeys(specs, 0)

        def ready() -> str | None:
            for name, spec in specs.items():
                failed_boot = BOOT_FAILED in ctx.supervisor.logged_since_start(name)
                if (failed_boot or ctx.supervisor.exited(name)) and restarts[name] < MAX_BOOT_RESTARTS:
                    restarts[name] += 1
                    ctx.supervisor.stop(name, grace=5.0)
                    ctx.supervisor.start(spec)
            ok, words = self._summary(ctx)
            return words if ok else None

        words = wait_for(ready, deadline, "every RabbitMQ node running in one cluster", interval=0.5)
        again = [f"{name} x{count}" for name, count in restarts.items() if count]
        return words + (f" (restarted after a failed boot: {', '.join(again)})" if again else "")

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            return self._summary(ctx)
        except OSError as exc:
            return False, str(exc)
