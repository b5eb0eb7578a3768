"""Every component probe, registered once by its catalogue key.

:data:`REGISTRY` maps each key of :data:`iklim.model.catalogue.CATALOGUE` that has a probe (an
entry without one declares ``absent["probe"]``, with the reason) to it; :data:`PROBES` is the
evaluation order: catalogue order, then the probes that read the others' reports (Prometheus
tells a known outage from a broken scrape). ``tests/test_catalogue.py`` checks both directions.
"""

from __future__ import annotations

from typing import Any

from iklim.model.catalogue import CATALOGUE
from iklim.status.probes.alertmanager import AlertmanagerProbe
from iklim.status.probes.apisix import ApisixProbe
from iklim.status.probes.base import Probe, ProbeContext
from iklim.status.probes.etcd import EtcdProbe
from iklim.status.probes.grafana import GrafanaProbe
from iklim.status.probes.mongodb import MongoDBProbe
from iklim.status.probes.patroni import PatroniProbe
from iklim.status.probes.prometheus import PrometheusProbe
from iklim.status.probes.rabbitmq import RabbitMQProbe
from iklim.status.probes.redis import RedisProbe
from iklim.status.probes.swag import SwagProbe
from iklim.status.probes.vault import VaultProbe

#: Catalogue key -> its probe.
REGISTRY: dict[str, Probe[Any]] = {
    "etcd": EtcdProbe(),
    "patroni": PatroniProbe(),
    "mongodb": MongoDBProbe(),
    "redis": RedisProbe(),
    "rabbitmq": RabbitMQProbe(),
    "apisix": ApisixProbe(),
    "swag": SwagProbe(),
    "prometheus": PrometheusProbe(),
    "grafana": GrafanaProbe(),
    "alertmanager": AlertmanagerProbe(),
    "vault": VaultProbe(),
}
#: Probes that read the reports of the others: evaluated last.
READS_PEERS = ("prometheus",)

PROBES: tuple[Probe[Any], ...] = tuple(
    REGISTRY[e.key] for e in CATALOGUE if e.key in REGISTRY and e.key not in READS_PEERS
) + tuple(REGISTRY[key] for key in READS_PEERS if key in REGISTRY)

__all__ = ["PROBES", "READS_PEERS", "REGISTRY", "Probe", "ProbeContext"]
