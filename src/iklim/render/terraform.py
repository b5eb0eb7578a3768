"""The Hetzner network and firewall (``terraform/hetzner/prod/*.tf``), from the model.

Firewall model: the DB firewall opens every host-mode DB port to the private subnets only, with
the app -> DB etcd client rule spelled out; the app firewall opens SWAG's 80/443 to the world and
RabbitMQ's ports to the app subnet. Redis and Sentinel get no rule at all. Swarm's own ports are
private. SSH comes only from the admin CIDRs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from iklim.components.base import header
from iklim.components.quoting import hcl_string
from iklim.components.rabbitmq import AMQP_PORT, DIST_PORT, EPMD_PORT, MANAGEMENT_PORT, PROMETHEUS_PORT
from iklim.model.ports import port_spec
from iklim.model.schema import Component, Environment, Placement

NETWORK_PATH = "terraform/hetzner/prod/network.tf"
FIREWALL_PATH = "terraform/hetzner/prod/firewall.tf"
PUBLIC = ("0.0.0.0/0", "::/0")
SWARM_PORTS = (
    ("tcp", 2377, "Swarm cluster management"),
    ("tcp", 7946, "Swarm node gossip"),
    ("udp", 7946, "Swarm node gossip"),
    ("udp", 4789, "Swarm overlay (VXLAN)"),
)


@dataclass(frozen=True)
class Rule:
    protocol: str
    port: int
    sources: tuple[str, ...]
    description: str


def _block(kind: str, attrs: list[tuple[str, str]], indent: str = "  ") -> str:
    width = max(len(k) for k, _ in attrs)
    body = "".join(f"{indent}  {k.ljust(width)} = {v}\n" for k, v in attrs)
    return f"{indent}{kind} {{\n{body}{indent}}}\n"


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(hcl_string(v) for v in values) + "]"


def _db_rules(env: Environment) -> list[Rule]:
    app, db = str(env.network.app_subnet), str(env.network.db_subnet)
    client = port_spec(env.services.etcd, "client")
    what = "etcd client: APISIX from the app subnet, Patroni from the DB subnet"
    rules = [Rule(client.protocol, client.port, (app, db), what)]
    for name, spec in env.services:
        assert isinstance(spec, Component)
        if spec.placement is not Placement.DB:
            continue
        for port in spec.ports:
            if port.mode == "host" and port is not client:
                sources = (db,) if name == "etcd" else (app, db)
                rules.append(Rule(port.protocol, port.port, sources, f"{name} {port.name} (host mode), private only"))
    return rules


def _app_rules(env: Environment) -> list[Rule]:
    app, private = str(env.network.app_subnet), (str(env.network.app_subnet), str(env.network.db_subnet))
    rules = []
    for name, spec in env.services:
        assert isinstance(spec, Component)
        if spec.placement is not Placement.SERVICE:
            continue
        for port in spec.ports:
            if port.public:
                rules.append(Rule(port.protocol, port.port, PUBLIC, f"{name} {port.name} (public entry point)"))
            elif port.mode == "host":
                rules.append(Rule(port.protocol, port.port, private, f"{name} {port.name} (host mode), private only"))
    for number, what in (
        (AMQP_PORT, "AMQP"),
        (MANAGEMENT_PORT, "management"),
        (PROMETHEUS_PORT, "metrics"),
        (DIST_PORT, "inter-node"),
        (EPMD_PORT, "epmd"),
    ):
        rules.append(Rule("tcp", number, (app,), f"RabbitMQ {what}, app subnet only"))
    return rules


def _common(env: Environment) -> list[Rule]:
    private = (str(env.network.app_subnet), str(env.network.db_subnet))
    admin = tuple(str(c) for c in env.network.admin_cidrs)
    return [
        Rule("tcp", 22, admin, "SSH from the operations bastion"),
        *(Rule(proto, port, private, f"{what}, private only") for proto, port, what in SWARM_PORTS),
    ]


def server_ref(node: str) -> str:
    """The terraform name of the ``hcloud_server`` data source of model node ``node``.

    Always an HCL identifier, whatever ``node`` holds (the schema already limits node names to
    ``[a-z0-9-]``; anything else is replaced and a digest of the name keeps references distinct).
    """
    ident = re.sub(r"[^A-Za-z0-9_]", "_", node.replace("-", "_"))
    if ident != node.replace("-", "_"):
        ident += "_" + hashlib.sha256(node.encode()).hexdigest()[:8]
    return "node_" + ident


def _servers(env: Environment) -> str:
    return "".join(
        f'data "hcloud_server" "{server_ref(n.name)}" {{\n  name = {hcl_string(n.name)}\n}}\n\n' for n in env.nodes
    )


def _firewall(env: Environment, key: str, role: Placement, rules: list[Rule]) -> str:
    text = f'resource "hcloud_firewall" "{key}" {{\n  name = {hcl_string(f"iklim-{env.name}-{key}")}\n\n'
    for node in env.nodes:
        if node.role is role:
            text += _block("apply_to", [("server", f"data.hcloud_server.{server_ref(node.name)}.id")])
    for rule in rules:
        text += "\n" + _block(
            "rule",
            [
                ("description", hcl_string(rule.description)),
                ("direction", '"in"'),
                ("protocol", hcl_string(rule.protocol)),
                ("port", hcl_string(rule.port)),
                ("source_ips", _list(rule.sources)),
            ],
        )
    return text + "}\n"


def firewall_tf(env: Environment) -> str:
    return (
        header("#")
        + "# Hetzner Cloud firewalls do not filter private-network traffic: the host-mode DB ports are\n"
        + "# also restricted on the nodes by DOCKER-USER rules (init/hosts/{db,app}-docker-user.sh).\n#\n"
        + "# Each firewall is attached to its role's nodes of the model, looked up by name (data\n"
        + "# hcloud_server): nothing to label by hand, and `terraform plan` fails while a node of the\n"
        + "# model does not exist, instead of applying a firewall that protects nothing.\n\n"
        + _servers(env)
        + _firewall(env, "db", Placement.DB, _db_rules(env) + _common(env))
        + "\n"
        + _firewall(env, "app", Placement.SERVICE, _app_rules(env) + _common(env))
    )


def network_tf(env: Environment) -> str:
    net = env.network
    text = header("#") + f'resource "hcloud_network" "private" {{\n  name     = {hcl_string(net.name)}\n'
    text += f"  ip_range = {hcl_string(net.ip_range)}\n}}\n"
    for key, subnet in (("app", net.app_subnet), ("db", net.db_subnet)):
        text += (
            f'\nresource "hcloud_network_subnet" "{key}" {{\n'
            "  network_id   = hcloud_network.private.id\n"
            '  type         = "cloud"\n'
            f"  network_zone = {hcl_string(net.network_zone)}\n"
            f"  ip_range     = {hcl_string(subnet)}\n"
            "}\n"
        )
    return text


def private_host_ports(env: Environment, placement: Placement) -> list[tuple[str, int]]:
    """(protocol, port) of every non-public host-mode port published on ``placement`` nodes."""
    found: list[tuple[str, int]] = []
    for _, spec in env.services:
        assert isinstance(spec, Component)
        if spec.placement is placement:
            found.extend((p.protocol, p.port) for p in spec.ports if p.mode == "host" and not p.public)
    return found
