"""Patroni/PostgreSQL, MongoDB and etcd run pinned to the DB nodes ``iklim-db-*``.

Every DB member needs a placement constraint that pins it to DB nodes
(``node.labels.type == db`` or ``node.hostname == iklim-db-NN``), and none that places it on
service nodes (``node.labels.type == service``, ``node.hostname == iklim-app-NN``). DB and
service nodes are the model's nodes labelled ``type: db`` / ``type: service`` (else the seed's
naming ``iklim-db-NN`` / ``iklim-app-NN``); the labels themselves are the seed's policy.

Failing example::

    services:
      patroni-1:
        image: ghcr.io/iklimco/patroni:4.0.4-pg16
        deploy:
          placement:
            constraints: [node.labels.type == service]

Passing example::

    services:
      patroni-1:
        image: ghcr.io/iklimco/patroni:4.0.4-pg16
        deploy:
          placement:
            constraints: ["node.labels.type == db", "node.hostname == iklim-db-01"]
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import DB_KINDS, LABELS, constraints, constraints_pos
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind not in DB_KINDS:
            continue
        label = LABELS[ref.kind or ""]
        pinned = False
        for c in constraints(ref.spec):
            on_db = c.labels(policy.type_label, policy.db_label) or (
                c.key == "node.hostname" and policy.db_host(c.value)
            )
            on_service = c.labels(policy.type_label, policy.service_label) or (
                c.key == "node.hostname" and policy.app_host(c.value)
            )
            if c.op == "==" and on_service:
                yield RULE.on(
                    ref,
                    c.pos,
                    f"{label} runs on DB nodes: replace this constraint with "
                    f"'{policy.type_label} == {policy.db_label}'",
                )
            elif c.op == "==" and on_db:
                pinned = True
            elif c.op == "!=" and c.labels(policy.type_label, policy.db_label):  # '!= iklim-db-01' only avoids one
                yield RULE.on(ref, c.pos, f"{label} must not be kept off DB nodes: remove this constraint")
        if not pinned:
            yield RULE.on(
                ref,
                constraints_pos(ref.spec, ref.key_pos),
                f"pin {label} to DB nodes: add the constraint '{policy.type_label} == {policy.db_label}'"
                f" (and 'node.hostname == {policy.db_node_prefix}NN' per member)",
            )


RULE = Rule("db-placement", Severity.ERROR, __doc__ or "", check)
