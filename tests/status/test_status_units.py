"""``iklim status`` pieces that need no lab: evaluation of hand-made snapshots (states the lab
cannot easily produce), the wire codecs, the plan, and fake transports only for the engines that
cannot run here (MongoDB, APISIX, Grafana; the test names say so)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iklim.status import mongowire
from iklim.status.output import JSON_SCHEMA, as_json, render_prometheus, render_text
from iklim.status.plan import ComponentPlan, Endpoint, Plan
from iklim.status.plancache import load_plan
from iklim.status.probes import PROBES
from iklim.status.probes.apisix import ApisixProbe
from iklim.status.probes.etcd import EtcdMember, EtcdProbe, EtcdSnapshot
from iklim.status.probes.grafana import GrafanaProbe
from iklim.status.probes.mongodb import MongoDBProbe
from iklim.status.probes.patroni import PatroniMember, PatroniProbe, PatroniSnapshot
from iklim.status.probes.prometheus import PrometheusProbe, PrometheusSnapshot, Target
from iklim.status.probes.rabbitmq import RabbitMember, RabbitMQProbe, RabbitNode, RabbitSnapshot
from iklim.status.probes.redis import MasterView, RedisProbe, RedisSnapshot, ReplicaView, SentinelView
from iklim.status.probes.vault import Autopilot, VaultNode, VaultProbe, VaultSnapshot
from iklim.status.report import MemberState, Report, Skipped, exit_code
from iklim.status.resp import RespError, encode, read_reply
from iklim.status.runner import run_probes
from iklim.status.secrets import EnvironmentSecrets
from iklim.status.transport import HttpReply, NetTransport, ProbeError, read_http_response

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "environments" / "prod.yaml"
NO_PEERS: dict[str, Report] = {}


def plan_of(name: str, *endpoints: Endpoint, **settings: Any) -> ComponentPlan:
    return ComponentPlan(name, endpoints, settings)


ETCD = plan_of("etcd", *(Endpoint(f"etcd-{i}", f"10.0.2.1{i}", 2379) for i in (1, 2, 3)))


def etcd_member(i: int, **kw: Any) -> EtcdMember:
    base: dict[str, Any] = {"healthy": True, "member_id": f"id{i}", "leader_id": "id1", "raft_index": 100}
    return EtcdMember(f"etcd-{i}", f"10.0.2.1{i}:2379", **(base | kw))


# --- etcd -------------------------------------------------------------------------------------


def test_etcd_all_members_one_leader_is_healthy() -> None:
    report = EtcdProbe().evaluate(EtcdSnapshot(tuple(etcd_member(i) for i in (1, 2, 3))), ETCD, NO_PEERS)
    assert (report.status, report.leader, report.tolerates) == ("healthy", "etcd-1", 1)
    assert report.reason == "3/3 members, leader etcd-1; tolerates 1 more failure"


def test_etcd_one_member_lost_reads_like_the_issue() -> None:
    members = (etcd_member(1), EtcdMember("etcd-2", "10.0.2.12:2379", "connection refused"), etcd_member(3))
    report = EtcdProbe().evaluate(EtcdSnapshot(members), ETCD, NO_PEERS)
    assert report.status == "degraded"
    assert report.reason.startswith("2/3 members, leader etcd-1; tolerates 0 more failures; etcd-2 connection refused")


def test_etcd_quorum_lost_is_down() -> None:
    members = (
        etcd_member(1, healthy=False, leader_id="0"),
        EtcdMember("etcd-2", "a", "refused"),
        EtcdMember("etcd-3", "b", "refused"),
    )
    report = EtcdProbe().evaluate(EtcdSnapshot(members), ETCD, NO_PEERS)
    assert report.status == "down" and "quorum (2) lost" in report.reason


def test_etcd_leader_disagreement_alarm_and_raft_spread() -> None:
    split = (etcd_member(1), etcd_member(2, leader_id="id2"), etcd_member(3))
    assert EtcdProbe().evaluate(EtcdSnapshot(split), ETCD, NO_PEERS).status == "down"
    alarm = (etcd_member(1, alarms=("NOSPACE on id1",)), etcd_member(2), etcd_member(3))
    report = EtcdProbe().evaluate(EtcdSnapshot(alarm), ETCD, NO_PEERS)
    assert report.status == "degraded" and "NOSPACE" in report.reason
    spread = (etcd_member(1), etcd_member(2, raft_index=5000), etcd_member(3))
    assert "raft index spread 4900" in EtcdProbe().evaluate(EtcdSnapshot(spread), ETCD, NO_PEERS).reason


# --- Patroni ------------------------------------------------------------------------------------

PATRONI = plan_of(
    "patroni",
    *(Endpoint(f"patroni-{i}", f"10.0.2.1{i}", 8008) for i in (1, 2, 3)),
    max_replica_lag_bytes=1000,
    synchronous_mode=False,
)


def patroni(*members: PatroniMember, paused: bool = False) -> PatroniSnapshot:
    return PatroniSnapshot(members, paused, "patroni-1", ())


LEADER = PatroniMember("patroni-1", "leader", "running", 3, None)


def replica(i: int, **kw: Any) -> PatroniMember:
    base: dict[str, Any] = {"role": "replica", "state": "streaming", "timeline": 3, "lag": 0}
    return PatroniMember(f"patroni-{i}", **(base | kw))


def test_patroni_healthy_and_each_replica_problem_degrades() -> None:
    probe = PatroniProbe()
    assert probe.evaluate(patroni(LEADER, replica(2), replica(3)), PATRONI, NO_PEERS).status == "healthy"
    cases = {
        "lags 5000 bytes (limit 1000)": replica(3, lag=5000),
        "on timeline 2, leader on 3": replica(3, timeline=2),
        "lag unknown": replica(3, lag=None),
        "stopped": replica(3, state="stopped"),
    }
    for words, bad in cases.items():
        report = probe.evaluate(patroni(LEADER, replica(2), bad), PATRONI, NO_PEERS)
        assert report.status == "degraded" and f"patroni-3 {words}" in report.reason, report.reason
        assert report.tolerates == 1


def test_patroni_no_leader_or_two_leaders_is_down_paused_and_sync_degrade() -> None:
    probe = PatroniProbe()
    assert probe.evaluate(patroni(replica(2), replica(3)), PATRONI, NO_PEERS).status == "down"
    two = patroni(LEADER, PatroniMember("patroni-2", "leader", "running", 3, None), replica(3))
    assert "2 leaders" in probe.evaluate(two, PATRONI, NO_PEERS).reason
    paused = probe.evaluate(patroni(LEADER, replica(2), replica(3), paused=True), PATRONI, NO_PEERS)
    assert paused.status == "degraded" and "paused" in paused.reason
    sync = ComponentPlan("patroni", PATRONI.endpoints, {**PATRONI.settings, "synchronous_mode": True})
    assert "no synchronous standby" in probe.evaluate(patroni(LEADER, replica(2), replica(3)), sync, NO_PEERS).reason
    ok = patroni(LEADER, replica(2, role="sync_standby"), replica(3))
    assert probe.evaluate(ok, sync, NO_PEERS).status == "healthy"
    missing = probe.evaluate(patroni(LEADER, replica(2)), PATRONI, NO_PEERS)
    assert "patroni-3 missing from the cluster" in missing.reason


# --- Redis Sentinel -----------------------------------------------------------------------------

REDIS = plan_of(
    "redis",
    *(Endpoint(f"redis-{i}", f"r{i}", 6379, "redis") for i in (1, 2, 3)),
    *(Endpoint(f"redis-sentinel-{i}", f"s{i}", 26379, "sentinel") for i in (1, 2, 3)),
    quorum=2,
)
LINKED = (ReplicaView("r2:6379", "slave", "ok"), ReplicaView("r3:6379", "slave", "ok"))


def sentinel(i: int, **kw: Any) -> SentinelView:
    base: dict[str, Any] = {
        "master": "r1:6379",
        "flags": "master",
        "other_sentinels": 2,
        "ckquorum": "OK 3 usable",
        "ckquorum_ok": True,
        "replicas": LINKED,
    }
    return SentinelView(f"redis-sentinel-{i}", f"s{i}:26379", None, **(base | kw))


def test_redis_signals() -> None:
    probe = RedisProbe()
    master = MasterView("r1:6379", None, "master", ("r2:6379", "r3:6379"))
    healthy = RedisSnapshot(tuple(sentinel(i) for i in (1, 2, 3)), master)
    assert probe.evaluate(healthy, REDIS, NO_PEERS).status == "healthy"
    lost = RedisSnapshot(healthy.sentinels, MasterView("r1:6379", None, "master", ("r2:6379",)))
    report = probe.evaluate(lost, REDIS, NO_PEERS)
    assert report.status == "degraded" and "replica redis-3 (r3:6379) not online at the master" in report.reason
    odown = RedisSnapshot(tuple(sentinel(i, flags="master,s_down,o_down") for i in (1, 2, 3)), None)
    assert probe.evaluate(odown, REDIS, NO_PEERS).status == "down"
    disagree = RedisSnapshot((sentinel(1), sentinel(2), sentinel(3, master="r2:6379")), None)
    assert "disagree" in probe.evaluate(disagree, REDIS, NO_PEERS).reason
    lonely = RedisSnapshot((sentinel(1, other_sentinels=1), sentinel(2), sentinel(3)), None)
    assert "sees 1 other Sentinels, expected 2" in probe.evaluate(lonely, REDIS, NO_PEERS).reason
    noquorum = RedisSnapshot(
        (sentinel(1, ckquorum="NOQUORUM 1 usable", ckquorum_ok=False), sentinel(2), sentinel(3)), None
    )
    assert "CKQUORUM: NOQUORUM" in probe.evaluate(noquorum, REDIS, NO_PEERS).reason
    link = RedisSnapshot(
        (sentinel(1, replicas=(LINKED[0], ReplicaView("r3:6379", "slave", "err"))), sentinel(2), sentinel(3)), None
    )
    assert "replica redis-3 (r3:6379) link err" in probe.evaluate(link, REDIS, NO_PEERS).reason


# --- RabbitMQ, Vault, Prometheus ----------------------------------------------------------------

RABBIT = plan_of("rabbitmq", *(Endpoint(f"rabbitmq-{i}", f"q{i}", 15672) for i in (1, 2, 3)))


def rabbit_node(i: int, **kw: Any) -> RabbitNode:
    base: dict[str, Any] = {"running": True, "partitions": (), "mem_alarm": False, "disk_alarm": False}
    return RabbitNode(f"rabbit@rabbitmq-{i}", **(base | kw))


def test_rabbitmq_partitions_alarms_minority() -> None:
    members = tuple(RabbitMember(f"rabbitmq-{i}", f"q{i}:15672") for i in (1, 2, 3))
    probe = RabbitMQProbe()
    ok = RabbitSnapshot(tuple(rabbit_node(i) for i in (1, 2, 3)), members)
    assert probe.evaluate(ok, RABBIT, NO_PEERS).status == "healthy"
    split = RabbitSnapshot((rabbit_node(1, partitions=("rabbit@rabbitmq-3",)), rabbit_node(2), rabbit_node(3)), members)
    assert "partitioned from rabbit@rabbitmq-3" in probe.evaluate(split, RABBIT, NO_PEERS).reason
    alarm = RabbitSnapshot((rabbit_node(1, mem_alarm=True), rabbit_node(2), rabbit_node(3)), members)
    assert "memory alarm" in probe.evaluate(alarm, RABBIT, NO_PEERS).reason
    minority = RabbitSnapshot((rabbit_node(1), rabbit_node(2, running=False), rabbit_node(3, running=False)), members)
    assert probe.evaluate(minority, RABBIT, NO_PEERS).status == "down"
    no_password = RabbitSnapshot((), members, credentials=False)
    assert "no admin password" in probe.evaluate(no_password, RABBIT, NO_PEERS).reason


VAULT = plan_of("vault", *(Endpoint(f"vault-{i}", f"v{i}", 8200) for i in (1, 2, 3)))


def test_vault_states_and_autopilot() -> None:
    probe = VaultProbe()
    nodes = (
        VaultNode("vault-1", "v1:8200", "active"),
        VaultNode("vault-2", "v2:8200", "standby"),
        VaultNode("vault-3", "v3:8200", "standby"),
    )
    pilot = Autopilot(True, 1, "vault-1", ("vault-1", "vault-2", "vault-3"), ())
    assert probe.evaluate(VaultSnapshot(nodes, pilot), VAULT, NO_PEERS).status == "healthy"
    weak = probe.evaluate(VaultSnapshot(nodes, Autopilot(False, 0, "vault-1", (), ("vault-3",))), VAULT, NO_PEERS)
    assert weak.status == "degraded" and "autopilot failure tolerance 0" in weak.reason and weak.tolerates == 0
    sealed = (nodes[0], nodes[1], VaultNode("vault-3", "v3:8200", "sealed"))
    assert "vault-3 sealed" in probe.evaluate(VaultSnapshot(sealed, None), VAULT, NO_PEERS).reason
    all_sealed = tuple(VaultNode(n.name, n.address, "sealed") for n in nodes)
    assert probe.evaluate(VaultSnapshot(all_sealed, None), VAULT, NO_PEERS).status == "down"


def test_prometheus_down_target_of_a_down_member_is_explained_else_degraded() -> None:
    plan = plan_of("prometheus", Endpoint("prometheus-1", "p", 9090))
    snap = PrometheusSnapshot(
        "prometheus-1",
        "p:9090",
        None,
        True,
        (Target("etcd", "10.0.2.12:2379", "down", "refused"), Target("etcd", "10.0.2.11:2379", "up", "")),
    )
    etcd_down = Report("etcd", "degraded", "", members=(MemberState("etcd-2", "10.0.2.12:2379", "unreachable", False),))
    etcd_up = Report("etcd", "healthy", "", members=(MemberState("etcd-2", "10.0.2.12:2379", "follower", True),))
    probe = PrometheusProbe()
    explained = probe.evaluate(snap, plan, {"etcd": etcd_down})
    assert explained.status == "healthy" and "down with their member: etcd 10.0.2.12:2379" in explained.reason
    assert probe.evaluate(snap, plan, {"etcd": etcd_up}).status == "degraded"
    assert probe.evaluate(PrometheusSnapshot("p", "p", None, False), plan, NO_PEERS).status == "down"


# --- fakes for the engines that cannot run here -----------------------------------------------


class FakeTransport:
    """Canned answers keyed by (host, port, path) or (host, port, command name)."""

    def __init__(
        self,
        http: Mapping[tuple[str, int, str], HttpReply] | None = None,
        mongo: Mapping[tuple[str, int], dict[str, Any]] | None = None,
        names: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.answers, self.mongo_answers, self.names = dict(http or {}), dict(mongo or {}), dict(names or {})
        self.seen_headers: list[Mapping[str, str]] = []
        self.seen_credentials: list[tuple[str, str] | None] = []

    def http(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> HttpReply:
        self.seen_headers.append(dict(headers or {}))
        if (host, port, path) not in self.answers:
            raise ProbeError(f"{host}:{port}: connection refused")
        return self.answers[(host, port, path)]

    def redis(self, host: str, port: int, commands: Sequence[Sequence[str]], *, timeout: float) -> list[Any]:
        raise ProbeError(f"{host}:{port}: connection refused")

    def mongo(
        self,
        host: str,
        port: int,
        command: Mapping[str, Any],
        *,
        timeout: float,
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        self.seen_credentials.append(credentials)
        if (host, port) not in self.mongo_answers:
            raise ProbeError(f"{host}:{port}: connection refused")
        return self.mongo_answers[(host, port)]

    def resolve(self, name: str) -> list[str]:
        if name not in self.names:
            raise ProbeError(f"{name}: cannot resolve")
        return self.names[name]

    def reusing(self) -> AbstractContextManager[None]:
        return nullcontext()


class RefusingLogin(FakeTransport):
    """A FAKE transport whose mongod rejects one user's login (its user does not exist yet)."""

    def __init__(self, mongo: Mapping[tuple[str, int], dict[str, Any]], refused: str) -> None:
        super().__init__(mongo=mongo)
        self.refused = refused

    def mongo(
        self,
        host: str,
        port: int,
        command: Mapping[str, Any],
        *,
        timeout: float,
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        if credentials and credentials[0] == self.refused:
            self.seen_credentials.append(credentials)
            raise ProbeError(f"{host}:{port}: authentication failed")
        return super().mongo(host, port, command, timeout=timeout, credentials=credentials)


class DictSecrets:
    def __init__(self, **values: str) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def only(probe_name: str) -> Any:
    return [p for p in PROBES if p.name == probe_name]


def test_grafana_probe_with_fake_transport() -> None:
    plan = plan_of("grafana", Endpoint("grafana", "grafana", 3000))
    fake = FakeTransport({("grafana", 3000, "/api/health"): HttpReply(200, {"database": "ok", "version": "11.4.0"})})
    [report] = run_probes([plan], fake, DictSecrets(), 1.0, only("grafana"))
    assert (report.status, report.reason) == ("healthy", "database ok, version 11.4.0")
    failing = FakeTransport({("grafana", 3000, "/api/health"): HttpReply(503, {"database": "failing"})})
    [report] = run_probes([plan], failing, DictSecrets(), 1.0, only("grafana"))
    assert report.status == "down" and "database failing" in report.reason
    [report] = run_probes([plan], FakeTransport(), DictSecrets(), 1.0, only("grafana"))
    assert report.status == "down" and "connection refused" in report.reason
    assert isinstance(GrafanaProbe().name, str)


def test_alertmanager_probe_with_fake_transport() -> None:
    plan = plan_of("alertmanager", Endpoint("alertmanager", "alertmanager", 9093))
    alerts = "/api/v2/alerts?active=true&silenced=false&inhibited=false"
    firing = [{"labels": {"alertname": "EtcdTargetDown"}}, {"labels": {"alertname": "EtcdMembersMissing"}}]
    fake = FakeTransport(
        {
            ("alertmanager", 9093, "/-/healthy"): HttpReply(200, "OK"),
            ("alertmanager", 9093, alerts): HttpReply(200, firing),
        }
    )
    [report] = run_probes([plan], fake, DictSecrets(), 1.0, only("alertmanager"))
    assert (report.status, report.reason) == ("healthy", "2 active alerts (EtcdMembersMissing, EtcdTargetDown)")
    [report] = run_probes([plan], FakeTransport(), DictSecrets(), 1.0, only("alertmanager"))
    assert report.status == "down" and "connection refused" in report.reason


MONGO = plan_of(
    "mongodb", *(Endpoint(f"mongodb-{i}", f"10.0.2.1{i}", 27017) for i in (1, 2, 3)), replica_set="rs0", user="root"
)


def rs_status(*states: tuple[str, int, int]) -> dict[str, Any]:
    return {
        "ok": 1,
        "set": "rs0",
        "members": [
            {"name": f"mongodb-{i}:27017", "stateStr": s, "health": h, "optimeDate": t}
            for i, (s, h, t) in enumerate(states, 1)
        ],
    }


def test_mongodb_probe_with_fake_transport() -> None:
    healthy = rs_status(("PRIMARY", 1, 100_000), ("SECONDARY", 1, 100_000), ("SECONDARY", 1, 99_000))
    fake = FakeTransport(mongo={("10.0.2.11", 27017): healthy})
    [report] = run_probes([MONGO], fake, DictSecrets(mongodb_root_password="pw"), 1.0, only("mongodb"))
    assert report.status == "healthy", report.reason
    assert report.leader == "mongodb-1:27017" and report.tolerates == 1
    assert fake.seen_credentials[0] == ("root", "pw")
    least = FakeTransport(mongo={("10.0.2.11", 27017): healthy})
    secrets = DictSecrets(mongodb_root_password="pw", mongodb_exporter_password="ex")
    [report] = run_probes([MONGO], least, secrets, 1.0, only("mongodb"))
    assert report.status == "healthy" and least.seen_credentials[0] == ("exporter", "ex")
    refusing = RefusingLogin({("10.0.2.11", 27017): healthy}, refused="exporter")
    [report] = run_probes([MONGO], refusing, secrets, 1.0, only("mongodb"))
    assert report.status == "healthy" and refusing.seen_credentials[:2] == [("exporter", "ex"), ("root", "pw")]
    lagging = rs_status(("PRIMARY", 1, 100_000), ("SECONDARY", 1, 100_000), ("SECONDARY", 1, 50_000))
    snap = MongoDBProbe().evaluate(
        run_probes_snapshot(MongoDBProbe(), MONGO, FakeTransport(mongo={("10.0.2.12", 27017): lagging})), MONGO, {}
    )
    assert snap.status == "degraded" and "50 s behind the primary" in snap.reason
    one_left = rs_status(("PRIMARY", 1, 1), ("(not reachable/healthy)", 0, 0), ("(not reachable/healthy)", 0, 0))
    [report] = run_probes(
        [MONGO], FakeTransport(mongo={("10.0.2.11", 27017): one_left}), DictSecrets(), 1.0, only("mongodb")
    )
    assert report.status == "down"
    [report] = run_probes([MONGO], FakeTransport(), DictSecrets(), 1.0, only("mongodb"))
    assert report.status == "down" and "no member answers" in report.reason


def run_probes_snapshot(probe: Any, plan: ComponentPlan, transport: Any) -> Any:
    from iklim.status.probes.base import ProbeContext

    return probe.observe(ProbeContext(transport, plan, DictSecrets(), time.monotonic() + 1))


def test_apisix_probe_with_fake_transport() -> None:
    plan = plan_of(
        "apisix",
        Endpoint("apisix", "tasks.iklimco_apisix", 9091, "tasks"),
        Endpoint("apisix", "apisix", 9180, "admin"),
        members=3,
    )
    ready = HttpReply(200, {"status": "ok"})
    answers = {(f"10.20.0.{i}", 9091, "/apisix/prometheus/metrics"): ready for i in (1, 2, 3)}
    answers[("apisix", 9180, "/apisix/admin/routes")] = HttpReply(200, {"total": 0, "list": []})
    fake = FakeTransport(answers, names={"tasks.iklimco_apisix": ["10.20.0.1", "10.20.0.2", "10.20.0.3"]})
    [report] = run_probes([plan], fake, DictSecrets(apisix_admin_key="k3y"), 1.0, only("apisix"))
    assert report.status == "healthy", report.reason
    assert {"X-API-KEY": "k3y"} in fake.seen_headers
    del answers[("10.20.0.3", 9091, "/apisix/prometheus/metrics")]
    [report] = run_probes(
        [plan], FakeTransport(answers, names=fake.names), DictSecrets(apisix_admin_key="k3y"), 1.0, only("apisix")
    )
    assert report.status == "degraded" and "apisix@10.20.0.3" in report.reason and "k3y" not in report.reason
    [report] = run_probes([plan], FakeTransport(), DictSecrets(), 1.0, only("apisix"))
    assert report.status == "down"
    assert ApisixProbe().name == "apisix"


# --- wire codecs --------------------------------------------------------------------------------


def test_resp_codec_round_trip() -> None:
    assert encode(["SENTINEL", "MASTER", "m"]) == b"*3\r\n$8\r\nSENTINEL\r\n$6\r\nMASTER\r\n$1\r\nm\r\n"
    stream = io.BytesIO(b"+OK\r\n-ERR nope\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n")
    assert read_reply(stream) == "OK"
    error = read_reply(stream)
    assert isinstance(error, RespError) and error == "ERR nope"
    assert [read_reply(stream) for _ in range(4)] == [42, "abc", None, ["a", [1]]]
    with pytest.raises(EOFError):
        read_reply(stream)


def test_http_response_reader_handles_length_chunked_and_close() -> None:
    assert read_http_response(io.BytesIO(b"HTTP/1.1 429 X\r\nContent-Length: 2\r\n\r\n{}extra")) == (429, b"{}")
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
    assert read_http_response(io.BytesIO(chunked)) == (200, b'{"a":1}')
    assert read_http_response(io.BytesIO(b"HTTP/1.0 200 OK\r\n\r\nbody")) == (200, b"body")
    with pytest.raises(ValueError):
        read_http_response(io.BytesIO(b"SSH-2.0-OpenSSH\r\n"))


def test_bson_round_trip() -> None:
    doc = {"a": 1, "b": "x", "c": {"d": [1, 2**40, True, None]}, "e": 1.5, "f": mongowire.Binary(b"\x00\x01")}
    decoded, end = mongowire.decode_document(mongowire.encode_document(doc))
    assert decoded == doc and end == len(mongowire.encode_document(doc))


class ScramServer:
    """A fake mongod socket replaying RFC 7677's SCRAM-SHA-256 example (user / pencil)."""

    SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    CLIENT_FINAL = (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    def __init__(self) -> None:
        self.out = b""
        self.received: list[dict[str, Any]] = []

    def sendall(self, data: bytes) -> None:
        doc, _ = mongowire.decode_document(data, 21)
        self.received.append(doc)
        if "saslStart" in doc:
            reply = {"ok": 1, "conversationId": 1, "payload": mongowire.Binary(self.SERVER_FIRST), "done": False}
        elif "saslContinue" in doc:
            assert bytes(doc["payload"]) == self.CLIENT_FINAL
            reply = {"ok": 1, "conversationId": 1, "payload": mongowire.Binary(self.SERVER_FINAL), "done": True}
        else:
            reply = {"ok": 1}
        body = b"\x00\x00\x00\x00\x00" + mongowire.encode_document(reply)
        self.out += (16 + len(body)).to_bytes(4, "little") + b"\x00" * 8 + (2013).to_bytes(4, "little") + body

    def recv(self, size: int) -> bytes:
        data, self.out = self.out[:size], self.out[size:]
        return data


def test_scram_sha256_with_fake_mongod_socket_matches_rfc7677() -> None:
    server = ScramServer()
    mongowire.authenticate(server, "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")  # type: ignore[arg-type]
    assert [next(iter(d)) for d in server.received] == ["saslStart", "saslContinue"]
    assert bytes(server.received[0]["payload"]) == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    wrong = ScramServer()
    with pytest.raises(AssertionError):
        mongowire.authenticate(wrong, "user", "not-pencil", nonce="rOprNGfwEbeRWgbNEkqO")  # type: ignore[arg-type]


# --- runner, output, plan, CLI ------------------------------------------------------------------


@pytest.fixture()
def silent_server() -> Iterator[tuple[str, int]]:
    """A real TCP listener that accepts and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_each_probe_has_its_own_deadline(silent_server: tuple[str, int]) -> None:
    host, port = silent_server
    hung = plan_of("etcd", *(Endpoint(f"etcd-{i}", host, port) for i in (1, 2, 3)))
    refused = plan_of("patroni", Endpoint("patroni-1", "127.0.0.1", 1))
    begin = time.monotonic()
    reports = run_probes([hung, refused], NetTransport(), DictSecrets(), 0.3)
    took = time.monotonic() - begin
    assert took < 0.6, took
    by_name = {r.component: r for r in reports}
    assert by_name["etcd"].status == "down" and "timed out" in by_name["etcd"].reason
    assert by_name["patroni"].status == "down" and "connection refused" in by_name["patroni"].reason
    assert by_name["patroni"].seconds < 0.1


def test_outputs_follow_the_schema_and_exit_codes() -> None:
    reports = [
        Report("etcd", "degraded", "2/3 members", "etcd-1", 0, (MemberState("etcd-1", "a:1", "leader", True),)),
        Report("vault", "healthy", "ok"),
    ]
    skipped = [Skipped("mongodb", "not run in the lab")]
    data = as_json("lab", reports, skipped, 0.05)
    jsonschema.validate(data, JSON_SCHEMA)
    assert (data["status"], data["exit_code"]) == ("degraded", 1)
    assert exit_code([]) == 0 and exit_code([Report("x", "down", "")]) == 2
    exposition = render_prometheus("lab", reports, skipped, 0.05)
    assert 'iklim_component_status{component="etcd",target="lab"} 1' in exposition
    assert 'iklim_component_failure_tolerance{component="etcd",target="lab"} 0' in exposition
    assert "# TYPE iklim_component_status gauge" in exposition
    text = render_text("lab", reports, skipped, 0.05)
    assert "etcd      degraded  2/3 members" in text and "mongodb   skipped" in text


def test_plan_addresses_come_from_the_model_and_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prod_env: Any
) -> None:
    from iklim.components.target import LabTarget

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lab = load_plan(MODEL, "lab", tmp_path)
    target = LabTarget(prod_env, tmp_path)
    for comp in lab.components:
        for endpoint in comp.endpoints:
            assert endpoint.host == target.host(endpoint.member), endpoint
    assert lab.component("patroni").settings["max_replica_lag_bytes"] == prod_env.services.patroni.max_replica_lag_bytes
    prod = load_plan(MODEL, "prod")
    assert [e.host for e in prod.component("etcd").endpoints] == ["10.0.2.11", "10.0.2.12", "10.0.2.13"]
    assert [e.member for e in prod.component("etcd").endpoints] == ["etcd-01", "etcd-02", "etcd-03"]
    assert [e.host for e in prod.component("redis").of("sentinel")] == [f"redis-sentinel-{i}" for i in (1, 2, 3)]
    assert prod.component("apisix").of("tasks")[0].host == "tasks.iklimco_apisix"
    cached = list((tmp_path / "cache" / "iklim").glob("status-plan-*.json"))
    assert len(cached) == 2
    assert Plan.from_json(json.loads(cached[0].read_text())).components


def test_warm_cli_imports_neither_pydantic_nor_client_libraries(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from iklim.cli import cli\n"
        "try:\n"
        f"    cli.main(['status', '--target', 'prod', '--env', {str(MODEL)!r}, '--timeout', '0.05'], 'iklim')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('pydantic', 'redis', 'hvac', 'requests', 'http.client', 'urllib.request', 'rich')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    # --target prod probes production addresses: only ever from a network namespace of our own,
    # where nothing but a (down) loopback exists and every connection fails at once.
    argv = ["unshare", "--net", sys.executable, "-c", code]
    subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=REPO)
    warm = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert "HEAVY []" in warm.stdout, warm.stdout + warm.stderr


def test_help_has_an_example() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from iklim.cli import main; main(['status', '--help'])"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0
    assert "Examples:" in result.stdout and "iklim status --format json" in result.stdout


def test_production_secrets_from_environment_and_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    source = EnvironmentSecrets({"IKLIM_REDIS_PASSWORD_FILE": str(secret), "BAO_TOKEN": "t0ken"})
    assert source.get("redis_password") == "s3cret"
    assert source.get("vault_token") == "t0ken"
    assert source.get("rabbitmq_admin_password") is None


def test_lab_selection_probes_only_what_the_lab_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iklim.status.planbuild import build_plan
    from iklim.status.runner import lab_selection

    plan = build_plan(REPO / "environments" / "prod.yaml", "lab", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="iklim lab up"):
        lab_selection(plan)
    (tmp_path / "components.json").write_text(json.dumps({"etcd": ["etcd-1"], "mongodb": ["mongodb-1"]}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "grafana-server").write_text("#!/bin/sh\n")
    (bin_dir / "grafana-server").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    chosen, skipped = lab_selection(plan)
    assert [c.name for c in chosen] == ["etcd", "mongodb"]
    reasons = {s.component: s.reason for s in skipped}
    assert reasons["grafana"] == "not started by this lab (grafana-server is installed: `iklim lab up`)"
    assert reasons["apisix"] == "not run in the lab (apisix not installed)"
    assert reasons["patroni"] == "not started by the lab (not available on this host)"


def test_etcd_with_a_fake_transport_a_malformed_alarm_list_keeps_the_member() -> None:
    """FAKE etcd answers (real etcd never sends ``{"alarms": null}``): /health false on every
    member; a malformed alarm list leaves each member unhealthy with the reason, not lost."""

    def answers(alarms: Any) -> dict[tuple[str, int, str], HttpReply]:
        found: dict[tuple[str, int, str], HttpReply] = {}
        for i in (1, 2, 3):
            host = f"10.0.2.1{i}"
            found[(host, 2379, "/v3/maintenance/status")] = HttpReply(
                200, {"header": {"member_id": f"id{i}"}, "leader": "id1", "raftIndex": "7"}
            )
            found[(host, 2379, "/health")] = HttpReply(503, {"health": "false"})
            found[(host, 2379, "/v3/maintenance/alarm")] = HttpReply(200, alarms)
        return found

    [broken] = run_probes([ETCD], FakeTransport(answers({"alarms": None})), DictSecrets(), 1.0, only("etcd"))
    assert broken.status == "down" and "health: HTTP 503" in broken.reason, broken.reason
    assert all(m.state == "unhealthy" for m in broken.members), broken.members  # kept, not "unexpected answer"
    [odd] = run_probes([ETCD], FakeTransport(answers({"alarms": ["NOSPACE"]})), DictSecrets(), 1.0, only("etcd"))
    assert "alarm list: unexpected answer" in odd.reason and all(m.state == "unhealthy" for m in odd.members)
    alarm = {"alarms": [{"memberID": "id2", "alarm": "NOSPACE"}]}
    [named] = run_probes([ETCD], FakeTransport(answers(alarm)), DictSecrets(), 1.0, only("etcd"))
    assert named.status == "degraded" and "NOSPACE on id2" in named.reason, named.reason
