"""Host-mode ports have a firewall rule; DB and etcd ports stay inside the private subnets.

A port published with ``mode: host`` is reachable only if the firewall of the nodes it runs on
(DB components: the firewall applied to DB nodes; others: the one applied to app nodes) has an
inbound rule for it. A rule that opens a DB or etcd port (2379, 2380, 5432, 8008, 27017 and the DB
services' host ports) may only admit sources inside the private subnets. A service on the node's
``host`` network publishes every port it listens on in host mode (:mod:`iklim.check.publish`).
Redis, Sentinel and RabbitMQ get no "add a rule" advice: they must publish nothing (``overlay-only``).

Failing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      dynamic "rule" {
        for_each = ["2379", "5432"]
        content {
          direction  = "in"
          protocol   = "tcp"
          port       = rule.value
          source_ips = ["0.0.0.0/0"]
        }
      }
    }

Passing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "5432"
        source_ips = ["10.0.1.0/24", "10.0.2.0/24"]
      }
    }
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import DB_KINDS
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.firewall import firewalls, inbound, within
from iklim.check.policy import Policy
from iklim.check.publish import OVERLAY_ONLY, published
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    walls = list(firewalls(docs, policy))
    if not walls:
        return
    rules = {id(fw): list(inbound(fw)) for fw in walls}
    db_ports = set(policy.db_ports)
    for ref in docs.services():
        role = "db" if ref.kind in DB_KINDS else "app"
        exposed = list(published(ref))
        if ref.kind in DB_KINDS:
            db_ports.update(p.published[0] for p in exposed if p.mode == "host" and p.published)
        candidates = [fw for fw in walls if role in fw.roles] or [fw for fw in walls if not fw.roles]
        for port in exposed:
            if port.mode != "host" or port.published is None or ref.kind in OVERLAY_ONLY:
                continue
            for number in range(port.published[0], min(port.published[1], port.published[0] + 64) + 1):
                covered = any(
                    r.covers(number, port.protocol) or not r.known for fw in candidates for r in rules[id(fw)]
                )
                if not covered:
                    names = ", ".join(repr(fw.name) for fw in candidates) or f"the {role} nodes' firewall"
                    yield RULE.on(
                        ref,
                        port.pos,
                        f"host-mode port {number}/{port.protocol} has no inbound rule "
                        f"in {names}: add one for the clients that need it",
                    )
                    break
    private = policy.private()
    for fw in walls:
        for rule in rules[id(fw)]:
            if rule.ports is None or not any(rule.covers(p, rule.protocol) for p in sorted(db_ports)):
                continue
            opened = sorted(p for p in db_ports if rule.covers(p, rule.protocol))
            for source, pos in rule.sources:
                if within(source, private) is False:
                    yield RULE.at(
                        fw.path,
                        pos,
                        f"rule opens DB/etcd port(s) {', '.join(map(str, opened))} to "
                        f"{source}: admit only the private subnets ({', '.join(private)})",
                        scope=rule.block.line,
                    )


RULE = Rule("firewall-host-ports", Severity.ERROR, __doc__ or "", check)
