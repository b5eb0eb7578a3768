"""One module per component of the seed, registered by its catalogue key.

:data:`BUILDERS` maps each key of :data:`iklim.model.catalogue.CATALOGUE` to the function that
contributes its services, configs, volumes and secrets; :data:`CONTRIBUTORS` is that registry in
catalogue (stack) order. ``tests/test_catalogue.py`` fails when a catalogue entry has no builder
or a builder has no entry.
"""

from __future__ import annotations

from iklim.components import (
    alertmanager,
    apisix,
    certs,
    dashboards,
    etcd,
    mongodb,
    patroni,
    prometheus,
    rabbitmq,
    redis,
    swag,
    vault,
)
from iklim.components.base import Contribution, Contributor
from iklim.model.catalogue import CATALOGUE

#: Catalogue key -> the component's config builder.
BUILDERS: dict[str, Contributor] = {
    "etcd": etcd.contribute,
    "patroni": patroni.contribute,
    "mongodb": mongodb.contribute,
    "redis": redis.contribute,
    "rabbitmq": rabbitmq.contribute,
    "apisix": apisix.contribute,
    "swag": swag.contribute,
    "certs": certs.contribute,
    "prometheus": prometheus.contribute,
    "grafana": dashboards.contribute,  # Grafana with its provisioned dashboards
    "alertmanager": alertmanager.contribute,
    "vault": vault.contribute,
}

#: The builders in catalogue order (the order of the services in the stacks).
CONTRIBUTORS: tuple[Contributor, ...] = tuple(BUILDERS[e.key] for e in CATALOGUE if e.key in BUILDERS)

__all__ = ["BUILDERS", "CONTRIBUTORS", "Contribution", "Contributor"]
