"""PostgreSQL and Patroni's REST API on TLS on the real Swarm lab (issue 17): the production stack,
member certificates issued by the runbook's ``iklim pki`` with production's names and addresses,
delivered as Docker secrets (the key 0400 for the image's ``postgres`` user).

From the first manager's namespaces (an app node, where the runbook and an operator run), every
member's PostgreSQL on its node's private address accepts a ``verify-full`` client and the session
is encrypted; the leader's replicas stream over TLS; ``sslmode=disable`` is refused by pg_hba and a
client trusting another CA fails the handshake. The REST API answers a verified client and refuses
plaintext and another CA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from iklim.components.base import member_names
from iklim.swarmlab import paths

from .manager import ENV, MANAGER, container_secret, in_manager, other_ca  # noqa: TID252

pytestmark = pytest.mark.swarmlab

PG_PORT = next(p.port for p in ENV.services.patroni.ports if p.name == "postgres")
API_PORT = next(p.port for p in ENV.services.patroni.ports if p.name == "patroni-api")
DB_IPS = [str(ENV.node(node).private_ip) for node in ENV.services.patroni.nodes]

#: Run in the manager's namespaces; argv: CA file, other CA file, PostgreSQL port, API port,
#: addresses...; the superuser password in PGPASSWORD (never argv). Prints one JSON row per address.
CLIENT = r"""
import json, os, ssl, sys, urllib.request
import psycopg
ca, other, pg_port, api_port, *hosts = sys.argv[1:]
SQL_SSL = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
SQL_REPL = ("SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_replication r "
            "JOIN pg_stat_ssl s USING (pid)")
def pg(host, **tls):
    try:
        with psycopg.connect(host=host, port=int(pg_port), user="postgres", dbname="postgres",
                             password=os.environ["PGPASSWORD"], connect_timeout=5, **tls) as conn:
            encrypted, version = conn.execute(SQL_SSL).fetchone()
            replicas, all_tls = conn.execute(SQL_REPL).fetchone()
            return {"ssl": encrypted, "version": version, "replicas": replicas, "replicas_tls": all_tls}
    except Exception as exc:
        return " ".join(str(exc).split())
def api(url, context=None):
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return len(json.loads(r.read())["members"])
    except Exception as exc:
        return type(exc).__name__ + ": " + str(getattr(exc, "reason", exc))
out = {}
for host in hosts:
    out[host] = {
        "verified": pg(host, sslmode="verify-full", sslrootcert=ca),
        "plaintext": pg(host, sslmode="disable"),
        "other_ca": pg(host, sslmode="verify-full", sslrootcert=other),
        "api_verified": api(f"https://{host}:{api_port}/cluster", ssl.create_default_context(cafile=ca)),
        "api_plaintext": api(f"http://{host}:{api_port}/cluster"),
        "api_other_ca": api(f"https://{host}:{api_port}/cluster", ssl.create_default_context(cafile=other)),
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[docker.DockerClient]:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    manager = docker.DockerClient(base_url=f"unix://{paths.RUN}/{MANAGER}.sock")
    yield manager
    manager.close()


def test_the_patroni_services_mount_their_certificates_for_the_postgres_user(lab: docker.DockerClient) -> None:
    for i, member in enumerate(member_names("patroni", ENV.services.patroni.members), start=1):
        spec = lab.services.get(f"{ENV.stacks.infra}_{member}").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        mounted = {ref["File"]["Name"]: ref["File"] for ref in spec.get("Secrets", [])}
        key, crt = mounted[f"tls_patroni_{i}_key"], mounted[f"tls_patroni_{i}_crt"]
        assert (key["UID"], key["Mode"]) == ("999", 0o400), key  # PostgreSQL refuses a wider key
        assert (crt["Mode"], mounted["tls_ca_crt"]["Mode"]) == (0o444, 0o444)


def test_every_member_verifies_and_plaintext_or_wrong_ca_clients_are_refused(
    lab: docker.DockerClient, tmp_path: Path
) -> None:
    ca, other = paths.PKI_DIR / "tls_ca_crt", other_ca(tmp_path)
    password = container_secret(lab, f"{ENV.stacks.infra}_patroni-1", "postgres_superuser_password")
    argv = [sys.executable, "-c", CLIENT, str(ca), str(other), str(PG_PORT), str(API_PORT), *DB_IPS]
    run = in_manager(argv, env={**os.environ, "PGPASSWORD": password})
    assert run.returncode == 0, run.stderr[-2000:]
    assert password not in run.stdout + run.stderr
    rows = json.loads(run.stdout)
    for host in DB_IPS:
        row = rows[host]
        verified = row["verified"]
        assert isinstance(verified, dict) and verified["ssl"] is True, (host, row)
        assert verified["version"] in ("TLSv1.2", "TLSv1.3"), (host, row)
        assert "no encryption" in row["plaintext"], (host, row)  # pg_hba: hostssl only
        assert "certificate verify failed" in row["other_ca"], (host, row)
        assert row["api_verified"] == ENV.services.patroni.members, (host, row)
        assert not isinstance(row["api_plaintext"], int), (host, row)  # plain HTTP gets no answer
        assert "CERTIFICATE_VERIFY_FAILED" in row["api_other_ca"], (host, row)
    leaders = [rows[h]["verified"] for h in DB_IPS if rows[h]["verified"]["replicas"]]
    assert len(leaders) == 1, rows  # the primary, with every replica streaming over TLS
    assert leaders[0]["replicas"] == ENV.services.patroni.members - 1 and leaders[0]["replicas_tls"] is True, rows
