"""The lab's per-cluster seams: who leads (through the cluster's own API), which processes a kill
of a member must SIGKILL, and the cluster's workload built from the lab's endpoints and secrets.

One :class:`Seam` per cluster; :class:`~iklim.drill.labdriver.LabDriver` holds them, and so does
the Swarm lab's :class:`~iklim.drill.swarmdriver.SwarmLabDriver` (given production's addressing:
:class:`SeamContext`). Sources for
each leader reading: etcd ``/v3/maintenance/status`` (``leader``, ``header.member_id``); Patroni
REST ``/cluster`` (``role: leader``); Sentinel ``SENTINEL MASTER`` (``ip``, ``port``, ``flags``).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

import redis as redis_client

from iklim.components.base import member_names
from iklim.components.rabbitmq import ADMIN_PASSWORD as RABBIT_PASSWORD
from iklim.components.redis import PASSWORD as REDIS_PASSWORD
from iklim.components.target import Target
from iklim.components.trust import libpq_tls, ssl_context
from iklim.drill import labplanned as planned
from iklim.drill.driver import DrillError, Observation
from iklim.drill.workloads.base import Workload
from iklim.drill.workloads.etcd import EtcdWorkload
from iklim.drill.workloads.patroni import PatroniWorkload
from iklim.drill.workloads.rabbitmq import RabbitWorkload
from iklim.drill.workloads.redis import RedisWorkload
from iklim.lab.components.rabbitmq import ADMIN_USER as RABBIT_USER
from iklim.model.schema import Environment

#: How long one leader reading may take per member (the observer polls at ~10 Hz).
PROBE_TIMEOUT = 0.3


class SeamContext(Protocol):
    """What a seam asks of its target: the model, the addressing (lab loopback or production's
    overlay names and host-mode ports) and the secrets. :class:`~iklim.lab.context.LabContext`
    on the lab; the Swarm lab's drill seat (:class:`~iklim.drill.swarmseat.SeatContext`)."""

    @property
    def env(self) -> Environment: ...

    @property
    def target(self) -> Target: ...

    def secret(self, name: str) -> str: ...


class Seam(ABC):
    """One lab cluster as the drill sees it; ``component`` is its lab runner's name."""

    component: str = ""

    def __init__(self, ctx: SeamContext) -> None:
        self.ctx = ctx
        #: Why the last :meth:`observe` asked no member successfully (a refused handshake, an
        #: unreadable CA file), "" when one answered: the drill names it when no leader is found.
        self.last_error, self._answered = "", False

    def _asked(self, member: str, error: BaseException | None = None) -> None:
        """Record one ask of :meth:`observe`: an answer clears :attr:`last_error` for the rest of
        this observation (whatever the order members are asked in); an error names the member
        only while no member has answered. Each ``observe`` starts by setting ``last_error = ""``
        and ``_answered = False``."""
        if error is None:
            self._answered = True
            self.last_error = ""
        elif not self._answered:
            self.last_error = f"{member}: {error}"

    @abstractmethod
    def members(self) -> list[str]: ...

    @abstractmethod
    def observe(self, old_leader: str | None) -> Observation:
        """Who leads now (``old_leader`` None: no fault yet); never raises."""

    #: The hand-over stops the old leader (RabbitMQ): the heal starts it again.
    switchover_restarts: bool = False

    def extra_pids(self, member: str) -> list[int]:
        """Processes of ``member`` outside its supervised process group (none by default)."""
        return []

    def restarted(self, member: str) -> None:
        """Called by the heal once ``member`` was started again (nothing by default; OpenBao unseals
        it); raises :class:`~iklim.drill.driver.DrillError` when the member cannot serve."""
        return None

    def switchover(self, member: str) -> None:
        """Hand the leadership of ``member`` (the leader) over to a healthy member, the planned
        way, through the cluster's own API; returns once requested (or done, where the API
        blocks). Raises :class:`DrillError` when the cluster refuses or offers none."""
        raise DrillError(f"switchover is not offered for {self.component}")

    def unsafe_settings(self) -> dict[str, Any]:
        """The current values of the settings :meth:`set_unsafe` changes (journalled before, and
        restored by :meth:`restore_settings`); raises :class:`DrillError` when none is offered."""
        raise DrillError(f"--unsafe-config is not offered for {self.component}")

    def set_unsafe(self) -> None:
        """Switch to the intentionally unsafe configuration (at runtime, for one run)."""
        raise DrillError(f"--unsafe-config is not offered for {self.component}")

    def restore_settings(self, saved: dict[str, Any]) -> None:
        """Put back what :meth:`unsafe_settings` returned (idempotent)."""
        raise DrillError(f"--unsafe-config is not offered for {self.component}")

    def unsafe_reason(self) -> str | None:
        """Why the running configuration is already unsafe (a drill of it is refused without
        ``--unsafe-config``); None when it is not, or the cluster has no unsafe configuration."""
        return None

    @abstractmethod
    def workload(self, run_id: str) -> Workload: ...


class EtcdSeam(Seam):
    component = "etcd"

    def members(self) -> list[str]:
        return member_names("etcd", self.ctx.env.services.etcd.members)

    def _endpoints(self) -> list[tuple[str, int]]:
        return [(a.host, a.port) for a in (self.ctx.target.endpoint(m, "client") for m in self.members())]

    def __init__(self, ctx: SeamContext) -> None:
        super().__init__(ctx)
        self.ids: dict[str, str] = {}  # member id -> name, kept: a dead leader is still named by id
        self._context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext | None:
        """The client TLS context (CA and the tool's client certificate), built once; None when
        the model keeps etcd plaintext. OSError naming the file when one cannot be read."""
        if self._context is None:
            self._context = ssl_context(self.ctx.env, self.ctx.target, "etcd")
        return self._context

    def observe(self, old_leader: str | None) -> Observation:
        self.last_error, self._answered = "", False
        named: list[str] = []
        for member in self.members():
            try:
                context = self._tls()
                status = planned.etcd_api(self.ctx, member, "/v3/maintenance/status", t=PROBE_TIMEOUT, context=context)
            except (OSError, ValueError, DrillError) as exc:
                self._asked(member, exc)
                continue
            self._asked(member)
            if not isinstance(status, dict):
                continue
            self.ids[str(status.get("header", {}).get("member_id", ""))] = member
            named.append(str(status.get("leader", "0")))
        leaders = {self.ids.get(n) for n in named if n != "0"}
        leader = next(iter(leaders)) if len(leaders) == 1 and None not in leaders else None
        # Detected once a surviving member itself names no leader (its election timeout fired);
        # a leader that merely stops answering our probe is not the cluster noticing.
        suspected = "0" in named
        return Observation(leader, suspected)

    def switchover(self, member: str) -> None:
        """etcd's ``move-leader`` (``/v3/maintenance/transfer-leadership`` on the leader) to the
        first other member (etcd.io/docs/v3.4/op-guide/maintenance; the call returns once moved)."""
        target = next(m for m in self.members() if m != member)
        planned.etcd_move_leader(self.ctx, member, target)

    def workload(self, run_id: str) -> Workload:
        return EtcdWorkload(self._endpoints(), run_id, context=self._tls())


class PatroniSeam(Seam):
    component = "patroni"

    def members(self) -> list[str]:
        return member_names("patroni", self.ctx.env.services.patroni.members)

    def observe(self, old_leader: str | None) -> Observation:
        self.last_error, self._answered = "", False
        for member in self.members():
            if member == old_leader:
                continue  # a dead member cannot vouch for itself; ask the survivors
            try:
                cluster: dict[str, Any] = planned.patroni_api(self.ctx, member, "/cluster", t=PROBE_TIMEOUT)
            except (OSError, ValueError, DrillError) as exc:
                self._asked(member, exc)
                continue
            self._asked(member)  # it answered: whatever it says is the observation
            if not isinstance(cluster, dict):
                continue
            leaders = [m for m in cluster.get("members", []) if m.get("role") in ("leader", "standby_leader")]
            running = [str(m["name"]) for m in leaders if m.get("state") == "running"]
            return Observation(running[0] if running else None, suspected=not leaders)
        return Observation(None)

    def extra_pids(self, member: str) -> list[int]:
        """The postmaster: Patroni starts PostgreSQL in a session of its own, so killing Patroni's
        group leaves it running; its pid is the first line of ``postmaster.pid``."""
        path = Path(self.ctx.target.data_dir(member, "")) / "postmaster.pid"
        try:
            return [int(path.read_text().splitlines()[0])]
        except (OSError, ValueError, IndexError):
            return []

    def switchover(self, member: str) -> None:
        planned.patroni_switchover(self.ctx, member)

    def unsafe_settings(self) -> dict[str, Any]:
        return planned.patroni_settings(self.ctx, self.observe(None).leader or self.members()[0])

    def set_unsafe(self) -> None:
        self.restore_settings(dict(planned.PATRONI_UNSAFE))

    def restore_settings(self, saved: dict[str, Any]) -> None:
        planned.patroni_patch(self.ctx, self.members(), saved)

    def unsafe_reason(self) -> str | None:
        lag = self.unsafe_settings().get("maximum_lag_on_failover")
        model = self.ctx.env.services.patroni.maximum_lag_on_failover
        if isinstance(lag, int) and lag > model:
            return f"patroni: maximum_lag_on_failover is {lag} (the model says {model})"
        return None

    def workload(self, run_id: str) -> Workload:
        endpoints = [(a.host, a.port) for a in (self.ctx.target.endpoint(m, "postgres") for m in self.members())]
        password = self.ctx.secret("postgres_superuser_password")
        return PatroniWorkload(endpoints, "postgres", password, run_id, libpq_tls(self.ctx.env, self.ctx.target))


class RedisSeam(Seam):
    component = "redis"

    def members(self) -> list[str]:
        return member_names("redis", self.ctx.env.services.redis.members)

    def _sentinels(self) -> list[tuple[str, int]]:
        names = member_names("redis-sentinel", self.ctx.env.services.redis.sentinel.members)
        return [(a.host, a.port) for a in (self.ctx.target.endpoint(m, "sentinel") for m in names)]

    def observe(self, old_leader: str | None) -> Observation:
        service = self.ctx.env.services.redis.master_name
        by_address = {
            (a.host, a.port): m for m, a in ((m, self.ctx.target.endpoint(m, "redis")) for m in self.members())
        }
        masters: set[str | None] = set()  # the master each answering Sentinel names
        suspected = False
        self.last_error, self._answered = "", False
        for host, port in self._sentinels():
            client = redis_client.Redis(host, port, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT)
            try:
                state: dict[str, Any] = client.sentinel_master(service)  # type: ignore[assignment]
            except redis_client.RedisError as exc:
                self._asked(f"sentinel {host}:{port}", exc)
                continue
            finally:
                client.close()
            self._asked(f"sentinel {host}:{port}")
            masters.add(by_address.get((str(state["ip"]), int(state["port"]))))
            flags = str(state.get("flags", ""))
            suspected = suspected or "s_down" in flags or "o_down" in flags
        # Elected once one Sentinel names a new master: clients ask the Sentinels in turn and follow
        # the first answer, and the others learn the new configuration a moment later.
        promoted = sorted(m for m in masters if m is not None and m != old_leader) if old_leader else []
        leader = promoted[0] if promoted else next(iter(masters)) if len(masters) == 1 else None
        return Observation(leader, suspected or bool(promoted))

    def switchover(self, member: str) -> None:
        planned.sentinel_switchover(self.ctx, self._sentinels(), self.ctx.env.services.redis.master_name, member)

    def unsafe_settings(self) -> dict[str, Any]:
        return planned.redis_min_replicas(self.ctx, self.members())

    def set_unsafe(self) -> None:
        self.restore_settings({m: "0" for m in self.members()})

    def restore_settings(self, saved: dict[str, Any]) -> None:
        planned.redis_set_min_replicas(self.ctx, saved)

    def unsafe_reason(self) -> str | None:
        zero = [m for m, v in self.unsafe_settings().items() if v == "0"]
        return f"redis: min-replicas-to-write is 0 on {', '.join(zero)}" if zero else None

    def workload(self, run_id: str) -> Workload:
        service = self.ctx.env.services.redis.master_name
        return RedisWorkload(self._sentinels(), service, self.ctx.secret(REDIS_PASSWORD), run_id)


class RabbitSeam(Seam):
    """The leader is the run's quorum queue's leader (management API ``/api/queues/%2F/<queue>``):
    the drill kills the node that leads the queue the clients write to."""

    component = "rabbitmq"
    switchover_restarts = True

    def switchover(self, member: str) -> None:
        """A graceful stop of the queue leader's node (SIGTERM: RabbitMQ hands the quorum queues
        it leads over as it shuts down, as on ``docker stop``); the heal starts it again."""
        from iklim.lab.context import LabContext

        if not isinstance(self.ctx, LabContext):
            raise DrillError("rabbitmq: switchover is offered on the loopback lab only")
        planned.stop_gracefully(self.ctx, member, 60.0)

    def __init__(self, ctx: SeamContext) -> None:
        super().__init__(ctx)
        self.queue: str | None = None  # set by workload(): the queue of the current run

    def members(self) -> list[str]:
        return member_names("rabbitmq", self.ctx.env.services.rabbitmq.members)

    def observe(self, old_leader: str | None) -> Observation:
        if self.queue is None:
            return Observation(None)
        nodes = {self.ctx.target.erlang_node(m): m for m in self.members()}
        auth = base64.b64encode(f"{RABBIT_USER}:{self.ctx.secret(RABBIT_PASSWORD)}".encode()).decode()
        self.last_error, self._answered = "", False
        for member in self.members():
            if member == old_leader:
                continue
            api = self.ctx.target.endpoint(member, "management")
            request = urllib.request.Request(
                f"http://{api.host}:{api.port}/api/queues/%2F/{self.queue}", headers={"Authorization": f"Basic {auth}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT * 2) as response:
                    queue: dict[str, Any] = json.loads(response.read())
            except (OSError, ValueError) as exc:
                self._asked(member, exc)
                continue
            self._asked(member)
            leader = nodes.get(str(queue.get("leader", "")))
            online = [nodes.get(str(n)) for n in queue.get("online", [])]
            return Observation(leader, suspected=old_leader is not None and old_leader not in online)
        return Observation(None)

    def workload(self, run_id: str) -> Workload:
        endpoints = [(a.host, a.port) for a in (self.ctx.target.endpoint(m, "amqp") for m in self.members())]
        workload = RabbitWorkload(endpoints, RABBIT_USER, self.ctx.secret(RABBIT_PASSWORD), run_id)
        self.queue = workload.queue
        return workload


SEAMS: dict[str, type[Seam]] = {"etcd": EtcdSeam, "patroni": PatroniSeam, "redis": RedisSeam, "rabbitmq": RabbitSeam}
