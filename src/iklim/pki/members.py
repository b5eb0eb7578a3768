"""Who gets a certificate, and with which names: derived from the model and the catalogue's
member naming, never typed twice.

A server certificate carries every name its clients really use (RFC 6125: a client verifies the
name it dialled against the subjectAltName entries, not the CN):

- the member's Swarm service name (``etcd-1``, ``patroni-2``, ``vault-3``) and its overlay name
  as :meth:`iklim.components.target.ProductionTarget.host` gives it (etcd's aliases ``etcd-01``,
  which APISIX, Patroni and the members' own ``ETCD_ADVERTISE_CLIENT_URLS`` use);
- its node's private IPv4 address, because the DB ports and Vault's API are published in host
  mode there and the bootstrap, ``iklim status`` and the firewall-side clients dial that address;
- ``localhost`` and ``127.0.0.1``, for the in-container healthchecks (``etcdctl`` on the
  member's own port, Vault's ``VAULT_ADDR=https://127.0.0.1:8200``).

etcd members and Patroni members get both ``serverAuth`` and ``clientAuth``: an etcd member's peer
certificate is presented as client and server (https://etcd.io/docs/v3.5/op-guide/security/,
``--peer-cert-file``), and a PostgreSQL replica authenticates to its primary with its own
certificate once ``sslmode=verify-full`` and ``clientcert`` are wired
(https://www.postgresql.org/docs/16/libpq-ssl.html). Vault's cluster port uses certificates Vault
makes itself; its API certificate is a server certificate
(https://developer.hashicorp.com/vault/docs/configuration/listener/tcp#tls_cert_file).

etcd's clients get client-only certificates whose CN is the etcd user they act as (etcd maps the
CN to a user under ``--client-cert-auth`` once authentication is enabled): ``patroni`` (Patroni's
etcd3 DCS), ``apisix`` (APISIX and its Dashboard), ``prometheus`` (the etcd scrape job: etcd serves
``/metrics`` on its client listener, behind the same certificate check) and ``iklim`` (the tool's
own requests: ``iklim status``, the drills, deploy's hand-over; :data:`iklim.model.paths.TOOL_ETCD_CLIENT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

from iklim.components.base import member_names
from iklim.components.target import ProductionTarget, Target, node_of
from iklim.components.trust import secret_names
from iklim.model.paths import TOOL_ETCD_CLIENT
from iklim.model.schema import Environment

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = (IPv4Address("127.0.0.1"),)

#: The member families that present a server certificate on the private network:
#: (model section, TLS cluster(s) of the model's ``tls.clusters`` the certificate serves).
SERVER_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vault", ("vault",)),
    ("etcd", ("etcd",)),
    ("patroni", ("postgresql", "patroni_api")),
)
#: etcd's client-certificate users: (member name, CN = the etcd user, model section of the client).
ETCD_CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("patroni-etcd-client", "patroni", "patroni"),
    ("apisix-etcd-client", "apisix", "apisix"),
    ("prometheus-etcd-client", "prometheus", "prometheus"),
    (TOOL_ETCD_CLIENT, "iklim", "tooling"),
)


@dataclass(frozen=True)
class Member:
    """One certificate to issue.

    ``name``: the member (``etcd-1``, ``patroni-etcd-client``); ``common_name``: the subject CN;
    ``dns`` and ``ips``: the subjectAltName entries (empty for a client certificate);
    ``server`` / ``client``: the extended key usages; ``clusters``: the model's TLS clusters it
    serves (for a client certificate, the cluster it is a client of).
    """

    name: str
    common_name: str
    dns: tuple[str, ...]
    ips: tuple[IPv4Address, ...]
    server: bool
    client: bool
    clusters: tuple[str, ...]

    @property
    def crt_name(self) -> str:
        """The certificate's Docker secret (and file) name: ``tls_etcd_1_crt``."""
        return secret_names(self.name)[0]

    @property
    def key_name(self) -> str:
        """The key's Docker secret (and file) name: ``tls_etcd_1_key``."""
        return secret_names(self.name)[1]


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def members(env: Environment, target: Target | None = None) -> list[Member]:
    """Every certificate the environment needs, servers first, in catalogue order.

    ``target``: whose addresses the names are (production by default; the loopback lab's
    :class:`~iklim.components.target.LabTarget` gives each member its 127.0.x.y address, so the
    lab runs the same certificate code with lab addresses). Raises KeyError when a member's node
    is not among the model's nodes (a validated model never does: :mod:`iklim.model.semantics`
    checks it).
    """
    target = target or ProductionTarget(env)
    found: list[Member] = []
    for section, clusters in SERVER_FAMILIES:
        spec = getattr(env.services, section)
        for name in member_names(section, spec.members):
            node = node_of(env, name)
            host = target.host(name)
            published = target.endpoint(name, spec.ports[0].name).host if spec.ports else host
            ips = [IPv4Address(a) for a in (published, host) if node is not None or a == host if _is_ip(a)]
            found.append(
                Member(
                    name=name,
                    common_name=host,
                    dns=_unique([*([] if _is_ip(host) else [host]), name, *LOOPBACK_NAMES]),
                    ips=tuple(dict.fromkeys([*ips, *LOOPBACK_IPS])),
                    server=True,
                    client=section != "vault",
                    clusters=clusters,
                )
            )
    for name, user, _section in ETCD_CLIENTS:
        found.append(Member(name, user, (), (), server=False, client=True, clusters=("etcd",)))
    return found


def member(env: Environment, name: str, target: Target | None = None) -> Member:
    """The member called ``name``; LookupError naming the known members otherwise."""
    every = members(env, target)
    for candidate in every:
        if candidate.name == name:
            return candidate
    raise LookupError(f"unknown member {name!r}; known: {', '.join(m.name for m in every)}")
