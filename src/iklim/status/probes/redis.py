"""Redis Sentinel: master flags exactly ``master``, ``num-other-sentinels`` = N-1, CKQUORUM OK,
every Sentinel names the same master, every replica's link up (Sentinel's view, and the master's
own ``INFO replication`` when the password is available)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.probes.base import ProbeContext, join_words, tolerance_words
from iklim.status.report import MemberState, Report, graded
from iklim.status.resp import RespError, info_fields, pairs
from iklim.status.transport import ProbeError


@dataclass(frozen=True)
class ReplicaView:
    address: str
    flags: str
    link: str


@dataclass(frozen=True)
class SentinelView:
    name: str
    address: str
    error: str | None = None
    master: str = ""
    flags: str = ""
    other_sentinels: int = -1
    ckquorum: str = ""
    ckquorum_ok: bool = False
    replicas: tuple[ReplicaView, ...] = ()


@dataclass(frozen=True)
class MasterView:
    address: str
    error: str | None = None
    role: str = ""
    online: tuple[str, ...] = ()  # replicas the master sees with state=online


@dataclass(frozen=True)
class RedisSnapshot:
    sentinels: tuple[SentinelView, ...]
    master: MasterView | None  # None: no password, so the master was not asked


class RedisProbe:
    name = "redis"

    def observe(self, ctx: ProbeContext) -> RedisSnapshot:
        monitor = str(ctx.plan.settings.get("master_name", "mymaster"))

        def ask(endpoint: Endpoint) -> SentinelView:
            master, replicas, quorum = ctx.transport.redis(
                endpoint.host,
                endpoint.port,
                [["SENTINEL", "MASTER", monitor], ["SENTINEL", "REPLICAS", monitor], ["SENTINEL", "CKQUORUM", monitor]],
                timeout=ctx.remaining(),
            )
            if isinstance(master, RespError):
                raise ProbeError(f"SENTINEL MASTER: {master}")
            state = pairs(master)
            views = []
            for item in replicas if isinstance(replicas, list) else []:
                fields = pairs(item)
                views.append(
                    ReplicaView(
                        f"{fields.get('ip')}:{fields.get('port')}",
                        fields.get("flags", ""),
                        fields.get("master-link-status", ""),
                    )
                )
            return SentinelView(
                endpoint.member,
                endpoint.address,
                None,
                f"{state.get('ip')}:{state.get('port')}",
                state.get("flags", ""),
                int(state.get("num-other-sentinels", -1)),
                str(quorum),
                isinstance(quorum, str) and not isinstance(quorum, RespError) and quorum.startswith("OK"),
                tuple(views),
            )

        endpoints = ctx.plan.of("sentinel")
        answers = ctx.each(endpoints, ask)
        views = tuple(
            SentinelView(e.member, e.address, str(a)) if isinstance(a, ProbeError) else a
            for e, a in zip(endpoints, answers, strict=True)
        )
        return RedisSnapshot(views, self._master(ctx, views))

    @staticmethod
    def _master(ctx: ProbeContext, views: tuple[SentinelView, ...]) -> MasterView | None:
        password = ctx.secrets.get("redis_password")
        named = Counter(v.master for v in views if v.error is None)
        if password is None or not named:
            return None
        address = named.most_common(1)[0][0]
        host, _, port = address.rpartition(":")
        try:
            auth, info = ctx.transport.redis(
                host, int(port), [["AUTH", password], ["INFO", "replication"]], timeout=ctx.remaining()
            )
        except ProbeError as exc:
            return MasterView(address, str(exc))
        if isinstance(auth, RespError):
            return MasterView(address, "AUTH refused")  # never echo the reply: it may quote the argument
        fields = info_fields(str(info))
        online = []
        for key, value in fields.items():
            if key.startswith("slave") and key[5:].isdigit():
                parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
                if parts.get("state") == "online":
                    online.append(f"{parts.get('ip')}:{parts.get('port')}")
        return MasterView(address, None, fields.get("role", ""), tuple(sorted(online)))

    def evaluate(self, snapshot: RedisSnapshot, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        sentinels = snapshot.sentinels
        total = len(sentinels)
        up = [v for v in sentinels if v.error is None]
        states = [
            MemberState(v.name, v.address, "sentinel" if v.error is None else "unreachable", v.error is None)
            for v in sentinels
        ]
        if not up:
            reason = "no Sentinel answers: " + ", ".join(f"{v.name} {v.error}" for v in sentinels)
            return Report(self.name, "down", reason, None, 0, tuple(states))
        named = Counter(v.master for v in up)
        master = named.most_common(1)[0][0]
        problems = [f"{v.name} {v.error}" for v in sentinels if v.error is not None]
        if len(named) > 1:
            problems.append("Sentinels disagree on the master: " + ", ".join(f"{a} ({n})" for a, n in named.items()))
        flags = {v.flags for v in up if v.master == master}
        if any("o_down" in f or "s_down" in f for f in flags):
            reason = f"master {master} is down (flags {', '.join(sorted(flags))})"
            return Report(self.name, "down", join_words([reason, *problems]), master, 0, tuple(states))
        if flags != {"master"}:
            problems.append(f"master flags {', '.join(sorted(flags))}")
        problems += [
            f"{v.name} sees {v.other_sentinels} other Sentinels, expected {total - 1}"
            for v in up
            if v.other_sentinels != total - 1
        ]
        problems += [f"{v.name} CKQUORUM: {v.ckquorum}" for v in up if not v.ckquorum_ok]
        replicas = plan.of("redis")
        expected = max(0, len(replicas) - 1)
        names = {e.address: e.member for e in replicas}
        linked, bad = self._replicas(snapshot, up, master, names)
        problems += bad
        if len(linked) + len(bad) < expected:
            problems.append(f"{expected - len(linked) - len(bad)} replica(s) unknown to the Sentinels")
        if snapshot.master is not None and snapshot.master.error is not None:
            problems.append(f"master {master}: {snapshot.master.error}")
        elif snapshot.master is not None and snapshot.master.role != "master":
            problems.append(f"{master} reports role {snapshot.master.role or 'unknown'}")
        quorum = max(int(plan.settings.get("quorum", total // 2 + 1)), total // 2 + 1)
        tolerates = max(0, min(len(linked), len(up) - quorum))
        states += [
            MemberState(names.get(a, a), a, "master" if a == master else "replica", a == master or a in linked)
            for a in sorted({master, *(r.address for v in up for r in v.replicas)})
        ]
        summary = f"master {master}, {len(linked)}/{expected} replicas linked, {len(up)}/{total} Sentinels agree"
        if len(named) > 1:
            summary = f"master {master}, {len(linked)}/{expected} replicas linked"
        status = graded(problems)
        return Report(
            self.name,
            status,
            join_words([summary, tolerance_words(tolerates), *problems]),
            master,
            tolerates,
            tuple(states),
        )

    @staticmethod
    def _replicas(
        snapshot: RedisSnapshot, up: list[SentinelView], master: str, names: Mapping[str, str]
    ) -> tuple[list[str], list[str]]:
        """Replicas linked in every answering Sentinel's view (and online at the master), and problems."""
        views: dict[str, list[ReplicaView]] = {}
        for sentinel in up:
            if sentinel.master == master:
                for replica in sentinel.replicas:
                    views.setdefault(replica.address, []).append(replica)
        linked, problems = [], []
        for address, seen in sorted(views.items()):
            wrong = sorted(
                {f"flags {r.flags}" for r in seen if r.flags != "slave"}
                | {f"link {r.link}" for r in seen if r.link != "ok"}
            )
            if snapshot.master is not None and snapshot.master.error is None and address not in snapshot.master.online:
                wrong.append("not online at the master")
            if wrong:
                label = f"{names[address]} ({address})" if address in names else address
                problems.append(f"replica {label} {', '.join(wrong)}")
            else:
                linked.append(address)
        return linked, problems
