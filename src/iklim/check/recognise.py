"""Which seed component a compose service is, from what it runs: never from its name.

A service is recognised, in this order, by

1. its **image**: the repository with any registry, namespace, tag and digest removed is
   matched against :data:`COMPANIONS` (admin UIs, exporters, backup tools: never members) and
   then :data:`COMPONENTS`; a component's image that runs only a client of it (``pg_dump`` in
   a ``postgres`` image, ``etcdctl`` in an etcd image, ``vault agent``) is a companion job;
2. else its **programs** (``entrypoint``/``command``, shell ``-c`` scripts read for the program
   of each simple command: ``exec redis-sentinel ...``, ``mongod``, ``vault server``);
3. else the **config it mounts** (``/etc/patroni/patroni.yml``, ``sentinel.conf``, ...);
4. only when the service has no image at all (a snippet Docker cannot deploy), by its whole
   name being a component's name, optionally followed by a member number (``redis-1``,
   ``patroni``); a name merely containing one (``vault-ui``, ``redis-commander``) never counts.

The Redis image runs Sentinel when it runs ``redis-sentinel`` (or ``redis-server
--sentinel``) or mounts a ``sentinel.conf``. The cert services are scripts on a generic base
image (alpine, busybox, docker) that mount the certificates (a ``certs`` or ``letsencrypt``
path). Anything else is not a seed component (``kind`` None): placement rules still apply to it.

Image patterns are regular expressions matched against the whole repository path (when they
contain ``/``) or against its last segment; ``library/`` is the same as no namespace. The
table (:data:`COMPONENTS`, :data:`COMPANIONS`, :data:`GENERIC_IMAGES`, :data:`LABELS`) is data in
:mod:`iklim.check.kinds`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from iklim.check.kinds import BY_KIND, COMPANIONS, COMPONENTS, GENERIC_IMAGES, Component
from iklim.check.programs import arguments, mounted_paths, programs

_CERT_PATH = re.compile(r"(.*/)?(certs|letsencrypt)(/.*)?")


@dataclass(frozen=True)
class Recognition:
    """What a service is: ``kind`` (a seed component, or None), ``role`` (``"member"``,
    ``"companion"`` or ``"unknown"``), ``label`` for messages and ``reason`` (what decided)."""

    kind: str | None
    role: str
    label: str
    reason: str


def repository(image: str) -> str | None:
    """The repository path of an image reference, lower case, without registry, tag or digest
    (``ghcr.io/zalando/spilo-16:3.3-p1`` -> ``zalando/spilo-16``); None when it is a variable."""
    text = image.strip().lower().split("@", 1)[0]
    parts = text.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    parts[-1] = parts[-1].split(":", 1)[0]
    if parts[0] == "library" and len(parts) > 1:
        parts = parts[1:]
    path = "/".join(parts)
    return None if not path or "$" in path else path


@functools.cache
def _rx(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled alternation of ``patterns`` (matched whole); never matches when empty."""
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)")


def _image_match(patterns: tuple[str, ...], repo: str) -> bool:
    last = repo.rsplit("/", 1)[-1]
    paths = tuple(p for p in patterns if "/" in p)
    names = tuple(p for p in patterns if "/" not in p)
    return bool(_rx(names).fullmatch(last) or _rx(paths).fullmatch(repo))


def _runs(patterns: tuple[str, ...], runs: list[tuple[str, list[str]]]) -> bool:
    rx = _rx(patterns)
    return any(rx.fullmatch(program) or (args and rx.fullmatch(f"{program} {args[0]}")) for program, args in runs)


def _mounts(patterns: tuple[str, ...], paths: list[str]) -> str | None:
    rx = _rx(patterns)
    return next((p for p in paths if rx.fullmatch(p)), None)


def _sentinel(component: Component, service: Any, runs: list[tuple[str, list[str]]]) -> Component:
    """The Redis image as Sentinel when it runs or mounts Sentinel."""
    if component.kind != "redis":
        return component
    sentinel = BY_KIND["sentinel"]
    if _runs(sentinel.servers, runs) or "--sentinel" in arguments(service):
        return sentinel
    if not _runs(component.servers, runs) and _mounts(sentinel.configs, mounted_paths(service)):
        return sentinel
    return component


def _by_image(service: Any, repo: str, runs: list[tuple[str, list[str]]]) -> Recognition | None:
    for pattern, what in COMPANIONS:
        if _image_match((pattern,), repo):
            return Recognition(None, "companion", what, f"image {repo}")
    for component in COMPONENTS:
        if not _image_match(component.images, repo):
            continue
        component = _sentinel(component, service, runs)
        if runs and _runs(component.clients, runs) and not _runs(component.servers, runs):
            return Recognition(None, "companion", f"{component.label} client job", f"image {repo} runs a client")
        return Recognition(component.kind, "member", component.label, f"image {repo}")
    return None


_MEMBER_NAME = re.compile(r"([a-z]+(?:-[a-z]+)?)(?:-?\d+)?")
_NAMES = {
    "postgres": "patroni",
    "postgresql": "patroni",
    "mongo": "mongodb",
    "redis-sentinel": "sentinel",
    "apisix-dashboard": "dashboard",
}


def recognise(service: Any) -> Recognition:
    """What ``service`` (a compose service mapping) is; see the module docstring for the order."""
    if not isinstance(service, dict):
        return Recognition(None, "unknown", "service", "not a mapping")
    image = service.get("image")
    repo = repository(image) if isinstance(image, str) else None
    runs = programs(service)
    if repo is not None:
        found = _by_image(service, repo, runs)
        if found is not None:
            return found
    for component in COMPONENTS:
        if component.servers and _runs(component.servers, runs) and component.kind != "vault":
            component = _sentinel(component, service, runs)
            return Recognition(component.kind, "member", component.label, "command")
    if _runs(("(vault|bao) server",), runs):
        return Recognition("vault", "member", "Vault", "command")
    if runs and any(_runs(c.clients, runs) for c in COMPONENTS):
        return Recognition(None, "companion", "client job", "command")
    paths = mounted_paths(service)
    if repo is not None and _image_match(GENERIC_IMAGES, repo) and any(_CERT_PATH.fullmatch(p) for p in paths):
        return Recognition("cert", "member", "cert service", "mounts certificates")
    for component in COMPONENTS:
        path = _mounts(component.configs, paths)
        if path is not None:
            component = _sentinel(component, service, runs)
            return Recognition(component.kind, "member", component.label, f"mounts {path}")
    return Recognition(None, "unknown", "service", "nothing recognised")


def by_name(name: str) -> str | None:
    """The component a snippet without an image names: its whole name is the component's name,
    optionally followed by a member number (``redis-1``, ``mongo``); None otherwise."""
    match = _MEMBER_NAME.fullmatch(name.lower())
    if match is None:
        return None
    word = match.group(1)
    if word in _NAMES:
        return _NAMES[word]
    return word if word in BY_KIND and word not in ("cert", "dashboard") else None


def kind_of(name: str, service: Any) -> str | None:
    """The seed component ``service`` is a member of (a key of :data:`LABELS`), else None.

    ``name`` is consulted only for a service with no ``image`` and nothing else recognisable
    (:func:`by_name`)."""
    found = recognise(service)
    if found.kind is not None or found.role != "unknown":
        return found.kind
    if isinstance(service, dict) and service.get("image") is None:
        return by_name(name)
    return None
