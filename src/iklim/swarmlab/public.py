"""The Swarm lab's public side: a public address per node, the outside sources, the firewall.

Hetzner gives each server a public address beside its private one. In the lab:

- the bridge :data:`PUBLIC_BRIDGE` on the host (no address on the host: it only joins namespaces);
- per node a veth ``iklp<n>`` (host side) / :data:`PUBLIC_IF` in the node's namespace, with the
  address :func:`public_address` from :data:`PUBLIC_NET` (203.0.113.0/24, TEST-NET-3, RFC 5737:
  documentation only, never routed) and an on-link route to the admin CIDRs;
- three namespaces standing for sources outside the nodes (:func:`outside`): ``internet`` (an
  arbitrary public address), ``operator`` (an address inside the model's first admin CIDR) and
  ``private-other`` (a machine on the private network outside the app and DB subnets: only it
  shows what the DOCKER-USER rules add, since Hetzner firewalls do not filter the private network);
- the rendered Hetzner firewall on each node's :data:`PUBLIC_IF` (:mod:`.hcloud_fw`).

Everything lives in namespaces the lab creates; ``swarm-lab down`` removes it (:func:`remove`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from iklim.model.schema import Environment
from iklim.swarmlab import hcloud_fw, paths
from iklim.swarmlab.nodes import LabError, LabNode, link_exists, run

PUBLIC_BRIDGE = "iklpub0"
PUBLIC_NET = IPv4Network("203.0.113.0/24")
PUBLIC_IF = "pub0"
#: The rendered firewall, relative to the repository root.
FIREWALL_TF = Path("terraform/hetzner/prod/firewall.tf")
#: The outside namespaces' names (``ikl-<name>``), for teardown without a model.
OUTSIDE_NAMES = ("internet", "operator", "private-other")


@dataclass(frozen=True)
class Outside:
    """A source outside the nodes: ``name``, its namespace, host-side veth, bridge, address
    (with prefix) and extra on-link routes (CIDRs)."""

    name: str
    address: IPv4Interface
    bridge: str
    routes: tuple[str, ...] = ()

    @property
    def namespace(self) -> str:
        return f"{paths.NAMESPACE_PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        return {"internet": "iklpinet", "operator": "iklpop", "private-other": "iklpriv"}[self.name]

    @property
    def ip(self) -> str:
        return str(self.address.ip)


def public_address(node: LabNode) -> IPv4Address:
    """The public address of ``node``: 203.0.113.(10 + its model index)."""
    return PUBLIC_NET.network_address + 10 + node.index


def operator_address(env: Environment) -> IPv4Address:
    """An address inside the model's first admin CIDR (the CIDR's only address for a /32)."""
    cidr = env.network.admin_cidrs[0]
    return cidr.network_address if cidr.num_addresses == 1 else cidr.network_address + 1


def private_other_address(env: Environment) -> IPv4Interface:
    """The first /24 of the private range that is neither the app nor the DB subnet, host .10."""
    net = env.network
    for subnet in net.ip_range.subnets(new_prefix=24):
        if not subnet.overlaps(net.app_subnet) and not subnet.overlaps(net.db_subnet):
            return IPv4Interface(f"{subnet.network_address + 10}/{net.ip_range.prefixlen}")
    raise LabError(f"no /24 in {net.ip_range} outside the app and DB subnets")


def outside(env: Environment) -> list[Outside]:
    """The outside sources of ``env`` (see the module docstring)."""
    return [
        Outside("internet", IPv4Interface(f"{PUBLIC_NET.network_address + 200}/{PUBLIC_NET.prefixlen}"), PUBLIC_BRIDGE),
        Outside("operator", IPv4Interface(f"{operator_address(env)}/32"), PUBLIC_BRIDGE, (str(PUBLIC_NET),)),
        Outside("private-other", private_other_address(env), paths.BRIDGE),
    ]


def _veth_into(namespace: str, host_end: str, bridge: str, inside: str, what: str) -> None:
    if not link_exists(host_end):
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", f"{host_end}n"], what)
        run(["ip", "link", "set", f"{host_end}n", "netns", namespace], what)
        run(["ip", "-n", namespace, "link", "set", f"{host_end}n", "name", inside], what)
        run(["ip", "link", "set", host_end, "master", bridge, "up"], what)
    run(["ip", "-n", namespace, "link", "set", inside, "up"], what)


def ensure(nodes: list[LabNode], env: Environment) -> None:
    """The public bridge, each node's public interface and address, the outside namespaces
    (idempotent; the nodes' namespaces must exist)."""
    if not link_exists(PUBLIC_BRIDGE):
        run(["ip", "link", "add", PUBLIC_BRIDGE, "type", "bridge"], "public bridge")
        run(["ip", "link", "set", PUBLIC_BRIDGE, "up"], "public bridge")
    admin = [str(c) for c in env.network.admin_cidrs]
    for node in nodes:
        if not node.netns_path.exists():
            raise LabError(f"{node.hostname}: no namespace {node.namespace}: iklim swarm-lab up")
        what = f"{node.hostname}: public interface"
        _veth_into(node.namespace, f"iklp{node.index}", PUBLIC_BRIDGE, PUBLIC_IF, what)
        address = f"{public_address(node)}/{PUBLIC_NET.prefixlen}"
        run(["ip", "-n", node.namespace, "addr", "replace", address, "dev", PUBLIC_IF], what)
        for cidr in admin:
            run(["ip", "-n", node.namespace, "route", "replace", cidr, "dev", PUBLIC_IF], what)
    for source in outside(env):
        what = f"{source.name}: namespace"
        if not Path(f"/run/netns/{source.namespace}").exists():
            run(["ip", "netns", "add", source.namespace], what)
        inside = PUBLIC_IF if source.bridge == PUBLIC_BRIDGE else "eth0"
        _veth_into(source.namespace, source.veth, source.bridge, inside, what)
        run(["ip", "-n", source.namespace, "addr", "replace", str(source.address), "dev", inside], what)
        run(["ip", "-n", source.namespace, "link", "set", "lo", "up"], what)
        for cidr in source.routes:
            run(["ip", "-n", source.namespace, "route", "replace", cidr, "dev", inside], what)


def apply_firewall(nodes: list[LabNode], firewall_tf: Path) -> dict[str, int]:
    """Apply the firewalls of ``firewall_tf`` to each node's :data:`PUBLIC_IF` (replacing what the
    lab applied before); returns hostname -> number of iptables rules (0: no firewall applies, so
    none is installed, as on Hetzner). Raises :class:`hcloud_fw.FirewallError` or :class:`LabError`."""
    firewalls = hcloud_fw.read_firewalls(firewall_tf, {n.hostname: dict(n.labels) for n in nodes})
    counts = {}
    for node in nodes:
        rules = hcloud_fw.rules_for(node.hostname, firewalls)
        remove_firewall(node)
        if rules is None:
            counts[node.hostname] = 0
            continue
        payload = hcloud_fw.restore_payload(rules)
        proc = _in_ns(node.namespace, ["iptables-restore", "--noflush"], payload)
        if proc.returncode != 0:
            raise LabError(f"{node.hostname}: iptables-restore of {firewall_tf}: {proc.stderr.strip()}")
        jump = ["iptables", "-t", hcloud_fw.TABLE, "-I", "PREROUTING", "1", *hcloud_fw.jump_rule(PUBLIC_IF)]
        run(["ip", "netns", "exec", node.namespace, *jump], f"{node.hostname}: firewall")
        counts[node.hostname] = payload.count("\n-A ")
    return counts


def remove_firewall(node: LabNode) -> None:
    """Remove the lab's Hetzner firewall from ``node`` (the jump, then the chain); idempotent."""
    check = ["iptables", "-t", hcloud_fw.TABLE, "-D", "PREROUTING", *hcloud_fw.jump_rule(PUBLIC_IF)]
    while run(["ip", "netns", "exec", node.namespace, *check], "firewall", check=False).returncode == 0:
        pass
    for op in ("-F", "-X"):
        run(["ip", "netns", "exec", node.namespace, "iptables", "-t", hcloud_fw.TABLE, op, hcloud_fw.CHAIN],
            "firewall", check=False)  # fmt: skip


def _in_ns(namespace: str, argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], input=stdin, capture_output=True, text=True)


def remove() -> list[str]:
    """Delete the outside namespaces and the public bridge (the nodes' public veths go with the
    nodes' namespaces); returns what was removed."""
    removed = []
    for name in OUTSIDE_NAMES:
        namespace = f"{paths.NAMESPACE_PREFIX}{name}"
        if Path(f"/run/netns/{namespace}").exists():
            run(["ip", "netns", "del", namespace], f"{name}: netns", check=False)
            removed.append(f"netns {namespace}")
    for link in ("iklpinet", "iklpop", "iklpriv", PUBLIC_BRIDGE):
        if link_exists(link):
            run(["ip", "link", "del", link], f"link {link}", check=False)
            removed.append(f"link {link}")
    return removed


def leftovers() -> list[str]:
    """The public side's namespaces and links that still exist (empty = clean)."""
    left = [f"netns {paths.NAMESPACE_PREFIX}{n}" for n in OUTSIDE_NAMES
            if Path(f"/run/netns/{paths.NAMESPACE_PREFIX}{n}").exists()]  # fmt: skip
    return left + [f"link {name}" for name in ("iklpinet", "iklpop", "iklpriv", PUBLIC_BRIDGE) if link_exists(name)]
