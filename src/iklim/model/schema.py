"""The typed model of one iklim environment (``environments/*.yaml``).

Field-level rules (types, ranges, unknown keys) live here; rules that relate several fields
(placement against nodes, quorum sizes, etcd prefixes) live in :mod:`iklim.model.semantics`, so
each can point at the exact line it is about.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from iklim.model.catalogue import sections
from iklim.model.images import pin_problem
from iklim.model.strings import (
    AbsPath,
    AuditPath,
    DnsLabel,
    Email,
    EnvName,
    EtcdPath,
    Hostname,
    Identifier,
    ImageRef,
    LabelKey,
    LabelValue,
    LowerName,
    NodeName,
    PgpKey,
    PolicyText,
    Zone,
)
from iklim.model.tls import Tls


class StrictModel(BaseModel):
    """Base for every model section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _pinned_image(value: str) -> str:
    """``value`` when it is pinned (:func:`iklim.model.images.pin_problem`), else ValueError."""
    problem = pin_problem(value)
    if problem is not None:
        raise ValueError(f"image {value!r} {problem}; pin a full version tag (such as 1.2.3) or a digest")
    return value


Image = Annotated[ImageRef, AfterValidator(_pinned_image)]
#: Timings: whole numbers (a YAML ``true`` is not 1), at most a day in milliseconds and 30 days
#: in seconds (Go, which Prometheus and Alertmanager are written in, refuses durations past ~292
#: years, and no timing of this stack is meant to be longer than a month).
Millis = Annotated[int, Field(ge=1, le=86_400_000, strict=True)]
Seconds = Annotated[int, Field(ge=1, le=2_592_000, strict=True)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Placement(StrEnum):
    """Where a component runs: the seed's one placement boundary."""

    DB = "db"
    SERVICE = "service"


class Node(StrictModel):
    """One Swarm node (a Hetzner server)."""

    name: NodeName
    role: Placement
    private_ip: IPv4Address
    swarm_role: Literal["manager", "worker"] = "worker"
    labels: dict[LabelKey, LabelValue] = {}


class PrivateNetwork(StrictModel):
    """The Hetzner private network and its two subnets."""

    name: Identifier
    ip_range: IPv4Network
    network_zone: Zone
    app_subnet: IPv4Network
    db_subnet: IPv4Network
    admin_cidrs: list[IPv4Network] = Field(min_length=1)


class Overlay(StrictModel):
    """The attachable Swarm overlay network both stacks share."""

    name: Identifier
    subnet: IPv4Network
    mtu: Annotated[int, Field(ge=1280, le=1450)]


class PortSpec(StrictModel):
    """A port a component publishes on its node (host mode) or through the ingress mesh."""

    name: Identifier
    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"
    mode: Literal["host", "ingress"] = "host"
    public: bool = False


class VolumeKind(StrEnum):
    LOCAL = "local"
    STORAGEBOX = "storagebox"


class VolumeSpec(StrictModel):
    """Where a component keeps its data: a named local Docker volume or a StorageBox path."""

    kind: VolumeKind
    target: AbsPath
    path: AbsPath | None = None
    env: EnvName | None = None


class Component(StrictModel):
    """What every component of the seed has: image, placement, members, ports, volume."""

    image: Image
    placement: Placement
    members: Annotated[int, Field(ge=1, le=15)]
    nodes: list[NodeName] = []
    ports: list[PortSpec] = []
    volume: VolumeSpec | None = None


class Etcd(Component):
    aliases: list[DnsLabel]
    cluster_token: Identifier
    heartbeat_interval_ms: Millis
    election_timeout_ms: Millis


class Patroni(Component):
    scope: Identifier
    namespace: EtcdPath
    postgres_major: Annotated[int, Field(ge=13, le=18)]
    ttl: Annotated[int, Field(ge=20)]
    loop_wait: Seconds
    retry_timeout: Seconds
    maximum_lag_on_failover: Annotated[int, Field(ge=0)]
    max_replica_lag_bytes: Annotated[int, Field(ge=0)]
    synchronous_mode: bool
    # Patroni's synchronous_mode_strict: with no synchronous standby left, writes block instead of
    # going on unreplicated (Patroni docs, "Replication modes"); only meaningful with synchronous_mode.
    synchronous_mode_strict: bool = False


class MongoDB(Component):
    replica_set: Identifier
    exporter_image: Image


class Sentinel(StrictModel):
    image: Image
    members: Annotated[int, Field(ge=1, le=15)]
    nodes: list[NodeName] = []
    ports: list[PortSpec] = []
    quorum: Annotated[int, Field(ge=1)]
    down_after_milliseconds: Millis
    failover_timeout_ms: Millis
    parallel_syncs: Annotated[int, Field(ge=1)]


class Redis(Component):
    master_name: Identifier
    sentinel: Sentinel
    exporter_image: Image


class RabbitMQ(Component):
    cluster_name: Identifier
    partition_handling: Literal["pause_minority", "autoheal", "ignore"]
    management_host: Hostname
    management_allow: list[IPv4Network] = Field(min_length=1)


class VaultDayOne(StrictModel):
    """What ``iklim vault bootstrap`` configures once the cluster is healthy."""

    audit_file_path: AuditPath = "stdout"
    kv_mounts: list[LowerName] = ["secret"]
    policies: dict[Identifier, PolicyText] = {}
    auth_methods: list[LowerName] = []


class Vault(Component):
    cluster_port: Port  # Raft traffic between members on the overlay: not published, not in ports
    performance_multiplier: Annotated[int, Field(ge=1, le=10)]
    key_shares: Annotated[int, Field(ge=1, le=10)]
    key_threshold: Annotated[int, Field(ge=1, le=10)]
    autopilot_stabilization_s: Annotated[int, Field(ge=1, le=300)] = 10
    keys_file: AbsPath = "/root/iklim-vault/init.json"
    pgp_keys: list[PgpKey] = []
    day_one: VaultDayOne = VaultDayOne()
    # Kept for models written before `ports: api` became the API's one number: when given it must
    # equal that port (iklim.model.ports); nothing reads it.
    declared_api_port: Port | None = Field(default=None, alias="api_port")

    @property
    def api_port(self) -> int:
        """The ``api`` entry of ``ports``, the API's one number (:mod:`iklim.model.ports` requires it).

        Raises LookupError when ``ports`` has no ``api`` entry (a model that validated has one).
        """
        for port in self.ports:
            if port.name == "api":
                return port.port
        raise LookupError("vault has no port named 'api' in its ports")


class Apisix(Component):
    etcd_prefix: EtcdPath


class Swag(Component):
    domain: Hostname
    email: Email
    validation: Literal["http", "dns"]
    exporter_image: Image


class Prometheus(Component):
    scrape_interval_s: Seconds
    retention: Annotated[str, Field(pattern=r"^[0-9]{1,6}[dhwy]$")]


class Grafana(Component):
    pass


class EmailReceiver(StrictModel):
    """Alertmanager e-mail integration; the SMTP password is the receiver's Docker secret."""

    to: Email
    sender: Email
    smarthost: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*:[0-9]{1,5}$", max_length=260)]
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$", max_length=254)]


class WebhookReceiver(StrictModel):
    """Alertmanager webhook integration; the bearer token is the receiver's Docker secret."""

    url: Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$", max_length=2000)]


class Receiver(StrictModel):
    """Where alerts of the listed severities go: exactly one of ``email`` or ``webhook``.

    A webhook's bearer token is sent only over ``https://`` (the URL may not be plain HTTP).
    """

    name: LowerName
    severities: list[Literal["critical", "warning"]] = Field(min_length=1)
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None

    @model_validator(mode="after")
    def _one_integration(self) -> Receiver:
        if (self.email is None) == (self.webhook is None):
            raise ValueError(f"receiver {self.name!r} needs exactly one of email or webhook")
        if len(set(self.severities)) != len(self.severities):
            raise ValueError(f"receiver {self.name!r} lists a severity twice")
        if self.webhook is not None and not self.webhook.url.startswith("https://"):
            raise ValueError(f"receiver {self.name!r}: the webhook gets a bearer token, so its URL must be https://")
        return self


class Alertmanager(Component):
    """The notification path (issue 15): route timings and receivers."""

    group_wait_s: Seconds
    group_interval_s: Seconds
    repeat_interval_s: Seconds
    receivers: list[Receiver] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_receivers(self) -> Alertmanager:
        names = [r.name for r in self.receivers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"receiver name {twice[0]!r} is used twice (Alertmanager refuses the config)")
        first = set(self.receivers[0].severities)
        if first != {"critical", "warning"}:
            raise ValueError(
                f"the first receiver ({self.receivers[0].name!r}) also gets every alert no route matches: "
                "it must take both severities, critical and warning"
            )
        if self.repeat_interval_s < self.group_interval_s:
            raise ValueError("repeat_interval_s must be at least group_interval_s (Alertmanager's rule)")
        return self


class Services(StrictModel):
    """Every component of the seed, keyed by the name the stacks use."""

    etcd: Etcd
    patroni: Patroni
    mongodb: MongoDB
    redis: Redis
    rabbitmq: RabbitMQ
    apisix: Apisix
    apisix_dashboard: Component
    swag: Swag
    cert_reloader: Component
    cert_distributor: Component
    prometheus: Prometheus
    grafana: Grafana
    alertmanager: Alertmanager
    vault: Vault


class Stacks(StrictModel):
    infra: Identifier
    vault: Identifier


class Tooling(StrictModel):
    """The project's own tool image: ``iklim`` itself, run as one-shot Swarm jobs on the overlay
    (``iklim status --target prod --on-overlay``); built from ``images/iklim/Dockerfile``."""

    image: Image


class Environment(StrictModel):
    """One environment: nodes, networks, every service of the seed, and the tool image."""

    name: Identifier
    stacks: Stacks
    nodes: list[Node] = Field(min_length=1)
    network: PrivateNetwork
    overlay: Overlay
    services: Services
    tooling: Tooling
    tls: Tls

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


#: Sections of DB-node components and of quorum clusters, from the catalogue.
DB_COMPONENTS = sections("db")
QUORUM_COMPONENTS = sections(quorum=True)
