"""Everything that is not a DB component runs on ``node.labels.type == service``, never on DB nodes.

Every service that is not a Patroni/PostgreSQL, MongoDB or etcd member (recognised by what it
runs, see :mod:`iklim.check.recognise`) is placed on service nodes: the seed's Redis, Sentinel,
RabbitMQ, APISIX, Dashboard, SWAG, cert services, Prometheus, Grafana and Vault, and equally
any service the seed does not know (exporters, admin UIs, backup jobs, a ``kafka``). Each needs
the constraint ``node.labels.type == service`` and must not be pinned to DB nodes
(``node.labels.type == db``, or ``node.hostname ==`` a DB node: the model's DB nodes, else the
seed's naming ``iklim-db-NN``). The node labels ``type == db|service`` are the seed's policy.

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

from iklim.check.compose import DB_KINDS, LABELS, constraints, constraints_pos
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    wanted = f"{policy.type_label} == {policy.service_label}"
    for ref in docs.services():
        if ref.kind in DB_KINDS:
            continue
        label = LABELS[ref.kind] if ref.kind is not None else f"service {ref.name!r}"
        labelled = False
        for c in constraints(ref.spec):
            on_db = c.labels(policy.type_label, policy.db_label) or (
                c.key == "node.hostname" and policy.db_host(c.value)
            )
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
