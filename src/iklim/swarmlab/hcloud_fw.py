"""The rendered Hetzner Cloud firewall, applied in the Swarm lab as iptables rules on each node's
public interface, read from ``terraform/hetzner/prod/firewall.tf`` itself (never a second copy).

Reading: the HCL parser and rule evaluation of ``iklim check`` (:mod:`iklim.check.hcl`,
:func:`iklim.check.firewall.expand`): ``rule`` blocks and ``dynamic "rule"`` blocks, locals and
variable defaults. A firewall applies to the servers of its ``apply_to`` blocks: ``server =
data.hcloud_server.N.id`` (followed to the data source's ``name``) or ``label_selector = "k=v"``
(matched against the model nodes' labels). What cannot be evaluated raises
:class:`FirewallError`: a firewall the lab cannot read is never applied half.

Behaviour (Hetzner Cloud docs, "Firewalls: Overview"): firewalls filter inbound traffic on the
public interface only, never the private network; they are stateful (replies to allowed or
outbound connections pass); a server with at least one firewall drops every inbound packet that
no ``in`` rule allows; several firewalls on one server add up. Outbound rules are not modelled
(the rendered firewall has none, which Hetzner reads as "allow all outbound").

Translation: one chain :data:`CHAIN` in the ``mangle`` table of the node's namespace, jumped to
from ``PREROUTING -i <public interface>``, so it sees a packet before Docker's DNAT of a
host-mode port (the ``nat`` table) and before ``INPUT``/``FORWARD``, as Hetzner's filter sits
in front of the server. Every rule carries the comment :data:`COMMENT` (``removal`` finds them).
IPv6 sources are skipped: the lab's public network is IPv4 only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iklim.check.findings import InputError
from iklim.check.firewall import Firewall, expand
from iklim.check.firewall_targets import Module
from iklim.check.hcl import Block, Expr, load_hcl
from iklim.check.hcl_eval import Scope, Unevaluated, evaluate

CHAIN = "IKLIM-HCLOUD"
COMMENT = "iklim-swarmlab-hcloud"
TABLE = "mangle"


class FirewallError(ValueError):
    """The firewall file cannot be applied as written; one line with ``file:line``."""


@dataclass(frozen=True)
class InRule:
    """One inbound rule: ``protocol`` (tcp/udp/icmp/gre/esp), ``ports`` (low, high) or None for
    any/none, ``sources`` IPv4 CIDRs, ``description``, from firewall ``firewall``."""

    firewall: str
    protocol: str
    ports: tuple[int, int] | None
    sources: tuple[str, ...]
    description: str

    def allows(self, source: str, protocol: str, port: int) -> bool:
        """Whether a packet from ``source`` (an IPv4 address) to ``protocol``/``port`` matches."""
        if protocol != self.protocol or (self.ports is not None and not self.ports[0] <= port <= self.ports[1]):
            return False
        ip = ipaddress.IPv4Address(source)
        return any(ip in ipaddress.IPv4Network(cidr) for cidr in self.sources)


@dataclass(frozen=True)
class NodeFirewall:
    """A ``hcloud_firewall``: its ``name`` label, the hostnames it applies to, its inbound rules."""

    name: str
    servers: frozenset[str]
    rules: tuple[InRule, ...]


def _where(path: str, block: Block) -> str:
    return f"{path}:{block.line}"


def _servers(path: str, fw: Block, module: Module, labels: Mapping[str, Mapping[str, str]]) -> set[str]:
    found: set[str] = set()
    for apply_to in fw.children("apply_to"):
        try:
            if "server" in apply_to.attrs:
                ref = str(apply_to.attrs["server"])
                match = re.fullmatch(r"(data\.)?hcloud_server\.([\w-]+)\.id", ref)
                target = module.find("data" if match and match.group(1) else "resource", "hcloud_server",
                                     match.group(2)) if match else None  # fmt: skip
                if target is None or "name" not in target[1].attrs:
                    raise FirewallError(f"{_where(path, apply_to)}: server = {ref}: no hcloud_server with a name")
                found.add(str(evaluate(target[1].attrs["name"], module.scope)))
            if "label_selector" in apply_to.attrs:
                selector = str(evaluate(apply_to.attrs["label_selector"], module.scope))
                found.update(host for host, node_labels in labels.items() if _selects(selector, node_labels))
        except Unevaluated as exc:
            raise FirewallError(f"{path}:{exc.pos[0]}: apply_to {exc.what} cannot be evaluated ({exc.why})") from exc
    return found


def _selects(selector: str, labels: Mapping[str, str]) -> bool:
    """Hetzner label selectors: ``k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, joined by ``,``."""
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            inside = labels.get(m.group(1)) in [v.strip() for v in m.group(3).split(",")]
            if inside != (m.group(2) == "in"):
                return False
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term):
            if (labels.get(m.group(1)) == m.group(3)) != (m.group(2) != "!="):
                return False
        elif m := re.fullmatch(r"(!?)([\w./-]+)", term):
            if (m.group(2) in labels) == bool(m.group(1)):
                return False
        else:
            raise FirewallError(f"label selector {selector!r}: cannot read {term!r}")
    return True


def read_firewalls(path: Path, labels: Mapping[str, Mapping[str, str]]) -> list[NodeFirewall]:
    """Every ``hcloud_firewall`` of the file at ``path``; ``labels``: hostname -> the model node's labels.

    Raises :class:`FirewallError` (invalid HCL, a rule or target that cannot be evaluated).
    """
    shown = str(path)
    try:
        blocks = load_hcl(path.read_text(), shown)
    except InputError as exc:
        raise FirewallError(str(exc)) from exc
    except OSError as exc:
        raise FirewallError(f"{shown}: {exc.strerror}") from exc
    module = Module([(shown, b) for b in blocks], Scope(blocks))
    result = []
    for _, block in module.resources("hcloud_firewall"):
        name = block.labels[1] if len(block.labels) > 1 else ""
        rules, notes = expand(Firewall(shown, name, frozenset(), True, block, module))
        if notes:
            where, pos, what = notes[0]
            raise FirewallError(f"{where}:{pos[0]}: {what}")
        servers = _servers(shown, block, module, labels)
        translated = []
        for rule in rules:
            description = block_description(rule.block, module.scope)
            v4 = tuple(s for s, _ in rule.sources if ":" not in s)
            ports = rule.ports if rule.protocol in ("tcp", "udp") else None
            if ports == (1, 65535):
                ports = None
            translated.append(InRule(name, rule.protocol, ports, v4, description))
        result.append(NodeFirewall(name, frozenset(servers), tuple(translated)))
    return result


def block_description(block: Block, scope: Scope) -> str:
    value = block.attrs.get("description")
    if value is None:
        return ""
    try:
        return str(evaluate(value, scope)) if isinstance(value, Expr) else str(value)
    except Unevaluated:
        return str(value)


def rules_for(hostname: str, firewalls: list[NodeFirewall]) -> list[InRule] | None:
    """The inbound rules of every firewall applied to ``hostname``; None when none applies
    (Hetzner then filters nothing)."""
    applied = [fw for fw in firewalls if hostname in fw.servers]
    return [rule for fw in applied for rule in fw.rules] if applied else None


def restore_payload(rules: list[InRule]) -> str:
    """The ``iptables-restore --noflush`` input that (re)defines :data:`CHAIN` with ``rules``:
    established/related first, one ``RETURN`` per rule and IPv4 source, then ``DROP``."""
    tag = f"-m comment --comment {COMMENT}"
    lines = [f"*{TABLE}", f":{CHAIN} - [0:0]", f"-A {CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED {tag} -j RETURN"]
    for rule in rules:
        match = f"-p {rule.protocol}"
        if rule.ports is not None:
            low, high = rule.ports
            match += f" --dport {low}" if low == high else f" --dport {low}:{high}"
        text = f"{COMMENT}: {rule.firewall}: {rule.description}".replace('"', "'")[:250]
        note = f'"{text}"'
        lines += [f"-A {CHAIN} -s {source} {match} -m comment --comment {note} -j RETURN" for source in rule.sources]
    lines += [f"-A {CHAIN} {tag} -j DROP", "COMMIT", ""]
    return "\n".join(lines)


def jump_rule(interface: str) -> list[str]:
    """The ``PREROUTING`` rule (iptables arguments after ``-t mangle -X PREROUTING``) sending
    ``interface``'s inbound packets to :data:`CHAIN`."""
    return ["-i", interface, "-m", "comment", "--comment", COMMENT, "-j", CHAIN]
