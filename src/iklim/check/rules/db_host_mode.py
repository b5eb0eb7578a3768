"""DB services publish their ports in host mode only, never through the ingress mesh.

Patroni/PostgreSQL, MongoDB and etcd members are pinned to one DB node each; a port published in
``ingress`` mode (the default, and the only mode of the short syntax) would open it on every
node of the swarm, service nodes included. Use the long syntax with ``mode: host``. A member on
the node's ``host`` network publishes its ports in host mode (:mod:`iklim.check.publish`).

Failing example::

    services:
      mongodb-1:
        image: mongo:7.0.16
        ports: ["27017:27017"]

Passing example::

    services:
      mongodb-1:
        image: mongo:7.0.16
        ports:
          - {target: 27017, published: 27017, protocol: tcp, mode: host}
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import DB_KINDS, LABELS
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.publish import published
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind not in DB_KINDS:
            continue
        for port in published(ref):
            if port.mode != "host":
                yield RULE.on(
                    ref,
                    port.pos,
                    f"{LABELS[ref.kind or '']} port {port.target} is published in "
                    f"{port.mode} mode: use the long syntax with 'mode: host'",
                )


RULE = Rule("db-host-mode", Severity.ERROR, __doc__ or "", check)
