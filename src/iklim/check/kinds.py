"""The seed's components as data: what :mod:`iklim.check.recognise` matches a service against.

:data:`COMPONENTS` (image, program and mounted-config patterns of each seed component),
:data:`COMPANIONS` (images that are never members), :data:`GENERIC_IMAGES` (base images a cert
service script runs on) and the lookups derived from them (:data:`BY_KIND`, :data:`DB_KINDS`,
:data:`SERVICE_KINDS`, :data:`LABELS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    """One seed component: ``kind`` (the rules' key), its ``label`` in messages and ``tier``
    (``"db"``: runs on DB nodes; ``"service"``: on service nodes); ``images``, ``servers`` and
    ``configs`` are regular expressions (image repository, program or ``"program subcommand"``,
    mounted path) that recognise it; ``clients`` are programs (or ``"program subcommand"``) of
    its image that make a service a companion job rather than a member."""

    kind: str
    label: str
    tier: str
    images: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()


_PG_CLIENTS = ("pg_dump", "pg_dumpall", "pg_basebackup", "pg_restore", "psql", "pgbackrest", "wal-g", "pg_isready")
_REDIS_CLIENTS = ("redis-cli", "valkey-cli", "redis-benchmark", "valkey-benchmark")

#: The seed's components. DB tier first, in the order the infra stack lists them.
COMPONENTS: tuple[Component, ...] = (
    Component(
        "etcd",
        "etcd",
        "db",
        images=(r"etcd",),
        servers=(r"etcd",),
        configs=(r".*/etcd\.conf\.ya?ml",),
        clients=("etcdctl", "etcdutl"),
    ),
    Component(
        "patroni",
        "Patroni/PostgreSQL",
        "db",
        images=(r"patroni", r"spilo(-\d+)?", r"postgres(ql)?(-repmgr)?", r"postgis", r"timescaledb(-ha)?", r"pgvector"),
        servers=(r"patroni", r"postgres", r"postmaster"),
        configs=(r"/etc/patroni/.*", r".*/patroni\.ya?ml"),
        clients=_PG_CLIENTS,
    ),
    Component(
        "mongodb",
        "MongoDB",
        "db",
        images=(r"mongo", r"mongodb(-sharded)?", r"mongodb-(community|enterprise)-server", r"percona-server-mongodb"),
        servers=(r"mongod",),
        configs=(r".*/mongod\.conf",),
        clients=("mongosh", "mongo", "mongodump", "mongorestore", "mongoexport", "mongoimport"),
    ),
    Component(
        "redis",
        "Redis",
        "service",
        images=(r"redis", r"valkey", r"redis-stack-server", r"keydb"),
        servers=(r"(redis|valkey|keydb)-server",),
        configs=(r".*/redis\.conf",),
        clients=_REDIS_CLIENTS,
    ),
    Component(
        "sentinel",
        "Redis Sentinel",
        "service",
        images=(r"(redis|valkey)-sentinel",),
        servers=(r"(redis|valkey)-sentinel",),
        configs=(r".*/sentinel\.conf",),
        clients=_REDIS_CLIENTS,
    ),
    Component(
        "rabbitmq",
        "RabbitMQ",
        "service",
        images=(r"rabbitmq",),
        servers=(r"rabbitmq-server",),
        configs=(r"/etc/rabbitmq/.*",),
        clients=("rabbitmqctl", "rabbitmqadmin", "rabbitmq-plugins", "rabbitmq-diagnostics"),
    ),
    Component(
        "apisix",
        "APISIX",
        "service",
        images=(r"apisix",),
        servers=(r"apisix start",),
        configs=(r"/usr/local/apisix/conf/config\.ya?ml",),
    ),
    Component(
        "dashboard",
        "APISIX Dashboard",
        "service",
        images=(r"apisix-dashboard",),
        servers=(r"manager-api",),
        configs=(r"/usr/local/apisix-dashboard/conf/conf\.ya?ml", r"/etc/apisix-dashboard/.*"),
    ),
    Component("swag", "SWAG", "service", images=(r"swag", r"linuxserver/letsencrypt")),
    Component("cert", "cert service", "service"),
    Component(
        "prometheus",
        "Prometheus",
        "service",
        images=(r"prometheus",),
        servers=(r"prometheus",),
        configs=(r"/etc/prometheus/prometheus\.ya?ml",),
        clients=("promtool",),
    ),
    Component(
        "grafana",
        "Grafana",
        "service",
        images=(r"grafana(-oss|-enterprise)?",),
        servers=(r"grafana-server", r"grafana server"),
        configs=(r"/etc/grafana/grafana\.ini",),
        clients=("grafana-cli", "grafana cli"),
    ),
    Component(
        "vault",
        "Vault",
        "service",
        images=(r"vault", r"vault-enterprise", r"openbao"),
        servers=(r"(vault|bao) server", r"server"),
        configs=(r"/vault/config/.*", r"/openbao/config/.*"),
        clients=tuple(f"{p} {s}" for p in ("vault", "bao") for s in ("agent", "proxy", "operator", "login", "kv"))
        + ("agent", "proxy"),
    ),
)

#: Images that are never members: (pattern, what they are). Checked before :data:`COMPONENTS`.
COMPANIONS: tuple[tuple[str, str], ...] = (
    (r".*exporter.*", "exporter"),
    (r"pgadmin4?", "pgAdmin"),
    (r"vaultwarden/server|bitwardenrs/server", "Vaultwarden"),
    (r"redis-?commander|redisinsight|redis-insight", "Redis admin UI"),
    (r"mongo-express|mongoku|adminer|phpmyadmin|pgweb|etcdkeeper", "admin UI"),
    (r"vault-ui|vault-exporter", "Vault UI"),
    (r".*backup.*|pgbackrest|wal-g", "backup job"),
    (r"pgbouncer|pgpool(-ii)?|haproxy", "connection proxy"),
    (r"apisix-ingress-controller", "ingress controller"),
)

#: Generic base images: a cert service is a script on one of these that mounts certificates.
GENERIC_IMAGES = (r"alpine", r"busybox", r"docker", r"debian", r"ubuntu", r"bash", r"curlimages/curl")

BY_KIND = {c.kind: c for c in COMPONENTS}
DB_KINDS = tuple(c.kind for c in COMPONENTS if c.tier == "db")
#: Service-node components of the infra stack (Vault has its own stack).
SERVICE_KINDS = tuple(c.kind for c in COMPONENTS if c.tier == "service" and c.kind != "vault")
LABELS = {c.kind: c.label for c in COMPONENTS}
