"""Redis and Sentinel stay on the overlay; RabbitMQ never publishes host-mode ports.

Redis and Redis Sentinel publish no port at all (clients reach them over the overlay network,
and the firewall opens nothing for them). RabbitMQ lives on service nodes and is reached over
the overlay (management through SWAG), so it never publishes a ``mode: host`` port.

Failing example::

    services:
      redis-1:
        image: redis:7.4.2-alpine
        ports: ["6379:6379"]

Passing example::

    services:
      redis-1:
        image: redis:7.4.2-alpine
        networks: [iklim-overlay]
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import LABELS, ports
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind in ("redis", "sentinel"):
            for port in ports(ref.spec):
                yield RULE.on(
                    ref,
                    port.pos,
                    f"{LABELS[ref.kind or '']} is overlay-only: remove this published "
                    "port and reach it over the overlay network",
                )
        elif ref.kind == "rabbitmq":
            for port in ports(ref.spec):
                if port.mode == "host":
                    yield RULE.on(
                        ref,
                        port.pos,
                        "RabbitMQ must not publish host-mode ports: remove this port "
                        "(clients use the overlay, management goes through SWAG)",
                    )


RULE = Rule("overlay-only", Severity.ERROR, __doc__ or "", check)
