"""Views over a compose service as Docker reads it: ports, constraints, networks, env."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from iklim.check.constraints import Constraint as Constraint
from iklim.check.constraints import constraints as constraints

# Re-exported here for the rules: constraints, and the components (listed in
# iklim.check.kinds, recognised in iklim.check.recognise).
from iklim.check.kinds import DB_KINDS as DB_KINDS
from iklim.check.kinds import LABELS as LABELS
from iklim.check.kinds import SERVICE_KINDS as SERVICE_KINDS
from iklim.check.recognise import kind_of as kind_of
from iklim.check.yamlload import Pos, YList, YMap


def get_map(parent: Any, key: str) -> YMap | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, YMap) else None


def get_list(parent: Any, key: str) -> YList | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, YList) else None


def where(parent: Any, key: str, fallback: Pos) -> Pos:
    """Where ``parent[key]`` is written, else ``fallback``."""
    if isinstance(parent, YMap) and key in parent.vpos:
        return parent.vpos[key]
    return fallback


@dataclass(frozen=True)
class Port:
    target: str
    published: tuple[int, int] | None  # an inclusive range; None when Docker picks the port
    protocol: str
    mode: str
    pos: Pos


def _range(text: str) -> tuple[int, int] | None:
    text = text.strip()
    if not text:
        return None
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        return None


def ports(service: YMap) -> Iterator[Port]:
    """Published ports in short (``"127.0.0.1:80:80/tcp"``) or long syntax."""
    items = get_list(service, "ports")
    if items is None:
        return
    for index, item in enumerate(items):
        pos = items.at(index)
        if isinstance(item, YMap):
            published = item.get("published")
            rng = _range(str(published)) if published not in (None, "") else None
            mode = str(item.get("mode") or "ingress").lower()
            yield Port(str(item.get("target", "")), rng, str(item.get("protocol") or "tcp").lower(), mode, pos)
        elif isinstance(item, str | int) and not isinstance(item, bool):
            text, _, proto = str(item).partition("/")
            parts = text.rsplit(":", 2) if text.count(":") <= 2 else [text]
            target = parts[-1]
            rng = _range(parts[-2]) if len(parts) >= 2 else None
            yield Port(target, rng, (proto or "tcp").lower(), "ingress", pos)


def constraints_pos(service: YMap, fallback: Pos) -> Pos:
    """Where the constraints (else the placement, deploy or the service) are written."""
    deploy = get_map(service, "deploy")
    placement = get_map(deploy, "placement")
    if placement is not None:
        return where(placement, "constraints", placement.pos)
    if deploy is not None:
        return service.kpos.get("deploy", fallback)
    return fallback


def environment(service: YMap) -> Iterator[tuple[str, Any, str | None, Pos]]:
    """(name, value, raw text, position) for list or mapping ``environment``."""
    env = service.get("environment")
    if isinstance(env, YMap):
        for name, value in env.items():
            yield name, value, env.raw.get(name), env.at(name)
    elif isinstance(env, YList):
        for index, item in enumerate(env):
            if isinstance(item, str):
                name, sep, value = item.partition("=")
                raw = env.raw.get(index)
                yield name.strip(), (value if sep else None), (raw.partition("=")[2] if raw else None), env.at(index)


def networks(service: YMap) -> dict[str, tuple[list[str], Pos]]:
    """Network name -> (aliases, position) for list or mapping ``networks``."""
    nets = service.get("networks")
    out: dict[str, tuple[list[str], Pos]] = {}
    if isinstance(nets, YList):
        for index, name in enumerate(nets):
            out[str(name)] = ([], nets.at(index))
    elif isinstance(nets, YMap):
        for name, spec in nets.items():
            aliases = get_list(spec, "aliases")
            out[name] = ([str(a) for a in aliases] if aliases else [], nets.kpos.get(name, nets.pos))
    return out


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume", "bind" or "tmpfs"
    source: str
    raw_source: str
    target: str
    pos: Pos


def mounts(service: YMap) -> Iterator[Mount]:
    """Service volumes in short (``src:dst[:mode]``) or long syntax."""
    items = get_list(service, "volumes")
    if items is None:
        return
    for index, item in enumerate(items):
        pos = items.at(index)
        if isinstance(item, YMap):
            source = str(item.get("source") or "")
            raw = item.raw.get("source", source)
            kind = str(item.get("type") or ("bind" if source.startswith(("/", ".", "~")) else "volume"))
            yield Mount(kind, source, raw, str(item.get("target") or ""), pos)
        elif isinstance(item, str):
            raw_item = items.raw.get(index, item)
            parts, raw_parts = _split_volume(item), _split_volume(raw_item)
            if len(parts) == 1:
                yield Mount("volume", "", "", parts[0], pos)
                continue
            source, target = parts[0], parts[1]
            raw = raw_parts[0] if len(raw_parts) >= 2 else source
            bind = source.startswith(("/", ".", "~", "$")) or raw.startswith("$")
            yield Mount("bind" if bind else "volume", source, raw, target, pos)


def _split_volume(text: str) -> list[str]:
    # "${A:-/x}:/y" must not split inside the braces.
    parts: list[str] = []
    depth, start = 0, 0
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def replicas(service: YMap) -> tuple[int | None, str, Pos]:
    """(replicas, mode, position of the count) of a service; replicas is None when unreadable."""
    deploy = get_map(service, "deploy")
    mode = str(deploy.get("mode") or "replicated") if deploy is not None else "replicated"
    if deploy is None:
        return 1, mode, service.pos
    value = deploy.get("replicas", 1)
    pos = deploy.at("replicas") if "replicas" in deploy else deploy.at("mode") if "mode" in deploy else deploy.pos
    if isinstance(value, bool):
        return None, mode, pos
    if isinstance(value, int):
        return value, mode, pos
    try:
        return int(str(value)), mode, pos
    except ValueError:
        return None, mode, pos
