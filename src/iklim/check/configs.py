"""Finds the APISIX and Patroni configuration among the loaded YAML files."""

from __future__ import annotations

import os
import re
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
        if section is not None and "apisix" in docs.relpath(path).lower():
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


_NGINX_BLOCK = re.compile(r"^[ \t]*(?:server|http|upstream|location)\b[^\n;{=]*\{", re.MULTILINE)
_KEY_VALUE = re.compile(r"[ \t]*[\w.\-]+[ \t]*=[^\n;{}]*")


def _key_value_lines(text: str) -> bool:
    """Whether every statement is ``key = value`` (rabbitmq.conf, sysctl style): not nginx."""
    lines = [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith(("#", ";"))]
    return bool(lines) and all(_KEY_VALUE.fullmatch(line) for line in lines)


def looks_nginx(relpath: str, text: str) -> bool:
    """Whether a ``.conf`` file is an nginx (SWAG) file, by its path below the tree root and content.

    A folder named ``swag`` or ``nginx`` (or a name containing it) *inside* the tree, or an nginx
    block (``server {``) in the text, makes it nginx; ``key = value`` files never are.
    """
    folders = relpath.lower().replace("\\", "/").split("/")
    named = any("swag" in part or "nginx" in part for part in folders)
    if named or _NGINX_BLOCK.search(text) is not None:
        return not _key_value_lines(text)
    return False


def nginx_confs(docs: Documents) -> Iterator[tuple[str, str]]:
    """``(shown path, text)`` of the loaded ``.conf`` files that are nginx configuration."""
    for path, text in docs.confs:
        if looks_nginx(docs.relpath(path), text):
            yield path, text
