"""Warning: stateful services update with ``order: stop-first``.

A ``start-first`` update of a stateful member starts a second task on the same data (a database
directory, a Raft log, a TSDB) before the first one stops. Databases, etcd, Redis, Sentinel,
RabbitMQ, Vault, Prometheus and Grafana set ``deploy.update_config.order: stop-first``.

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        deploy:
          update_config: {order: start-first}

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        deploy:
          update_config: {parallelism: 1, order: stop-first}
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import get_map
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

OPTIONS = {
    "stateful": ("etcd", "patroni", "mongodb", "redis", "sentinel", "rabbitmq", "vault", "prometheus", "grafana"),
}


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    stateful = RULE.settings(policy)["stateful"]
    for ref in docs.services():
        if ref.kind not in stateful:
            continue
        deploy = get_map(ref.spec, "deploy")
        update = get_map(deploy, "update_config")
        order = update.get("order") if update is not None else None
        if order != "stop-first":
            pos = (
                update.at("order")
                if update is not None and "order" in update
                else (update.pos if update is not None else deploy.pos if deploy is not None else ref.key_pos)
            )
            yield RULE.on(ref, pos, f"{ref.name!r} is stateful: set deploy.update_config.order: stop-first")


RULE = Rule("stateful-update", Severity.WARNING, __doc__ or "", check, OPTIONS)
