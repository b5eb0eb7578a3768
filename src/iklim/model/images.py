"""When an image reference is pinned: one predicate for the model (``iklim render``) and the checker.

A reference is pinned when it names one build for good, or at least one release:

- a digest (``redis@sha256:<64 hex>``, ``redis:7.4.2@sha256:...``) always;
- a tag that starts with a full version number, optionally ``v``-prefixed and followed by a
  suffix after ``-``, ``_``, ``+`` or ``.`` (``7.4.2``, ``v3.5.17``, ``3.13.7-management-alpine``,
  ``4.0.4-pg16``, ``1.2.3.4``);
- a tag that carries a release date (``RELEASE.2024-10-02T17-50-41Z``, ``bookworm-20240904``)
  or names a commit (``sha-3f2a1b9``).

A *full* version has three numeric parts, except for products whose releases are numbered with two
(PostgreSQL 16.4, pgAdmin 8.12): since the checker cannot know every product, two parts
(``major.minor``) are accepted for any repository not listed in :data:`THREE_PART`, the images
whose releases always have three parts and whose ``major.minor`` tags float over patch releases
(``redis:7.4`` moves from 7.4.1 to 7.4.2).

Floating, hence refused: no tag, ``latest``, any name (``alpine``, ``management``, ``main``,
``stable``), a major version alone (``7``, ``7-alpine``, ``v2``) and a tag left to an unset
variable (``${TAG}``).
"""

from __future__ import annotations

import re

#: Repositories (last path component) whose releases always have three numeric parts.
THREE_PART = frozenset(
    {
        "alpine",
        "apisix",
        "apisix-dashboard",
        "caddy",
        "consul",
        "docker",
        "etcd",
        "grafana",
        "haproxy",
        "memcached",
        "mongo",
        "mongodb-exporter",
        "nginx",
        "nginx-prometheus-exporter",
        "node-exporter",
        "openbao",
        "patroni",
        "prometheus",
        "rabbitmq",
        "redis",
        "redis_exporter",
        "swag",
        "traefik",
        "valkey",
        "vault",
    }
)
_DIGEST = re.compile(r"@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}\Z")
_VERSION = re.compile(r"[vV]?([0-9]+)((?:\.[0-9]+)*)(?:[-_+.].*)?\Z", re.DOTALL)
_COMMIT = re.compile(r"(?:sha|git|commit)[-_]?[0-9a-f]{7,40}\Z")
_DATE = re.compile(r"(?<![0-9])(?:19|20)[0-9]{2}(-?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12][0-9]|3[01])(?![0-9])")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of ``[registry[:port]/]path[:tag][@digest]``; None when absent."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], (digest if at else None)
    return name, None, (digest if at else None)


def pin_problem(image: str) -> str | None:
    """Why ``image`` floats (a phrase such as ``"has no tag"``), or None when it is pinned.

    The phrase completes ``f"image {image!r} {phrase}"``; it never raises.
    """
    repo, tag, digest = split_image(image.strip())
    if digest is not None and _DIGEST.search("@" + digest):
        return None
    if not tag:
        return "has no tag"
    if "$" in tag:
        return f"takes its tag from a variable ({tag!r}), so it can float"
    if tag == "latest":
        return "uses the floating tag ':latest'"
    if _DATE.search(tag) or _COMMIT.match(tag):
        return None
    match = _VERSION.match(tag)
    if match is None:
        return f"uses the floating tag ':{tag}' (a name, not a version)"
    parts = 1 + match.group(2).count(".")
    if parts == 1:
        return f"uses the floating tag ':{tag}' (a major version only)"
    if parts == 2 and repo.rsplit("/", 1)[-1].lower() in THREE_PART:
        return f"uses the floating tag ':{tag}' (major.minor floats over patch releases)"
    return None
