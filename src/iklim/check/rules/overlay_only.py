"""Redis, Sentinel, RabbitMQ and Alertmanager publish nothing: no port in any mode, no ``host`` network.

Redis and Redis Sentinel are reached over the overlay network only, and the firewall opens
nothing for them. RabbitMQ lives on service nodes and is reached over the overlay too, its
management UI through SWAG's allow-list. Any published port opens them on the nodes: ``ingress``
(the default, and the only mode of the short syntax ``"15672:15672"``, even with a host address
or without a published number) publishes on *every* node through the routing mesh, bypassing
SWAG; ``mode: host`` on the node the task runs on. A service on the node's ``host`` network
publishes every port it listens on the same way (:mod:`iklim.check.publish`).

Failing example::

    services:
      rabbitmq-1:
        image: rabbitmq:3.13.7-management-alpine
        ports: ["15672:15672"]

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
from iklim.check.publish import OVERLAY_ONLY, host_network, listen_ports
from iklim.check.rules.base import Rule

_ADVICE = {
    "redis": "reach it over the overlay network",
    "sentinel": "reach it over the overlay network",
    "rabbitmq": "clients use the overlay, management goes through SWAG",
    "alertmanager": "Prometheus reaches it over the overlay network",
}


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind not in OVERLAY_ONLY:
            continue
        label = LABELS.get(ref.kind or "", ref.kind or "")
        advice = _ADVICE.get(ref.kind or "", "reach it over the overlay network")
        for port in ports(ref.spec):
            where = "on every node through the routing mesh" if port.mode == "ingress" else "on its node"
            yield RULE.on(
                ref,
                port.pos,
                f"{label} is overlay-only: this port is published in {port.mode} mode {where}; remove it ({advice})",
            )
        pos = host_network(ref)
        if pos is not None:
            numbers = ", ".join(map(str, listen_ports(ref)))
            yield RULE.on(
                ref,
                pos,
                f"{label} is overlay-only: on the host network it publishes every port it listens on "
                f"({numbers}) on its node like host-mode ports; attach it to the overlay network instead",
            )


RULE = Rule("overlay-only", Severity.ERROR, __doc__ or "", check)
