"""Policy parameters: the seed's values, the model's and the tree's (``policyfile.resolve`` adds
the check config's and a policy file's on top).

The model (``environments/prod.yaml``) is read as plain YAML, not through pydantic, so that
``iklim check`` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from iklim.check.documents import Documents
from iklim.check.nodes import SwarmNode, nodes_from_model
from iklim.model.paths import DEFAULT_ENV, find_upward

SEED_MEMBERS = {
    "apisix": 3,
    "rabbitmq": 3,
    "sentinel": 3,
    "patroni": 3,
    "mongodb": 3,
    "etcd": 3,
    "vault": 3,
    "prometheus": 1,
    "grafana": 1,
    "alertmanager": 1,  # not the seed's: the notification path issue 15 adds
}


@dataclass(frozen=True)
class Policy:
    """The parameters the rules check against.

    Seed policy (true of any tree): the node labels ``type == db|service``, the etcd aliases
    ``etcd-01..03`` APISIX reaches etcd by, APISIX's etcd prefix and Patroni's namespace, the
    member counts, Grafana's StorageBox path, the engines' own ports. Names the model merely
    chose (the overlay network's name, stack names, service names) are not parameters: rules
    find those structurally. Node names come from the model's nodes; ``*_node_prefix`` (the
    seed's naming) is used only without a model.
    """

    members: dict[str, int] = field(default_factory=lambda: dict(SEED_MEMBERS))
    app_subnet: str | None = None
    db_subnet: str | None = None
    private_cidrs: tuple[str, ...] = ()
    admin_cidrs: tuple[str, ...] = ()  # the operators' addresses (the model's network.admin_cidrs)
    apisix_prefix: str = "/apisix"
    patroni_namespace: str = "/service"
    etcd_aliases: tuple[str, ...] = ("etcd-01", "etcd-02", "etcd-03")
    type_label: str = "node.labels.type"
    db_label: str = "db"
    service_label: str = "service"
    # The seed's node naming; used only when neither the model nor the tree names the nodes.
    db_node_prefix: str = "iklim-db-"
    app_node_prefix: str = "iklim-app-"
    db_hosts: tuple[str, ...] = ()  # the model's nodes labelled type=db
    app_hosts: tuple[str, ...] = ()  # the model's nodes labelled type=service
    nodes: tuple[SwarmNode, ...] = ()  # the model's nodes; empty when no model is read
    grafana_env: str = "GRAFANA_DATA_DIR"
    grafana_path: str = "/mnt/storagebox/grafana/data"
    grafana_target: str = "/var/lib/grafana"
    prometheus_target: str = "/prometheus"
    etcd_client_port: int = 2379
    redis_ports: tuple[int, ...] = (6379, 26379)
    db_ports: tuple[int, ...] = (2379, 2380, 5432, 8008, 27017)
    # cluster (tls.clusters key) -> the model's reason for keeping it plaintext (issue 17)
    tls_plaintext: dict[str, str] = field(default_factory=dict)
    # rule ID -> option -> value, from the check config's ``rules:`` (not a --policy parameter)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def db_host(self, hostname: str) -> bool:
        """Whether ``hostname`` (a ``node.hostname`` constraint value) is a DB node."""
        if self.db_hosts or self.app_hosts:
            return hostname.lower() in (h.lower() for h in self.db_hosts)
        return hostname.lower().startswith(self.db_node_prefix.lower())

    def app_host(self, hostname: str) -> bool:
        """Whether ``hostname`` (a ``node.hostname`` constraint value) is a service node."""
        if self.db_hosts or self.app_hosts:
            return hostname.lower() in (h.lower() for h in self.app_hosts)
        return hostname.lower().startswith(self.app_node_prefix.lower())

    def private(self) -> tuple[str, ...]:
        """The private subnets; the RFC 1918 ranges when neither model nor tree names them."""
        named = tuple(c for c in (self.app_subnet, self.db_subnet) if c) + self.private_cidrs
        return named or ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def find_model(paths: list[str]) -> str | None:
    """``environments/prod.yaml`` in the first path's directory or above it."""
    return find_upward(paths, DEFAULT_ENV)


def from_model(policy: Policy, path: str) -> Policy:
    from iklim.check.documents import display, read_input
    from iklim.check.yamlload import load_yaml

    shown = display(path)
    model = load_yaml(read_input(path, shown), shown)
    services = _get(model, "services")
    members = dict(policy.members)
    for kind, key in (
        ("apisix", "apisix"),
        ("rabbitmq", "rabbitmq"),
        ("patroni", "patroni"),
        ("mongodb", "mongodb"),
        ("etcd", "etcd"),
        ("vault", "vault"),
        ("prometheus", "prometheus"),
        ("grafana", "grafana"),
        ("alertmanager", "alertmanager"),
        ("redis", "redis"),
    ):
        value = _get(services, key, "members")
        if isinstance(value, int) and not isinstance(value, bool):
            members[kind] = value
    sentinel = _get(services, "redis", "sentinel", "members")
    if isinstance(sentinel, int) and not isinstance(sentinel, bool):
        members["sentinel"] = sentinel
    changes: dict[str, Any] = {"members": members}
    for name, keys in (
        ("app_subnet", ("network", "app_subnet")),
        ("db_subnet", ("network", "db_subnet")),
        ("apisix_prefix", ("services", "apisix", "etcd_prefix")),
        ("patroni_namespace", ("services", "patroni", "namespace")),
        ("grafana_env", ("services", "grafana", "volume", "env")),
        ("grafana_path", ("services", "grafana", "volume", "path")),
        ("grafana_target", ("services", "grafana", "volume", "target")),
        ("prometheus_target", ("services", "prometheus", "volume", "target")),
    ):
        value = _get(model, *keys)
        if isinstance(value, str) and value:
            changes[name] = value
    hosts: dict[str, list[str]] = {policy.db_label: [], policy.service_label: []}
    nodes = _get(model, "nodes")
    for node in nodes if isinstance(nodes, list) else []:
        name, label = _get(node, "name"), _get(node, "labels", policy.type_label.rsplit(".", 1)[-1])
        if isinstance(name, str) and isinstance(label, str) and label in hosts:
            hosts[label].append(name)
    changes["nodes"] = nodes_from_model(nodes, policy.type_label.rsplit(".", 1)[-1])
    if any(hosts.values()):
        changes["db_hosts"] = tuple(hosts[policy.db_label])
        changes["app_hosts"] = tuple(hosts[policy.service_label])
    admin = _get(model, "network", "admin_cidrs")
    if isinstance(admin, list) and all(isinstance(a, str) for a in admin):
        changes["admin_cidrs"] = tuple(admin)
    aliases = _get(services, "etcd", "aliases")
    if isinstance(aliases, list) and aliases and all(isinstance(a, str) for a in aliases):
        changes["etcd_aliases"] = tuple(aliases)
    changes["tls_plaintext"] = _tls_plaintext(model)
    return replace(policy, **changes, **_model_ports(services, policy))


def _tls_plaintext(model: Any) -> dict[str, str]:
    """cluster -> reason for each ``tls.clusters.<cluster>`` the model keeps ``mode: plaintext``
    with a non-empty reason (the model's loader refuses plaintext without one)."""
    found: dict[str, str] = {}
    clusters = _get(model, "tls", "clusters")
    for name, choice in clusters.items() if isinstance(clusters, dict) else ():
        reason = _get(choice, "reason")
        if _get(choice, "mode") == "plaintext" and isinstance(reason, str) and reason.strip():
            found[str(name)] = reason.strip()
    return found


def _port_numbers(services: Any, component: str) -> dict[str, int]:
    """name -> number of the model's ``ports`` of ``component`` (entries of another shape skipped)."""
    found: dict[str, int] = {}
    entries = _get(services, component, "ports")
    for entry in entries if isinstance(entries, list) else []:
        name, number = _get(entry, "name"), _get(entry, "port")
        if isinstance(name, str) and isinstance(number, int) and not isinstance(number, bool):
            found.setdefault(name, number)
    return found


def _model_ports(services: Any, policy: Policy) -> dict[str, Any]:
    """The etcd client port and the DB ports by the model's ``ports`` (issue 13: one source)."""
    changes: dict[str, Any] = {}
    etcd = _port_numbers(services, "etcd")
    if "client" in etcd:
        changes["etcd_client_port"] = etcd["client"]
    numbers = [n for c in ("etcd", "patroni", "mongodb") for n in _port_numbers(services, c).values()]
    if numbers:
        changes["db_ports"] = tuple(dict.fromkeys(numbers))
    return changes


def from_tree(policy: Policy, docs: Documents) -> Policy:
    """Subnets from ``hcloud_network_subnet`` resources named app/service and db."""
    changes: dict[str, Any] = {}
    for _, block in docs.resources("hcloud_network_subnet"):
        name = block.labels[1] if len(block.labels) > 1 else ""
        ip_range = block.attrs.get("ip_range")
        if not isinstance(ip_range, str):
            continue
        if name in ("app", "apps", "service", "services") and policy.app_subnet is None:
            changes["app_subnet"] = ip_range
        elif name == "db" and policy.db_subnet is None:
            changes["db_subnet"] = ip_range
    return replace(policy, **changes)
