"""Placement constraints are ones Swarm accepts and can match.

``docker stack deploy`` refuses ``deploy.placement.constraints`` given as a string (the compose
schema wants a list of strings), and the Swarm manager refuses a service whose constraint it
cannot parse: a quoted value (``node.labels.type == "db"``), a missing operator, an empty value,
a key or value with characters outside swarmkit's patterns. A constraint on an attribute Swarm
does not know (``node.label.type``, ``node.name``) parses but matches no node, so the service
never starts. Such a constraint never counts as a pin for the placement rules. Values need no
quotes: Swarm compares them case-insensitively (see :mod:`iklim.check.constraints`).

When the model (``environments/prod.yaml``) names the nodes, each service's constraints are
evaluated against every node (hostname, role, ``private_ip`` as ``node.ip``, the node labels,
``type`` defaulting to the node's role; :mod:`iklim.check.nodes`): a service no node satisfies
never starts (a hostname no node has, ``iklim-db-*``, which Swarm does not glob, two hostnames
at once, a service label with a DB node's address). Without a model nothing is assumed.

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        deploy:
          placement:
            constraints: ['node.labels.type == "db"']

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        deploy:
          placement:
            constraints: [node.labels.type == db, node.hostname == iklim-db-01]
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import constraints_pos
from iklim.check.constraints import constraints, rejected
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.nodes import satisfiable
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        for problem in rejected(ref.spec):
            yield RULE.on(ref, problem.pos, problem.reason)
        if not policy.nodes:
            continue
        applied = list(constraints(ref.spec))
        if applied and not satisfiable(applied, policy.nodes):
            written = ", ".join(f"'{c.key} {c.op} {c.value}'" for c in applied)
            names = ", ".join(n.hostname for n in policy.nodes)
            glob = "; Swarm does not glob, '*' is a literal" if any("*" in c.value for c in applied) else ""
            yield RULE.on(
                ref,
                constraints_pos(ref.spec, ref.key_pos),
                f"no node satisfies the constraints {written} together (the model's nodes: {names}{glob}): "
                "the service never starts",
            )


RULE = Rule("swarm-constraint", Severity.ERROR, __doc__ or "", check)
