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
from iklim.components.target import ProductionTarget, Target
from iklim.components.trust import CA_SECRET, SECRETS_DIR, scheme, secret_names, secret_path, tls_on
from iklim.components.yamlout import dump_yaml
from iklim.model.ports import port_of
from iklim.model.schema import Environment, Patroni

SECRETS = {
    "PATRONI_SUPERUSER_PASSWORD": "postgres_superuser_password",
    "PATRONI_REPLICATION_PASSWORD": "postgres_replication_password",
    "PATRONI_REWIND_PASSWORD": "postgres_rewind_password",
    "PATRONI_RESTAPI_PASSWORD": "patroni_restapi_password",
}
CONFIG_TARGET = "/etc/patroni/patroni.yml"
#: The image's ``postgres`` user (Debian's and the official image's uid 999), which must own the key:
#: PostgreSQL refuses a key file readable by others unless root owns it
#: (https://www.postgresql.org/docs/16/ssl-tcp.html#SSL-SETUP).
POSTGRES_UID = "999"


def _ssl_parameters(target: Target, name: str) -> dict[str, Any]:
    """PostgreSQL's server TLS (``ssl = on``, the member certificate and key, TLS 1.2 or later):
    local parameters, reloadable (https://www.postgresql.org/docs/16/runtime-config-connection.html#RUNTIME-CONFIG-CONNECTION-SSL)."""
    crt, key = secret_names(name)
    return {
        "ssl": "on",
        "ssl_cert_file": secret_path(target, name, crt),
        "ssl_key_file": secret_path(target, name, key),
        "ssl_min_protocol_version": "TLSv1.2",
    }


def _restapi_tls(target: Target, name: str) -> dict[str, str]:
    """Patroni's REST API on TLS with the member certificate; ``cafile`` is also what Patroni and
    patronictl verify other members' APIs with when ``ctl.cacert`` is unset
    (https://patroni.readthedocs.io/en/latest/yaml_configuration.html#rest-api)."""
    crt, key = secret_names(name)
    return {
        "certfile": secret_path(target, name, crt),
        "keyfile": secret_path(target, name, key),
        "cafile": secret_path(target, name, CA_SECRET),
    }


#: The member certificate Patroni presents to etcd (:data:`iklim.pki.members.ETCD_CLIENTS`).
ETCD_CLIENT = "patroni-etcd-client"


def _etcd3(env: Environment, target: Target, name: str) -> dict[str, str]:
    """Patroni's etcd3 DCS section: the members' client endpoints and, with etcd on TLS, ``https``
    with the CA and Patroni's own client certificate (etcd requires one: ``--client-cert-auth``;
    https://patroni.readthedocs.io/en/latest/yaml_configuration.html#etcdv3)."""
    section = {"hosts": ",".join(client_endpoints(env, target)), "protocol": scheme(env, "etcd")}
    if tls_on(env, "etcd"):
        crt, key = secret_names(ETCD_CLIENT)
        section |= {
            "cacert": secret_path(target, name, CA_SECRET),
            "cert": secret_path(target, name, crt),
            "key": secret_path(target, name, key),
        }
    return section


def _hba(tls: bool, rules: list[str]) -> list[str]:
    """``host`` rules as ``hostssl`` when PostgreSQL is on TLS: a connection without TLS then
    matches no rule and is refused, loopback ones included (Patroni's own connections use TLS too)."""
    return [("hostssl" + r[4:]) if tls and r.startswith("host ") else r for r in rules]


def member_config(env: Environment, target: Target, name: str) -> dict[str, Any]:
    """One member's patroni.yml as data; passwords come from the environment, never the file.

    The REST API's credentials (PATRONI_RESTAPI_USERNAME/PASSWORD) are set only by the start
    command, from Docker secrets, so the file carries no authentication block for it.
    """
    spec = env.services.patroni
    data_root = spec.volume.target if spec.volume else "/home/postgres/pgdata"
    host, listen = target.host(name), target.listen(name)
    rest, postgres = port_of(spec, "patroni-api"), port_of(spec, "postgres")
    pg_tls, api_tls = tls_on(env, "postgresql"), tls_on(env, "patroni_api")
    client_ssl = {"sslmode": "verify-full", "sslrootcert": secret_path(target, name, CA_SECRET)} if pg_tls else {}
    trusted: list[str] = []
    for network in (env.overlay.subnet, env.network.app_subnet, env.network.db_subnet):
        mapped = target.trusted_cidr(network)
        if mapped is not None and str(mapped) not in trusted:
            trusted.append(str(mapped))
    return {
        "scope": spec.scope,
        "namespace": spec.namespace.rstrip("/") + "/",
        "name": name,
        "restapi": {
            "listen": f"{listen}:{rest}",
            "connect_address": f"{host}:{rest}",
            **(_restapi_tls(target, name) if api_tls else {}),
        },
        "etcd3": _etcd3(env, target, name),
        "bootstrap": {
            "dcs": {
                "ttl": spec.ttl,
                "loop_wait": spec.loop_wait,
                "retry_timeout": spec.retry_timeout,
                "maximum_lag_on_failover": spec.maximum_lag_on_failover,
                "synchronous_mode": spec.synchronous_mode,
                "synchronous_mode_strict": spec.synchronous_mode_strict,
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
            "listen": f"{listen}:{postgres}",
            "connect_address": f"{host}:{postgres}",
            "data_dir": target.data_dir(name, f"{data_root}/pg{spec.postgres_major}"),
            "bin_dir": target.postgres_bin_dir(spec.postgres_major),
            "pgpass": target.path(name, "/tmp/pgpass"),
            "parameters": {
                "unix_socket_directories": target.path(name, "/var/run/postgresql"),
                **(_ssl_parameters(target, name) if pg_tls else {}),
            },
            # Patroni's connections (local as superuser, a replica's to its primary, pg_rewind's to
            # the source) verify the server as every client does: the CA and the name dialled.
            "authentication": {
                "superuser": {"username": "postgres", **client_ssl},
                "replication": {"username": "replicator", **client_ssl},
                "rewind": {"username": "rewind_user", **client_ssl},
            },
            "pg_hba": _hba(
                pg_tls,
                [
                    "local all all peer",
                    # Patroni's own connections go to localhost over TCP: as the superuser (post_bootstrap,
                    # heartbeat) and, on a replica, as the replication user (local timeline/LSN check).
                    # Without these a Swarm bootstrap fails "no pg_hba.conf entry for host 127.0.0.1"
                    # and renames the data dir to *.failed (found in the Swarm lab).
                    "host all postgres 127.0.0.1/32 scram-sha-256",
                    "host all postgres ::1/128 scram-sha-256",
                    "host replication replicator 127.0.0.1/32 scram-sha-256",
                    "host replication replicator ::1/128 scram-sha-256",
                    *(f"host replication replicator {net} scram-sha-256" for net in trusted),
                    *(f"host all all {net} scram-sha-256" for net in trusted),
                ],
            ),
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def render_config(env: Environment, target: Target, name: str) -> str:
    return header("#") + dump_yaml(member_config(env, target, name))


def contribute(env: Environment) -> Contribution:
    spec = env.services.patroni
    out = Contribution(secrets=sorted(SECRETS.values()))
    exports = " ".join(f'{var}="$$(cat /run/secrets/{secret})"' for var, secret in SECRETS.items())
    for service, node in zip(member_names("patroni", spec.members), spec.nodes, strict=True):
        path = f"{CONFIG_ROOT}/patroni/{service}.yml"
        out.files[path] = render_config(env, ProductionTarget(env), service)
        out.mounts[service] = [Mount(path, CONFIG_TARGET)]
        out.secret_mounts[service] = [SecretMount(s) for s in sorted(SECRETS.values())]
        if tls_on(env, "postgresql") or tls_on(env, "patroni_api") or tls_on(env, "etcd"):
            out.secret_mounts[service].append(SecretMount(CA_SECRET, mode=0o444))
        for owner, on in (
            (service, tls_on(env, "postgresql") or tls_on(env, "patroni_api")),
            (ETCD_CLIENT, tls_on(env, "etcd")),
        ):
            if on:
                crt, key = secret_names(owner)
                out.file_secrets += [crt, key]
                out.secret_mounts[service] += [
                    SecretMount(crt, uid=POSTGRES_UID, mode=0o444),
                    SecretMount(key, uid=POSTGRES_UID, mode=0o400),
                ]
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": shell(
                f"export {exports} PATRONI_RESTAPI_USERNAME=patroni; "
                f"{reconcile_dcs(spec)} & exec patroni {CONFIG_TARGET}"
            ),
            "volumes": [f"{volume}:{spec.volume.target if spec.volume else '/home/postgres/pgdata'}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(["CMD", "python3", "-c", _liveness_probe(env)], start_period="120s"),
            "stop_grace_period": "60s",
            "deploy": restart_after_ttl(pinned_deploy(spec.placement, node), spec.ttl + spec.loop_wait),
        }
    return out


def _liveness_probe(env: Environment) -> str:
    """The container healthcheck's Python: Patroni's ``/liveness`` on loopback (the certificate
    names 127.0.0.1), verified with the mounted CA when the REST API is on TLS."""
    url = f"{scheme(env, 'patroni_api')}://127.0.0.1:{port_of(env.services.patroni, 'patroni-api')}/liveness"
    if not tls_on(env, "patroni_api"):
        return f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"
    return (
        "import ssl, urllib.request; urllib.request.urlopen("
        f"'{url}', timeout=3, context=ssl.create_default_context(cafile='{SECRETS_DIR}/{CA_SECRET}'))"
    )


#: The keys of Patroni's dynamic configuration the model owns (``bootstrap.dcs`` is written to
#: the DCS only when the cluster is initialised: patroni.readthedocs.io, "Dynamic Configuration
#: Settings"; later model changes must be applied to the running cluster).
DCS_KEYS = (
    "ttl",
    "loop_wait",
    "retry_timeout",
    "maximum_lag_on_failover",
    "synchronous_mode",
    "synchronous_mode_strict",
)


def reconcile_dcs(spec: Patroni) -> str:
    """A background shell loop (``sh`` syntax, ``$$``-escaped for the stack) that writes the
    model's values of :data:`DCS_KEYS` into the cluster's dynamic configuration once the DCS
    answers: ``patronictl edit-config --force --set key=value`` (idempotent; a no-op when nothing
    differs), retried every 5 s for up to 10 minutes, silent.

    Why: ``bootstrap.dcs`` only seeds a new cluster, so a model change of ttl or synchronous_mode
    (issue 11's tuning) would never reach a cluster bootstrapped before it (found on the Swarm lab,
    whose kept cluster still ran the old values). Every member runs it at start, so a deploy that
    changes the model (it rolls the Patroni services) applies it; a hand edit with patronictl is
    undone at the next member start, by design: the model is the source of truth. PostgreSQL
    parameters are left alone (some need a restart that Patroni's own pending-restart flow owns).
    """
    values = {key: getattr(spec, key) for key in DCS_KEYS}
    sets = " ".join(f"--set {key}={str(v).lower() if isinstance(v, bool) else v}" for key, v in values.items())
    edit = f"patronictl -c {CONFIG_TARGET} edit-config --force --quiet {sets}"
    return f"(i=0; while [ $$i -lt 120 ]; do sleep 5; {edit} >/dev/null 2>&1 && break; i=$$((i+1)); done)"


def restart_after_ttl(deploy: dict[str, Any], seconds: int) -> dict[str, Any]:
    """``deploy`` with Swarm's restart delay set to ``seconds`` (Patroni's ``ttl + loop_wait``).

    A Patroni member whose container dies keeps its leader key in etcd until the key's TTL runs
    out. Restarted sooner (Swarm's default delay is 5 s), a former leader finds the key still
    its own and takes the primary role back after crash recovery; later, a replica has been
    promoted and it rejoins as a replica (``pg_rewind``). Whether a crashed leader fails over
    would be a race between Swarm and the TTL, and a leader that keeps crashing would keep the
    primary role; waiting longer than the TTL makes the hand-over deterministic (found on the
    Swarm lab: ``docker kill`` of the leader's container gave no failover with a 5 s delay).
    """
    policy = dict(deploy["restart_policy"], delay=f"{seconds}s")
    return {**deploy, "restart_policy": policy}
