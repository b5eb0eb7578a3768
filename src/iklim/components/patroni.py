"""Patroni/PostgreSQL: 3 members on DB nodes, etcd3 DCS under its own namespace."""

from __future__ import annotations

from typing import Any

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    SecretMount,
    header,
    healthcheck,
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
    shell,
)
from iklim.components.etcd import client_endpoints
from iklim.model.schema import Environment
from iklim.render.yamlout import dump_yaml

POSTGRES_PORT = 5432
REST_PORT = 8008
SECRETS = {
    "PATRONI_SUPERUSER_PASSWORD": "postgres_superuser_password",
    "PATRONI_REPLICATION_PASSWORD": "postgres_replication_password",
    "PATRONI_REWIND_PASSWORD": "postgres_rewind_password",
    "PATRONI_RESTAPI_PASSWORD": "patroni_restapi_password",
}
CONFIG_TARGET = "/etc/patroni/patroni.yml"


def member_config(env: Environment, name: str, etcd_hosts: list[str]) -> dict[str, Any]:
    """One member's patroni.yml as data; passwords come from the environment, never the file.

    The REST API's credentials (PATRONI_RESTAPI_USERNAME/PASSWORD) are set only by the start
    command, from Docker secrets, so the file carries no authentication block for it.
    """
    spec = env.services.patroni
    data_root = spec.volume.target if spec.volume else "/home/postgres/pgdata"
    trusted = [str(env.overlay.subnet), str(env.network.app_subnet), str(env.network.db_subnet)]
    return {
        "scope": spec.scope,
        "namespace": spec.namespace.rstrip("/") + "/",
        "name": name,
        "restapi": {
            "listen": f"0.0.0.0:{REST_PORT}",
            "connect_address": f"{name}:{REST_PORT}",
        },
        "etcd3": {"hosts": ",".join(etcd_hosts), "protocol": "http"},
        "bootstrap": {
            "dcs": {
                "ttl": spec.ttl,
                "loop_wait": spec.loop_wait,
                "retry_timeout": spec.retry_timeout,
                "maximum_lag_on_failover": spec.maximum_lag_on_failover,
                "synchronous_mode": spec.synchronous_mode,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "max_connections": 200,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_log_hints": "on",
                        "wal_keep_size": "1GB",
                        "password_encryption": "scram-sha-256",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"0.0.0.0:{POSTGRES_PORT}",
            "connect_address": f"{name}:{POSTGRES_PORT}",
            "data_dir": f"{data_root}/pg{spec.postgres_major}",
            "bin_dir": f"/usr/lib/postgresql/{spec.postgres_major}/bin",
            "pgpass": "/tmp/pgpass",
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "replicator"},
                "rewind": {"username": "rewind_user"},
            },
            "pg_hba": [
                "local all all peer",
                *(f"host replication replicator {net} scram-sha-256" for net in trusted),
                *(f"host all all {net} scram-sha-256" for net in trusted),
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def render_config(env: Environment, name: str, etcd_hosts: list[str]) -> str:
    return header("#") + dump_yaml(member_config(env, name, etcd_hosts))


def contribute(env: Environment) -> Contribution:
    spec = env.services.patroni
    out = Contribution(secrets=sorted(SECRETS.values()))
    exports = " ".join(f'{var}="$$(cat /run/secrets/{secret})"' for var, secret in SECRETS.items())
    for service, node in zip(member_names("patroni", spec.members), spec.nodes, strict=True):
        path = f"{CONFIG_ROOT}/patroni/{service}.yml"
        out.files[path] = render_config(env, service, client_endpoints(env))
        out.mounts[service] = [Mount(path, CONFIG_TARGET)]
        out.secret_mounts[service] = [SecretMount(s) for s in sorted(SECRETS.values())]
        volume = f"{service}-data"
        out.volumes.append(volume)
        probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{REST_PORT}/liveness', timeout=3)"
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": shell(f"export {exports} PATRONI_RESTAPI_USERNAME=patroni; exec patroni {CONFIG_TARGET}"),
            "volumes": [f"{volume}:{spec.volume.target if spec.volume else '/home/postgres/pgdata'}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(["CMD", "python3", "-c", probe], start_period="120s"),
            "stop_grace_period": "60s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
