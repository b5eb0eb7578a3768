"""The lab's registry: catalogue key -> the runners that bring that component up on this host.

One entry per key of :data:`iklim.model.catalogue.CATALOGUE` that the lab runs (an entry with
``absent["lab"]`` is reported with that reason instead). A component may need several runners
(Redis and its exporter, RabbitMQ and the shared epmd, SWAG's nginx and its exporter); they are
listed in start order. ``tests/test_catalogue.py`` fails when a key is missing here without a
reason, or when a key here is not in the catalogue.

Prometheus is built last by :func:`runners`: it scrapes the catalogue's jobs whose lab runner is
available (``SCRAPED_BY``: the runner that serves a job's targets when it is not the component's
first one).
"""

from __future__ import annotations

from collections.abc import Callable

from iklim.lab.components.absent import AbsentLab
from iklim.lab.components.alertmanager import AlertmanagerLab
from iklim.lab.components.base import LabComponent
from iklim.lab.components.etcd import EtcdLab
from iklim.lab.components.grafana import GrafanaLab
from iklim.lab.components.mongodb import MongoDBLab
from iklim.lab.components.nginx import NginxLab
from iklim.lab.components.openbao import OpenBaoLab
from iklim.lab.components.patroni import PatroniLab
from iklim.lab.components.prometheus import PrometheusLab
from iklim.lab.components.rabbitmq import EpmdLab, RabbitMQLab
from iklim.lab.components.redis import RedisLab
from iklim.lab.components.redis_exporter import RedisExporterLab
from iklim.lab.components.swag_exporter import SwagExporterLab
from iklim.model.catalogue import CATALOGUE

#: Catalogue key -> its lab runners, in start order (dependencies first).
RUNNERS: dict[str, Callable[[], tuple[LabComponent, ...]]] = {
    "etcd": lambda: (EtcdLab(),),
    "patroni": lambda: (PatroniLab(),),
    "mongodb": lambda: (MongoDBLab(),),
    "redis": lambda: (RedisLab(), RedisExporterLab()),
    "rabbitmq": lambda: (EpmdLab(), RabbitMQLab()),
    "swag": lambda: (NginxLab(), SwagExporterLab()),
    "grafana": lambda: (GrafanaLab(),),
    "alertmanager": lambda: (AlertmanagerLab(),),
    "vault": lambda: (OpenBaoLab(),),
    "prometheus": lambda: (PrometheusLab(),),
}

#: Scrape job (catalogue key) -> the lab runner serving its targets, when it is not the key's own
#: runner: Redis is scraped through redis_exporter, SWAG through nginx-prometheus-exporter and
#: MongoDB through mongodb_exporter (which the lab does not run).
SCRAPED_BY: dict[str, str] = {"redis": "redis-exporter", "swag": "swag-exporter", "mongodb": "mongodb-exporter"}


def runners() -> tuple[LabComponent, ...]:
    """Every lab runner in start order: the catalogue's, then Prometheus scraping what runs, then
    the components the lab only reports."""
    engines: list[LabComponent] = []
    absent: list[LabComponent] = []
    for e in CATALOGUE:
        if not e.has("lab"):
            absent.append(AbsentLab(e.key, e.absent["lab"]))
        elif e.key != "prometheus" and e.key in RUNNERS:
            engines.extend(RUNNERS[e.key]())
    running = {c.name for c in engines if c.missing() is None}
    jobs = frozenset(e.key for e in CATALOGUE if e.has("scrape") and SCRAPED_BY.get(e.key, e.key) in running)
    prometheus = [PrometheusLab(jobs)] if "prometheus" in RUNNERS else []
    return (*engines, *prometheus, *absent)
