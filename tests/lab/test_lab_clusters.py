"""Integration tests against the running lab, with each engine's own client library."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.request
import uuid
from typing import Any

import hvac
import pika
import psycopg
import pytest
import redis
from redis.sentinel import Sentinel

from iklim.components.base import member_names
from iklim.components.trust import ca_file, libpq_tls, scheme, ssl_context
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components, up
from iklim.vault.plan import member_urls


def eventually(check: Any, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with the last error after ``timeout``."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the engine may not have caught up yet
            last = exc
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s (last error: {last!r})")


def test_patroni_row_written_on_leader_is_read_on_both_replicas(lab: LabContext) -> None:
    patroni = next(c for c in components() if c.name == "patroni")
    cluster = patroni.cluster(lab)  # type: ignore[attr-defined]
    members = cluster["members"]
    leader = next(m for m in members if m["role"] == "leader")
    replicas = [m for m in members if m["role"] != "leader"]
    assert len(replicas) == 2
    password = lab.secret("postgres_superuser_password")
    marker = uuid.uuid4().hex

    def connect(member: dict[str, Any]) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=member["host"],
            port=member["port"],
            user="postgres",
            password=password,
            dbname="postgres",
            connect_timeout=3,
            autocommit=True,
            **libpq_tls(lab.env, lab.target),  # verify-full with the lab CA
        )

    with connect(leader) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lab_probe (marker text PRIMARY KEY)")
        conn.execute("INSERT INTO lab_probe VALUES (%s)", (marker,))
    for replica in replicas:

        def seen(member: dict[str, Any] = replica) -> bool:
            with connect(member) as conn:
                row = conn.execute("SELECT marker FROM lab_probe WHERE marker = %s", (marker,)).fetchone()
                in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert in_recovery == (True,), f"{member['name']} is not a replica"
            return row == (marker,)

        eventually(seen)


def test_redis_sentinel_master_write_is_read_on_a_replica(lab: LabContext) -> None:
    spec = lab.env.services.redis
    sentinels = [(lab.target.host(m), 26379) for m in member_names("redis-sentinel", spec.sentinel.members)]
    sentinel = Sentinel(sentinels, socket_timeout=1)
    password = lab.secret("redis_password")
    master = sentinel.master_for(spec.master_name, password=password, socket_timeout=1)
    replica = sentinel.slave_for(spec.master_name, password=password, socket_timeout=1)
    key, value = f"lab:{uuid.uuid4().hex}", uuid.uuid4().hex
    master.set(key, value)
    master_address = sentinel.discover_master(spec.master_name)
    replicas = sentinel.discover_slaves(spec.master_name)
    assert len(replicas) == spec.members - 1 and master_address not in replicas
    eventually(lambda: replica.get(key) == value.encode())
    with pytest.raises(redis.ReadOnlyError):
        replica.set(key, "x")


def test_rabbitmq_quorum_message_published_on_node_1_is_consumed_on_node_3(lab: LabContext) -> None:
    credentials = pika.PlainCredentials("admin", lab.secret("rabbitmq_admin_password"))
    queue, body = f"lab-{uuid.uuid4().hex}", uuid.uuid4().hex.encode()

    def channel(member: str) -> tuple[pika.BlockingConnection, Any]:
        params = pika.ConnectionParameters(
            lab.target.host(member),
            5672,
            credentials=credentials,
            connection_attempts=3,
            retry_delay=1,
            socket_timeout=5,
        )
        conn = pika.BlockingConnection(params)
        return conn, conn.channel()

    conn1, ch1 = channel("rabbitmq-1")
    try:
        ch1.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        ch1.confirm_delivery()
        ch1.basic_publish("", queue, body, properties=pika.BasicProperties(delivery_mode=2), mandatory=True)
    finally:
        conn1.close()
    conn3, ch3 = channel("rabbitmq-3")
    try:
        method, _, received = eventually(lambda: _get(ch3, queue))
        ch3.basic_ack(method.delivery_tag)
        assert received == body
        ch3.queue_delete(queue)
    finally:
        conn3.close()


def _get(channel: Any, queue: str) -> tuple[Any, Any, bytes] | None:
    method, properties, body = channel.basic_get(queue)
    return (method, properties, body) if method else None


def _vault_url(lab: LabContext, member: str) -> str:
    return member_urls(lab.env, lab.target)[member]


def _vault_role(lab: LabContext, member: str) -> int:
    url = f"{_vault_url(lab, member)}/v1/sys/health"
    context = ssl.create_default_context(cafile=ca_file(lab.env, lab.target, "vault"))
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_vault_kv_written_and_read_through_a_standby(lab: LabContext) -> None:
    token = json.loads((lab.root / "secrets" / "vault-init.json").read_text())["root_token"]
    members = member_names("vault", lab.env.services.vault.members)
    roles = {m: _vault_role(lab, m) for m in members}
    standbys = [m for m, code in roles.items() if code == 429]
    assert sorted(roles.values()) == [200, 429, 429], roles
    ca = ca_file(lab.env, lab.target, "vault")
    client = hvac.Client(url=_vault_url(lab, standbys[0]), token=token, timeout=5, verify=ca)
    if "lab-kv/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("kv", path="lab-kv", options={"version": "2"})
    value = uuid.uuid4().hex
    # A new mount reaches the standbys' routers a moment after it is enabled.
    eventually(
        lambda: client.secrets.kv.v2.create_or_update_secret("probe", secret={"value": value}, mount_point="lab-kv")
    )
    other = hvac.Client(url=_vault_url(lab, standbys[1]), token=token, timeout=5, verify=ca)
    # OpenBao standbys may serve reads from their own (raft-replicated) storage: allow for the lag.
    eventually(
        lambda: (
            other.secrets.kv.v2.read_secret_version("probe", mount_point="lab-kv", raise_on_deleted_version=True)[
                "data"
            ]["data"]["value"]
            == value
        )
    )


def _etcd(lab: LabContext, member: str, path: str, payload: dict[str, str]) -> dict[str, Any]:
    client = lab.target.endpoint(member, "client")
    request = urllib.request.Request(
        f"{scheme(lab.env, 'etcd')}://{client.host}:{client.port}/v3/{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=3, context=ssl_context(lab.env, lab.target, "etcd")) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_etcd_put_and_get_through_every_member(lab: LabContext) -> None:
    members = member_names("etcd", lab.env.services.etcd.members)
    for writer in members:
        key, value = f"/lab-probe/{writer}", uuid.uuid4().hex
        _etcd(lab, writer, "kv/put", {"key": _b64(key), "value": _b64(value)})
        for reader in members:
            kvs = _etcd(lab, reader, "kv/range", {"key": _b64(key)}).get("kvs", [])
            assert [base64.b64decode(kv["value"]).decode() for kv in kvs] == [value], (writer, reader)


def test_prometheus_reports_every_target_up(lab: LabContext) -> None:
    url = f"http://{lab.target.host('prometheus-1')}:9090/api/v1/targets?state=active"

    def all_up() -> list[dict[str, Any]] | None:
        with urllib.request.urlopen(url, timeout=2) as response:
            targets: list[dict[str, Any]] = json.loads(response.read())["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = eventually(all_up, timeout=45, interval=1)
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == {"prometheus", "etcd", "patroni", "rabbitmq", "vault", "redis", "swag", "alertmanager"}
    assert (
        len(targets) == 21
    )  # 1 + 3 etcd + 3 Patroni + 3 RabbitMQ + 3 OpenBao + 3 Redis + 3 Sentinels + SWAG + Alertmanager
    expected = sorted(f"redis://127.0.2.{i}:{port}" for i in (1, 2, 3) for port in (6379, 26379))

    def redis_reached() -> bool:  # redis_up is 1 only when the exporter got in (with the password)
        return sorted(r["metric"]["instance"] for r in _query(lab, "redis_up") if r["value"][1] == "1") == expected

    eventually(redis_reached, timeout=45, interval=1)
    # nginx_up is 1 only when the exporter read the SWAG nginx's stub_status through its allow-list.
    eventually(lambda: [r["value"][1] for r in _query(lab, "nginx_up")] == ["1"], timeout=45, interval=1)


def _query(lab: LabContext, expr: str) -> list[dict[str, Any]]:
    url = f"http://{lab.target.host('prometheus-1')}:9090/api/v1/query?query={expr}"
    with urllib.request.urlopen(url, timeout=2) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
    return result


def _management_status(lab: LabContext, source: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(
        lab.target.host("swag-1"), 443, timeout=5, context=context, source_address=(source, 0)
    )
    try:
        conn.request("GET", "/", headers={"Host": lab.env.services.rabbitmq.management_host})
        return conn.getresponse().status
    finally:
        conn.close()


def test_rabbitmq_management_site_allows_the_private_network_and_denies_other_sources(lab: LabContext) -> None:
    allowed = lab.target.host("rabbitmq-2")  # a lab member: inside the private network's 127.0.0.0/16
    assert _management_status(lab, allowed) == 200
    assert _management_status(lab, "127.1.0.1") == 403


def _stub_status(lab: LabContext, source: str) -> int:
    conn = http.client.HTTPConnection(lab.target.host("swag-1"), 8080, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", "/stub_status")
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status != 200 or body.startswith("Active connections:"), body
        return response.status
    finally:
        conn.close()


def test_stub_status_answers_the_overlay_only(lab: LabContext) -> None:
    assert _stub_status(lab, lab.target.host("swag-exporter-1")) == 200
    assert _stub_status(lab, "127.1.0.1") == 403


def test_up_again_is_a_no_op_on_a_healthy_lab(lab: LabContext) -> None:
    before = {name: lab.supervisor.pid(name) for name in lab.supervisor.names()}
    states = up(lab, lambda line: None, timeout=60)
    assert all(s.state in ("healthy", "not available") for s in states), states
    assert {name: lab.supervisor.pid(name) for name in lab.supervisor.names()} == before
