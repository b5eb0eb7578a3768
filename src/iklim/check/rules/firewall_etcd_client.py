"""The DB nodes' firewall lets the app subnet reach etcd's client port 2379.

APISIX on the service nodes reaches the DB nodes' etcd. The ``hcloud_firewall`` applied to DB
nodes (by ``apply_to`` server or label selector, not by its name) needs an inbound TCP rule for
port 2379 (alone or in a range) whose ``source_ips`` cover the app subnet (from the model, else
the ``hcloud_network_subnet`` named app/service). When firewalls exist but none applies to the
DB nodes, that is one finding.

Failing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "5432"
        source_ips = ["10.0.1.0/24"]
      }
    }

Passing example (terraform/hetzner/prod/firewall.tf)::

    locals {
      etcd_clients = ["10.0.1.0/24"]
    }
    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      dynamic "rule" {
        for_each = { etcd = "2379" }
        content {
          direction  = "in"
          protocol   = "tcp"
          port       = rule.value
          source_ips = local.etcd_clients
        }
      }
    }
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.firewall import firewalls, inbound, within
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    port = policy.etcd_client_port
    app = policy.app_subnet
    walls = list(firewalls(docs, policy))
    db_walls = [fw for fw in walls if "db" in fw.roles]
    if walls and not db_walls and all(fw.known for fw in walls):
        first = walls[0]
        names = ", ".join(repr(fw.name) for fw in walls)
        yield RULE.at(
            first.path,
            (first.block.line, first.block.column),
            f"no hcloud_firewall applies to the DB nodes ({names} apply to none of them): apply one to them "
            f"(apply_to server or label_selector) with an inbound rule for tcp port {port} from "
            f"{app or 'the app subnet'}",
            scope=first.block.line,
        )
    for fw in db_walls:
        ok = False
        rules = list(inbound(fw))
        for rule in rules:
            if not rule.covers(port):
                continue
            if app is None or any(within(app, (src,)) for src, _ in rule.sources):
                ok = True
        if not ok and all(rule.known for rule in rules):  # an unknown rule is a warning already
            source = app or "the app subnet"
            yield RULE.at(
                fw.path,
                (fw.block.line, fw.block.column),
                f"add an inbound rule to firewall {fw.name!r}: tcp port {port} from {source} "
                "(APISIX reaches etcd on the DB nodes)",
                scope=fw.block.line,
            )


RULE = Rule("firewall-etcd-client", Severity.ERROR, __doc__ or "", check)
