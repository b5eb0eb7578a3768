"""PostgreSQL and Patroni's REST API on TLS (issue 17), on the lab's real Patroni x3 with the lab's
certificates (the production certificate code, lab addresses): every client path verifies the
members' certificates (psycopg, replication, the drill's writer, the status probe, the planned
hand-over's REST calls), and a plaintext or wrong-CA client is refused by PostgreSQL and by the API.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iklim.components.base import member_names
from iklim.components.trust import ca_file, libpq_tls
from iklim.drill import labplanned
from iklim.drill.history import Refused
from iklim.drill.workloads.patroni import PatroniWorkload
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components
from iklim.pki.ca import create_ca
from iklim.status.transport import NetTransport, ProbeError


def _members(lab: LabContext) -> list[str]:
    return member_names("patroni", lab.env.services.patroni.members)


def _cluster(lab: LabContext) -> dict[str, Any]:
    patroni = next(c for c in components() if c.name == "patroni")
    cluster: dict[str, Any] = patroni.cluster(lab)  # type: ignore[attr-defined]
    return cluster


def _other_ca(tmp_path: Path) -> str:
    """A CA that signed nothing of this lab's (same kind of key and name)."""
    path = tmp_path / "other_ca.crt"
    path.write_bytes(create_ca("iklim prod lab CA", 30, datetime.now(UTC)).cert)
    return str(path)


def _connect(lab: LabContext, member: str, **extra: Any) -> psycopg.Connection[Any]:
    where = lab.target.endpoint(member, "postgres")
    params: dict[str, Any] = {
        "host": where.host,
        "port": where.port,
        "user": "postgres",
        "password": lab.secret("postgres_superuser_password"),
        "dbname": "postgres",
        "connect_timeout": 5,
        "autocommit": True,
        **libpq_tls(lab.env, lab.target),
        **extra,
    }
    return psycopg.connect(**params)


def test_clients_verify_every_member_and_the_session_is_encrypted(lab: LabContext) -> None:
    tls = libpq_tls(lab.env, lab.target)
    assert tls == {"sslmode": "verify-full", "sslrootcert": ca_file(lab.env, lab.target, "postgresql")}
    for member in _members(lab):
        with _connect(lab, member) as conn:
            row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row is not None and row[0] is True, f"{member}: the session is not encrypted"
        assert row[1] in ("TLSv1.2", "TLSv1.3")


def test_replication_streams_over_tls(lab: LabContext) -> None:
    leader = next(m["name"] for m in _cluster(lab)["members"] if m["role"] == "leader")
    with _connect(lab, leader) as conn:
        rows = conn.execute(
            "SELECT r.application_name, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"
        ).fetchall()
    replicas = set(_members(lab)) - {leader}
    assert {str(name) for name, _ in rows} == replicas, rows
    assert all(encrypted is True for _, encrypted in rows), f"a replica streams in clear: {rows}"


def test_postgresql_refuses_plaintext_and_a_wrong_ca(lab: LabContext, tmp_path: Path) -> None:
    member = _members(lab)[0]
    with pytest.raises(psycopg.OperationalError) as plain:
        _connect(lab, member, sslmode="disable").close()
    assert "no encryption" in str(plain.value), str(plain.value)  # pg_hba: hostssl rules only
    with pytest.raises(psycopg.OperationalError) as wrong:
        _connect(lab, member, sslrootcert=_other_ca(tmp_path)).close()
    assert "certificate verify failed" in str(wrong.value), str(wrong.value)
    # verify-full checks the name: a member's certificate does not name another member's address
    other = lab.target.endpoint(_members(lab)[1], "postgres").host
    with pytest.raises(psycopg.OperationalError) as name:
        _connect(lab, member, host=other, hostaddr=lab.target.endpoint(member, "postgres").host).close()
    assert "does not match" in str(name.value), str(name.value)


def test_the_drill_writer_verifies_and_refuses_a_wrong_ca(lab: LabContext, tmp_path: Path) -> None:
    endpoints = [(a.host, a.port) for a in (lab.target.endpoint(m, "postgres") for m in _members(lab))]
    password = lab.secret("postgres_superuser_password")
    good = PatroniWorkload(endpoints, "postgres", password, "tls-good", libpq_tls(lab.env, lab.target))
    good.setup()
    client = good.client()
    try:
        for value in ("a", "b", "c"):
            client.write(value)
    finally:
        client.close()
    assert sorted(good.final_read()) == ["a", "b", "c"]
    bad_tls = {**libpq_tls(lab.env, lab.target), "sslrootcert": _other_ca(tmp_path)}
    bad = PatroniWorkload(endpoints, "postgres", password, "tls-bad", bad_tls).client()
    with pytest.raises(Refused):  # nothing was sent: the handshake failed
        bad.write("x")
    bad.close()


def test_the_rest_api_verifies_and_refuses_plaintext_and_a_wrong_ca(lab: LabContext, tmp_path: Path) -> None:
    member = _members(lab)[0]
    api = lab.target.endpoint(member, "patroni-api")
    ca = ca_file(lab.env, lab.target, "patroni_api")
    reply = NetTransport().http("GET", api.host, api.port, "/cluster", timeout=5, ca_file=ca)
    assert reply.status == 200 and len(reply.body["members"]) == 3
    cluster = labplanned.patroni_api(lab, member, "/cluster", t=5)  # the hand-over's client
    assert {m["name"] for m in cluster["members"]} == set(_members(lab))
    with pytest.raises(ProbeError) as wrong:
        NetTransport().http("GET", api.host, api.port, "/cluster", timeout=5, ca_file=_other_ca(tmp_path))
    assert "TLS failed" in str(wrong.value), str(wrong.value)
    with pytest.raises(OSError):  # plain HTTP to the TLS listener gets no HTTP answer
        urllib.request.urlopen(f"http://{api.host}:{api.port}/cluster", timeout=5).close()
    context = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(f"https://{api.host}:{api.port}/liveness", timeout=5, context=context) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as unauthorised:  # an unsafe call still needs the password
        req = urllib.request.Request(f"https://{api.host}:{api.port}/restart", data=b"{}", method="POST")
        urllib.request.urlopen(req, timeout=5, context=context)
    assert unauthorised.value.code == 401
