"""Service-node infrastructure runs on ``node.labels.type == service``, never on DB nodes.

Redis, Sentinel, RabbitMQ, APISIX, APISIX Dashboard, SWAG, the cert services, Prometheus and
Grafana need the constraint ``node.labels.type == service`` and must not be pinned to DB nodes
(``node.labels.type == db``, ``node.hostname == iklim-db-NN``).

Failing example::

    services:
      redis-1:
        image: redis:7.4.2-alpine
        deploy:
          placement:
            constraints: [node.hostname == iklim-db-01]

Passing example::

    services:
      redis-1:
        image: redis:7.4.2-alpine
        deploy:
          placement:
            constraints: [node.labels.type == service, node.hostname == iklim-app-01]
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import LABELS, SERVICE_KINDS, constraints, constraints_pos
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    wanted = f"{policy.type_label} == {policy.service_label}"
    for ref in docs.services():
        if ref.kind not in SERVICE_KINDS:
            continue
        label = LABELS[ref.kind or ""]
        labelled = False
        for c in constraints(ref.spec):
            on_db = c.names(policy.type_label, policy.db_label, policy.db_node_prefix)
            if c.op == "==" and on_db:
                yield RULE.on(ref, c.pos, f"{label} must not run on DB nodes: replace this constraint with '{wanted}'")
            elif c.op == "==" and c.labels(policy.type_label, policy.service_label):
                labelled = True
        if not labelled:
            yield RULE.on(
                ref,
                constraints_pos(ref.spec, ref.key_pos),
                f"place {label} on service nodes: add the constraint '{wanted}'",
            )


RULE = Rule("service-placement", Severity.ERROR, __doc__ or "", check)
