"""Every component probe, listed once, in evaluation order (Prometheus last: it reads the others)."""

from __future__ import annotations

from typing import Any

from iklim.status.probes.apisix import ApisixProbe
from iklim.status.probes.base import Probe, ProbeContext
from iklim.status.probes.etcd import EtcdProbe
from iklim.status.probes.grafana import GrafanaProbe
from iklim.status.probes.mongodb import MongoDBProbe
from iklim.status.probes.patroni import PatroniProbe
from iklim.status.probes.prometheus import PrometheusProbe
from iklim.status.probes.rabbitmq import RabbitMQProbe
from iklim.status.probes.redis import RedisProbe
from iklim.status.probes.vault import VaultProbe

PROBES: tuple[Probe[Any], ...] = (
    EtcdProbe(),
    PatroniProbe(),
    MongoDBProbe(),
    RedisProbe(),
    RabbitMQProbe(),
    VaultProbe(),
    ApisixProbe(),
    GrafanaProbe(),
    PrometheusProbe(),
)

__all__ = ["PROBES", "Probe", "ProbeContext"]
