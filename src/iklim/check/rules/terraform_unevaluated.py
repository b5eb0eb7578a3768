"""Terraform values the firewall rules depend on can be evaluated before ``terraform apply``.

``iklim check`` evaluates literals, ``local.*``, variables' defaults, ``for`` expressions, common
pure functions and ``dynamic "rule"`` blocks over such values. A firewall rule, a ``dynamic``
``for_each`` or an ``apply_to`` whose value is known only when terraform runs (a variable without
default, a data source attribute) cannot be checked: this warning says which, where.

Failing example (terraform/hetzner/prod/firewall.tf)::

    variable "nodes" {}
    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "2379"
        source_ips = [for n in var.nodes : "${n}/32"]
      }
    }

Passing example (terraform/hetzner/prod/firewall.tf)::

    variable "nodes" {
      default = ["10.0.1.5", "10.0.1.6"]
    }
    resource "hcloud_firewall" "db" {
      apply_to {
        label_selector = "type=db"
      }
      rule {
        direction  = "in"
        protocol   = "tcp"
        port       = "2379"
        source_ips = [for n in var.nodes : "${n}/32"]
      }
    }
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.firewall import expand, firewalls, target_notes
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    notes = list(target_notes(docs, policy))
    for fw in firewalls(docs, policy):
        notes.extend(expand(fw)[1])
    for path, pos, message in dict.fromkeys(notes):
        yield RULE.at(path, pos, message)


RULE = Rule("terraform-unevaluated", Severity.WARNING, __doc__ or "", check)
