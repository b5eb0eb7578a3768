"""One module per component of the seed; ``CONTRIBUTORS`` lists them in stack order."""

from __future__ import annotations

from iklim.components import (
    apisix,
    certs,
    etcd,
    grafana,
    mongodb,
    patroni,
    prometheus,
    rabbitmq,
    redis,
    swag,
    vault,
)
from iklim.components.base import Contribution, Contributor

CONTRIBUTORS: tuple[Contributor, ...] = (
    etcd.contribute,
    patroni.contribute,
    mongodb.contribute,
    redis.contribute,
    rabbitmq.contribute,
    apisix.contribute,
    swag.contribute,
    certs.contribute,
    prometheus.contribute,
    grafana.contribute,
    vault.contribute,
)

__all__ = ["CONTRIBUTORS", "Contribution", "Contributor"]
