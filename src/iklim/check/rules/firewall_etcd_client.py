"""The DB nodes' firewall lets the app subnet reach etcd's client port 2379.

APISIX on the service nodes reaches the DB nodes' etcd. The ``hcloud_firewall`` applied to DB
nodes needs an inbound TCP rule for port 2379 (alone or in a range) whose ``source_ips`` cover
the app subnet (from the model, else the ``hcloud_network_subnet`` named app/service).

Failing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "db" {
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "5432"
        source_ips = ["10.0.1.0/24"]
      }
    }

Passing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "db" {
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "2379"
        source_ips = ["10.0.1.0/24"]
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
    for fw in firewalls(docs):
        if fw.role != "db":
            continue
        ok = False
        for rule in inbound(fw):
            if not rule.covers(port):
                continue
            if app is None or any(within(app, (src,)) for src, _ in rule.sources):
                ok = True
        if not ok:
            source = app or "the app subnet"
            yield RULE.at(
                fw.path,
                (fw.block.line, fw.block.column),
                f"add an inbound rule to firewall {fw.name!r}: tcp port {port} from {source} "
                "(APISIX reaches etcd on the DB nodes)",
                scope=fw.block.line,
            )


RULE = Rule("firewall-etcd-client", Severity.ERROR, __doc__ or "", check)
