"""No firewall rule opens Redis (6379) or Sentinel (26379), not even through a range.

Redis and Sentinel are overlay-only: nothing outside the swarm's overlay network talks to them,
so no ``hcloud_firewall`` inbound rule may open 6379 or 26379, alone, in a range
(``"6000-7000"``) or as ``"any"``.

Failing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "app" {
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "6000-7000"
        source_ips = ["10.0.1.0/24"]
      }
    }

Passing example (terraform/hetzner/prod/firewall.tf)::

    resource "hcloud_firewall" "app" {
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "443"
        source_ips = ["0.0.0.0/0", "::/0"]
      }
    }
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.firewall import firewalls, inbound
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for fw in firewalls(docs, policy):
        for rule in inbound(fw):
            opened = [p for p in policy.redis_ports if rule.covers(p, rule.protocol)]
            if opened:
                yield RULE.at(
                    fw.path,
                    rule.port_pos(),
                    f"this rule opens Redis/Sentinel port(s) "
                    f"{', '.join(map(str, opened))}: Redis is overlay-only, narrow or remove it",
                    scope=rule.block.line,
                )


RULE = Rule("firewall-no-redis", Severity.ERROR, __doc__ or "", check)
