"""Finds the APISIX and Patroni configuration among the loaded YAML files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from iklim.check.apisix_vars import expand
from iklim.check.compose import environment, get_list, get_map
from iklim.check.documents import Documents
from iklim.check.yamlload import Pos, YMap


@dataclass(frozen=True)
class Value:
    """A config value as its engine reads it: ``text`` after APISIX's ``${{VAR}}`` expansion
    (the dashboard expands nothing), None when a variable in it has neither a known value nor a
    default (``unset`` names them); ``raw`` is the value as written."""

    text: str | None
    raw: Any
    pos: Pos
    unset: tuple[str, ...] = ()


@dataclass(frozen=True)
class EtcdClient:
    """The ``etcd`` section of an APISIX (or APISIX Dashboard) config file.

    ``env`` holds the variables the APISIX services of the checked stacks set literally; APISIX's
    ``${{VAR:=default}}`` resolves with them, else with the default (:mod:`iklim.check.apisix_vars`).
    """

    path: str
    section: YMap
    hosts_key: str  # "host" for APISIX, "endpoints" for the dashboard
    dashboard: bool
    env: Mapping[str, str] = field(default_factory=dict)

    def read(self, raw: Any, pos: Pos) -> Value:
        """One scalar of the section as the engine reads it."""
        if not isinstance(raw, str) or self.dashboard:
            return Value(None if raw is None else str(raw), raw, pos)
        found = expand(raw, self.env)
        return Value(found.value, raw, pos, found.unset)

    def value(self, key: str) -> Value | None:
        """The value of ``key`` in the section; None when the key is absent."""
        if key not in self.section:
            return None
        return self.read(self.section[key], self.section.at(key))

    def hosts(self) -> list[Value] | None:
        """The etcd hosts (``host`` or ``endpoints``); None unless written as a list."""
        items = get_list(self.section, self.hosts_key)
        if items is None:
            return None
        return [self.read(item, items.at(index)) for index, item in enumerate(items)]


def apisix_env(docs: Documents) -> dict[str, str]:
    """Variables the APISIX services set to a literal value (the first service wins)."""
    env: dict[str, str] = {}
    for ref in docs.services():
        if ref.kind != "apisix":
            continue
        for name, value, _, _ in environment(ref.spec):
            if value is not None and not isinstance(value, YMap) and "$" not in str(value):
                env.setdefault(name, str(value).lower() if isinstance(value, bool) else str(value))
    return env


def apisix_etcd(docs: Documents) -> Iterator[EtcdClient]:
    env: dict[str, str] | None = None
    for path, data in docs.configs:
        if not isinstance(data, YMap):
            continue
        deployment = get_map(data, "deployment")
        section = get_map(deployment, "etcd") if deployment is not None else None
        if section is None and "apisix" in data:
            section = get_map(data, "etcd")
        if section is not None:
            env = apisix_env(docs) if env is None else env
            yield EtcdClient(path, section, "host", False, env)
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


def apisix_admin_keys(docs: Documents) -> Iterator[tuple[str, str | None, Pos]]:
    """(path, key as APISIX reads it with every variable unset, position) of each admin key in an
    APISIX ``config.yaml`` (``deployment.admin.admin_key``, or ``apisix.admin_key`` before 3.0);
    the key is None when a variable in it has no default."""
    for path, data in docs.configs:
        if not isinstance(data, YMap):
            continue
        for parent in (get_map(get_map(data, "deployment"), "admin"), get_map(data, "apisix")):
            keys = get_list(parent, "admin_key")
            for item in keys or ():
                raw = item.get("key") if isinstance(item, YMap) else None
                if isinstance(raw, str | int) and not isinstance(raw, bool):
                    yield path, expand(str(raw)).value, item.at("key")
