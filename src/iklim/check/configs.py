"""Finds the APISIX and Patroni configuration among the loaded YAML files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from iklim.check.compose import environment, get_map
from iklim.check.documents import Documents
from iklim.check.yamlload import Pos, YMap


@dataclass(frozen=True)
class EtcdClient:
    """The ``etcd`` section of an APISIX (or APISIX Dashboard) config file."""

    path: str
    section: YMap
    hosts_key: str  # "host" for APISIX, "endpoints" for the dashboard
    dashboard: bool


def apisix_etcd(docs: Documents) -> Iterator[EtcdClient]:
    for path, data in docs.configs:
        if not isinstance(data, YMap):
            continue
        deployment = get_map(data, "deployment")
        section = get_map(deployment, "etcd") if deployment is not None else None
        if section is None and "apisix" in data:
            section = get_map(data, "etcd")
        if section is not None:
            yield EtcdClient(path, section, "host", False)
            continue
        section = get_map(get_map(data, "conf"), "etcd")
        if section is not None and "apisix" in path.lower():
            yield EtcdClient(path, section, "endpoints", True)


@dataclass(frozen=True)
class Namespace:
    path: str
    value: str
    pos: Pos


def patroni_namespaces(docs: Documents, default: str) -> Iterator[Namespace]:
    """Patroni's etcd namespace from its config files and ``PATRONI_NAMESPACE`` variables."""
    for path, data in docs.configs:
        if not isinstance(data, YMap) or not ("etcd3" in data or "etcd" in data):
            continue
        if not ("scope" in data or "postgresql" in data or "patroni" in os.path.basename(path).lower()):
            continue
        value = data.get("namespace", default)
        yield Namespace(path, str(value), data.at("namespace") if "namespace" in data else data.pos)
    for ref in docs.services():
        if ref.kind != "patroni":
            continue
        for name, value, _, pos in environment(ref.spec):
            if name == "PATRONI_NAMESPACE" and value is not None:
                yield Namespace(ref.stack.path, str(value), pos)
