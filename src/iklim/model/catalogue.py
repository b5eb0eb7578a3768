"""The component catalogue: the one place each component of the seed is declared (issue 13).

An :class:`Entry` is data only (no builders, no pydantic), so every layer may read it: its key
(the name the stacks, the lab, ``status`` and Prometheus use), the model sections it owns, its
placement, the port names its builders read from the model's ``ports``, whether it is stateful
and a quorum cluster, the images ``iklim check`` recognises it by (:class:`Kind`), the model keys
of its upstream images (what the Swarm lab maps to stand-ins), and why a facet is absent when it
is (``absent``: ``lab``, ``probe`` or ``scrape`` -> the reason, in words).

Everything else is derived from :data:`CATALOGUE`: the model's required port names
(:data:`iklim.model.ports.REQUIRED`), placement and quorum rules (:mod:`iklim.model.semantics`),
``check``'s component table (:mod:`iklim.check.kinds`). Higher layers keep one registry each,
keyed by :attr:`Entry.key`: the config builders (``iklim.components.BUILDERS``), Prometheus's
scrape jobs (``iklim.components.prometheus.JOBS``), the lab runners
(``iklim.lab.registry.RUNNERS``) and the status probes (``iklim.status.probes.REGISTRY``);
``tests/test_catalogue.py`` fails when an entry lacks one of them (without a reason in
``absent``) or when a registry holds a key the catalogue does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The facets an entry may declare absent, with a reason.
FACETS = ("lab", "probe", "scrape")


@dataclass(frozen=True)
class Kind:
    """What ``iklim check`` recognises one service kind by, from what it runs (never its name).

    ``kind`` is the rules' key, ``label`` its name in messages, ``tier`` ``"db"`` or
    ``"service"``; ``images``, ``servers`` and ``configs`` are regular expressions (image
    repository, program or ``"program subcommand"``, mounted path); ``clients`` are programs of its
    image that make a service a companion job rather than a member.
    """

    kind: str
    label: str
    tier: str
    images: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One component of the seed; see the module docstring for what is derived from it.

    ``sections`` are keys under the model's ``services`` (dotted when nested), the first one the
    component's own; ``ports`` the names its builders read from the model (``port_of``);
    ``engine_ports`` the ports it listens on that are not published, so not model keys (name ->
    number, the engine's own; read with :func:`engine_port`); ``images`` model keys
    of the upstream images it runs (``redis.exporter_image``); ``absent`` facet -> reason.
    """

    key: str
    label: str
    sections: tuple[str, ...]
    placement: str
    kinds: tuple[Kind, ...]
    images: tuple[str, ...]
    ports: tuple[str, ...] = ()
    engine_ports: Mapping[str, int] = field(default_factory=dict)
    stateful: bool = False
    quorum: bool = False
    absent: Mapping[str, str] = field(default_factory=dict)

    @property
    def section(self) -> str:
        """The component's own model section (``services.<section>``)."""
        return self.sections[0]

    def has(self, facet: str) -> bool:
        """False when the entry declares ``facet`` (one of :data:`FACETS`) absent, with a reason."""
        return facet not in self.absent


_PG_CLIENTS = ("pg_dump", "pg_dumpall", "pg_basebackup", "pg_restore", "psql", "pgbackrest", "wal-g", "pg_isready")
_REDIS_CLIENTS = ("redis-cli", "valkey-cli", "redis-benchmark", "valkey-benchmark")
_VAULT_CLIENTS = tuple(f"{p} {s}" for p in ("vault", "bao") for s in ("agent", "proxy", "operator", "login", "kv"))

#: The seed's components, in stack order (DB tier first), each declared once.
CATALOGUE: tuple[Entry, ...] = (
    Entry(
        "etcd",
        "etcd",
        ("etcd",),
        "db",
        (
            Kind(
                "etcd",
                "etcd",
                "db",
                images=(r"etcd",),
                servers=(r"etcd",),
                configs=(r".*/etcd\.conf\.ya?ml",),
                clients=("etcdctl", "etcdutl"),
            ),
        ),
        images=("etcd.image",),
        ports=("client", "peer"),
        stateful=True,
        quorum=True,
    ),
    Entry(
        "patroni",
        "Patroni/PostgreSQL",
        ("patroni",),
        "db",
        (
            Kind(
                "patroni",
                "Patroni/PostgreSQL",
                "db",
                images=(
                    r"patroni",
                    r"spilo(-\d+)?",
                    r"postgres(ql)?(-repmgr)?",
                    r"postgis",
                    r"timescaledb(-ha)?",
                    r"pgvector",
                ),
                servers=(r"patroni", r"postgres", r"postmaster"),
                configs=(r"/etc/patroni/.*", r".*/patroni\.ya?ml"),
                clients=_PG_CLIENTS,
            ),
        ),
        images=("patroni.image",),
        ports=("postgres", "patroni-api"),
        stateful=True,
        quorum=True,
    ),
    Entry(
        "mongodb",
        "MongoDB",
        ("mongodb",),
        "db",
        (
            Kind(
                "mongodb",
                "MongoDB",
                "db",
                images=(
                    r"mongo",
                    r"mongodb(-sharded)?",
                    r"mongodb-(community|enterprise)-server",
                    r"percona-server-mongodb",
                ),
                servers=(r"mongod",),
                configs=(r".*/mongod\.conf",),
                clients=("mongosh", "mongo", "mongodump", "mongorestore", "mongoexport", "mongoimport"),
            ),
        ),
        images=("mongodb.image", "mongodb.exporter_image"),
        ports=("mongod",),
        engine_ports={"exporter": 9216},
        stateful=True,
        quorum=True,
    ),
    Entry(
        "redis",
        "Redis",
        ("redis", "redis.sentinel"),
        "service",
        (
            Kind(
                "redis",
                "Redis",
                "service",
                images=(r"redis", r"valkey", r"redis-stack-server", r"keydb"),
                servers=(r"(redis|valkey|keydb)-server",),
                configs=(r".*/redis\.conf",),
                clients=_REDIS_CLIENTS,
            ),
            Kind(
                "sentinel",
                "Redis Sentinel",
                "service",
                images=(r"(redis|valkey)-sentinel",),
                servers=(r"(redis|valkey)-sentinel",),
                configs=(r".*/sentinel\.conf",),
                clients=_REDIS_CLIENTS,
            ),
        ),
        images=("redis.image", "redis.sentinel.image", "redis.exporter_image"),
        engine_ports={"redis": 6379, "sentinel": 26379, "exporter": 9121},
        stateful=True,
    ),
    Entry(
        "rabbitmq",
        "RabbitMQ",
        ("rabbitmq",),
        "service",
        (
            Kind(
                "rabbitmq",
                "RabbitMQ",
                "service",
                images=(r"rabbitmq",),
                servers=(r"rabbitmq-server",),
                configs=(r"/etc/rabbitmq/.*",),
                clients=("rabbitmqctl", "rabbitmqadmin", "rabbitmq-plugins", "rabbitmq-diagnostics"),
            ),
        ),
        images=("rabbitmq.image",),
        # dist: RabbitMQ's default distribution port, AMQP + 20000
        engine_ports={"amqp": 5672, "management": 15672, "metrics": 15692, "dist": 25672, "epmd": 4369},
        stateful=True,
        quorum=True,
    ),
    Entry(
        "apisix",
        "APISIX",
        ("apisix", "apisix_dashboard"),
        "service",
        (
            Kind(
                "apisix",
                "APISIX",
                "service",
                images=(r"apisix",),
                servers=(r"apisix start",),
                configs=(r"/usr/local/apisix/conf/config\.ya?ml",),
            ),
            Kind(
                "dashboard",
                "APISIX Dashboard",
                "service",
                images=(r"apisix-dashboard",),
                servers=(r"manager-api",),
                configs=(r"/usr/local/apisix-dashboard/conf/conf\.ya?ml", r"/etc/apisix-dashboard/.*"),
            ),
        ),
        images=("apisix.image", "apisix_dashboard.image"),
        engine_ports={"gateway": 9080, "admin": 9180, "metrics": 9091, "control": 9090, "dashboard": 9000},
        absent={"lab": "three `apisix start` on one host would share one OpenResty prefix"},
    ),
    Entry(
        "swag",
        "SWAG",
        ("swag",),
        "service",
        (Kind("swag", "SWAG", "service", images=(r"swag", r"linuxserver/letsencrypt")),),
        images=("swag.image", "swag.exporter_image"),
        ports=("http", "https"),
        engine_ports={"status": 8080, "exporter": 9113},  # stub_status and its exporter, overlay only
    ),
    Entry(
        "certs",
        "cert services",
        ("cert_reloader", "cert_distributor"),
        "service",
        (Kind("cert", "cert service", "service"),),
        images=("cert_reloader.image", "cert_distributor.image"),
        absent={
            "lab": "the cert services move SWAG's live certificate between Swarm services; the lab has no Swarm",
            "probe": "a cert service is a loop in a script: it serves nothing to ask",
            "scrape": "a cert service exposes no metrics",
        },
    ),
    Entry(
        "prometheus",
        "Prometheus",
        ("prometheus",),
        "service",
        (
            Kind(
                "prometheus",
                "Prometheus",
                "service",
                images=(r"prometheus",),
                servers=(r"prometheus",),
                configs=(r"/etc/prometheus/prometheus\.ya?ml",),
                clients=("promtool",),
            ),
        ),
        images=("prometheus.image",),
        engine_ports={"http": 9090},
        stateful=True,
    ),
    Entry(
        "grafana",
        "Grafana",
        ("grafana",),
        "service",
        (
            Kind(
                "grafana",
                "Grafana",
                "service",
                images=(r"grafana(-oss|-enterprise)?",),
                servers=(r"grafana-server", r"grafana server"),
                configs=(r"/etc/grafana/grafana\.ini",),
                clients=("grafana-cli", "grafana cli"),
            ),
        ),
        images=("grafana.image",),
        engine_ports={"http": 3000},
        stateful=True,
    ),
    Entry(
        "alertmanager",
        "Alertmanager",
        ("alertmanager",),
        "service",
        (
            Kind(
                "alertmanager",
                "Alertmanager",
                "service",
                images=(r"alertmanager", r"prometheus-alertmanager"),
                servers=(r"alertmanager", r"prometheus-alertmanager"),
                configs=(r"/etc/alertmanager/.*",),
                clients=("amtool",),
            ),
        ),
        images=("alertmanager.image",),
        # http: API and UI; cluster: gossip between replicas, not opened by a single instance
        engine_ports={"http": 9093, "cluster": 9094},
    ),
    Entry(
        "vault",
        "Vault",
        ("vault",),
        "service",
        (
            Kind(
                "vault",
                "Vault",
                "service",
                images=(r"vault", r"vault-enterprise", r"openbao"),
                servers=(r"(vault|bao) server", r"server"),
                configs=(r"/vault/config/.*", r"/openbao/config/.*"),
                clients=_VAULT_CLIENTS + ("agent", "proxy"),
            ),
        ),
        images=("vault.image",),
        ports=("api",),
        stateful=True,
        quorum=True,
    ),
)

BY_KEY: dict[str, Entry] = {e.key: e for e in CATALOGUE}


def entry(key: str) -> Entry:
    """The catalogue entry called ``key``; KeyError naming the keys there are otherwise."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"no component {key!r} in the catalogue (known: {', '.join(BY_KEY)})") from None


def engine_port(key: str, name: str) -> int:
    """The unpublished port ``name`` of catalogue entry ``key`` (``engine_port("redis", "sentinel")``).

    Raises KeyError naming the ports there are when ``key`` has none called ``name``.
    """
    ports = entry(key).engine_ports
    if name not in ports:
        raise KeyError(f"{key} has no engine port {name!r} (known: {', '.join(ports) or 'none'})")
    return ports[name]


def sections(placement: str | None = None, *, quorum: bool = False) -> tuple[str, ...]:
    """Top-level model sections (``services.<name>``) of the entries on ``placement`` (any when None);
    with ``quorum`` only those of quorum clusters, own section only."""
    found: list[str] = []
    for e in CATALOGUE:
        if placement is not None and e.placement != placement:
            continue
        if quorum:
            if e.quorum:
                found.append(e.section)
            continue
        found.extend(s for s in e.sections if "." not in s)
    return tuple(found)


def required_ports() -> dict[str, tuple[str, ...]]:
    """Model section -> the port names its builders read (only sections that read any)."""
    return {e.section: e.ports for e in CATALOGUE if e.ports}


def upstream_images(env: Any, e: Entry) -> tuple[str, ...]:
    """The image references ``e`` runs in ``env`` (a loaded model), read at ``e.images``' keys.

    Raises AttributeError naming the key when the model has no such field (a catalogue bug).
    """
    found = []
    for key in e.images:
        value: Any = env.services
        for part in key.split("."):
            value = getattr(value, part)
        found.append(str(value))
    return tuple(found)
