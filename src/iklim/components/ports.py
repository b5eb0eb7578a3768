"""Ports one component needs of another that sits above it in this package.

Prometheus scrapes every component, so its module imports theirs; Grafana's datasource points
at Prometheus, so Grafana takes Prometheus's port from here, not from the module above it.
"""

from __future__ import annotations

from iklim.model.catalogue import engine_port

#: Prometheus's HTTP API and UI (``/-/ready``, ``/api/v1``), on its overlay name or lab address.
PROMETHEUS_PORT = engine_port("prometheus", "http")
