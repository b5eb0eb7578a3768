"""The cluster-aware order of a deploy: which changed service is applied when, derived from the model.

A *cluster* is a stateful catalogue entry (:data:`iklim.model.catalogue.CATALOGUE`) whose own model
section has more than one member (``services.<section>.members``): etcd, Patroni, MongoDB, Redis,
RabbitMQ and Vault in the seed. Prometheus and Grafana are stateful but single, so they roll as
stateless services do. Clusters are rolled in catalogue order (the stack's DB tier first: etcd,
Patroni, MongoDB, Redis, RabbitMQ, then Vault), which puts etcd before Patroni: Patroni keeps its
leader key in etcd, and a restarted etcd leader can demote the Patroni primary when
``retry_timeout`` is short (Part B8 of the deploy notes; lab: 3 of 13 runs at 3 s).

Each service of a cluster's component (:func:`iklim.plan.grace.service_components`) is one of:

- a *data member*: its short name is ``<key>-<n>`` (``etcd-2``, ``redis-1``), with ``n`` up to the
  section's ``members``: rolled one at a time, followers first, the leader last after a hand-over;
- a *companion*: a member family of the component with a model section of its own that has
  members (Redis Sentinel: ``services.redis.sentinel``), rolled one at a time after the data
  members, with a health wait between them;
- anything else (exporters, which have no section: :func:`iklim.components.target.section_of`):
  rolled with the stateless services, after every cluster.

The leader is only known at deploy time, so :class:`ClusterRoll` keeps the members in name order and
the runner (:mod:`iklim.deploy.runner`) moves the current leader to the end. Services the plan
removes are not ordered here (``removed``): the deploy's clean-up handles them after a success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from iklim.components.target import section_of, split_member
from iklim.model.catalogue import CATALOGUE, Entry
from iklim.model.schema import Environment
from iklim.plan.diff import Plan, ServicePlan

#: Plan actions that restart a service's task (a metadata-only change restarts nothing).
RESTARTING = frozenset({"rolling-restart", "recreate", "create"})


@dataclass(frozen=True)
class Member:
    """One changed service of a cluster: its full Swarm name, its member name, its plan action."""

    service: str
    member: str
    action: str

    @property
    def restarts(self) -> bool:
        """True when applying it restarts the member's task (its leadership must be handed over first)."""
        return self.action in RESTARTING


@dataclass(frozen=True)
class ClusterRoll:
    """One cluster's changed services: ``members`` (data members, name order) then ``companions``."""

    cluster: str
    label: str
    members: tuple[Member, ...]
    companions: tuple[Member, ...] = ()

    @property
    def services(self) -> tuple[str, ...]:
        """Every changed service of the cluster, data members first (the order :class:`Hooks` get)."""
        return tuple(m.service for m in (*self.members, *self.companions))


@dataclass(frozen=True)
class DeployOrder:
    """The whole order: ``clusters`` in roll order, then ``stateless`` (name order); ``removed``
    services are left to the clean-up."""

    clusters: tuple[ClusterRoll, ...]
    stateless: tuple[Member, ...] = ()
    removed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def services(self) -> tuple[str, ...]:
        """Every service to apply, in order (leaders not yet moved last: that is the runner's)."""
        return tuple(s for c in self.clusters for s in c.services) + tuple(m.service for m in self.stateless)


def cluster_entries(env: Environment) -> tuple[Entry, ...]:
    """The catalogue entries that are clusters in ``env`` (stateful, own section with members > 1),
    in catalogue order."""
    found = []
    for e in CATALOGUE:
        section = getattr(env.services, e.section, None)
        if e.stateful and int(getattr(section, "members", 0) or 0) > 1:
            found.append(e)
    return tuple(found)


def _short(service: str) -> str:
    return service.split("_", 1)[1] if "_" in service else service


def role_of(env: Environment, key: str, service: str) -> str:
    """``member``, ``companion`` or ``stateless`` for ``service`` of cluster component ``key``."""
    family, _ = split_member(_short(service))
    if family == key:
        return "member"
    section = section_of(env, family)
    if section is not None and int(getattr(section, "members", 0) or 0) > 1:
        return "companion"
    return "stateless"


def _by_member(members: Iterable[Member]) -> tuple[Member, ...]:
    return tuple(sorted(members, key=lambda m: (split_member(m.member)[0], split_member(m.member)[1])))


def order_services(env: Environment, changed: Iterable[ServicePlan], components: Mapping[str, str]) -> DeployOrder:
    """The :class:`DeployOrder` of ``changed`` (the plan's services that are not ``unchanged``).

    ``components``: full service name -> catalogue key (:func:`iklim.plan.grace.service_components`);
    a service it does not name (a service the model no longer has) is stateless. Raises nothing.
    """
    clusters = cluster_entries(env)
    keys = {e.key for e in clusters}
    per: dict[str, dict[str, list[Member]]] = {e.key: {"member": [], "companion": []} for e in clusters}
    stateless: list[Member] = []
    removed: list[str] = []
    for plan in changed:
        if plan.action == "unchanged":
            continue
        if plan.action == "remove":
            removed.append(plan.name)
            continue
        item = Member(plan.name, _short(plan.name), plan.action)
        key = components.get(plan.name)
        role = role_of(env, key, plan.name) if key in keys and key is not None else "stateless"
        if role == "stateless":
            stateless.append(item)
        else:
            per[str(key)][role].append(item)
    rolls = tuple(
        ClusterRoll(e.key, e.label, _by_member(per[e.key]["member"]), _by_member(per[e.key]["companion"]))
        for e in clusters
        if per[e.key]["member"] or per[e.key]["companion"]
    )
    return DeployOrder(rolls, tuple(sorted(stateless, key=lambda m: m.service)), tuple(sorted(removed)))


def deploy_order(env: Environment, plan: Plan) -> DeployOrder:
    """:func:`order_services` of ``plan``'s changed services, components from the model's builders."""
    from iklim.plan.grace import service_components

    return order_services(env, plan.changed, service_components(env))


def leader_last(roll: ClusterRoll, leader: str | None) -> tuple[Member, ...]:
    """``roll``'s data members with ``leader`` (a member name; None: unknown) moved to the end."""
    return tuple(m for m in roll.members if m.member != leader) + tuple(m for m in roll.members if m.member == leader)
