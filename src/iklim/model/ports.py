"""Ports by name: the one place a component's published port numbers come from (issue 13).

A component's ``ports`` in the model are the ports it publishes on its nodes, each with a name.
Every consumer (the engine's own config, peers and clients, healthchecks, the firewall, the
DOCKER-USER rules, Prometheus targets) asks :func:`port_of` for the number by that name, so
changing a number in the model changes all of them. :data:`REQUIRED` lists the names the
builders in ``iklim.components`` ask for; :func:`port_problems` refuses a model without them.

Ports a component does not publish (Redis, RabbitMQ, APISIX, the exporters, ...) are not model
keys: each is the engine's default, defined once as a constant in its component module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from iklim.model.catalogue import required_ports
from iklim.model.schema import Component, Environment, PortSpec

Loc = tuple[str | int, ...]

#: component -> the port names its builder reads (more may be listed: they are published as well),
#: derived from the component catalogue (each entry's ``ports``).
REQUIRED: dict[str, tuple[str, ...]] = required_ports()


class HasPorts(Protocol):
    """Anything with the model's ``ports`` list (a component or the Sentinel section)."""

    @property
    def ports(self) -> Sequence[PortSpec]: ...


class MissingPort(LookupError):
    """A builder asked for a port name the component's ``ports`` does not list."""


def port_of(spec: HasPorts, name: str) -> int:
    """The number of the port called ``name`` in ``spec.ports`` (1..65535).

    Raises :class:`MissingPort` naming the ports there are when none is called ``name``; a model
    that passed :func:`port_problems` never does for the names in :data:`REQUIRED`.
    """
    return port_spec(spec, name).port


def port_spec(spec: HasPorts, name: str) -> PortSpec:
    """The whole entry called ``name`` in ``spec.ports`` (number, protocol, mode); as :func:`port_of`."""
    for port in spec.ports:
        if port.name == name:
            return port
    listed = ", ".join(p.name for p in spec.ports) or "none"
    raise MissingPort(f"no port named {name!r} in the model's ports (listed: {listed})")


def port_problems(env: Environment) -> list[tuple[Loc, str]]:
    """Missing or repeated port names, as (key path, message) like the other semantic rules."""
    return list(_problems(env))


def _problems(env: Environment) -> Iterator[tuple[Loc, str]]:
    vault = env.services.vault
    api = [p.port for p in vault.ports if p.name == "api"]
    taken = {p.port: p.name for p in vault.ports}
    if vault.cluster_port in taken:  # one socket cannot serve the API and Raft: Vault fails to bind
        yield (
            ("services", "vault", "cluster_port"),
            f"cluster_port {vault.cluster_port} is also the vault port named {taken[vault.cluster_port]!r}:"
            " the API and the cluster (Raft) listener need two ports",
        )
    if vault.declared_api_port is not None and api and vault.declared_api_port != api[0]:
        yield (
            ("services", "vault", "api_port"),
            f"api_port {vault.declared_api_port} differs from the vault port named 'api' ({api[0]}):"
            " `ports: api` is the one source; drop api_port or make it equal",
        )
    for component, spec in env.services:
        assert isinstance(spec, Component)
        names = REQUIRED.get(component, ())
        loc: Loc = ("services", component)
        seen: set[str] = set()
        for i, port in enumerate(spec.ports):
            if port.name in seen:
                yield loc + ("ports", i, "name"), f"{component} lists a port named {port.name!r} twice"
            seen.add(port.name)
        missing = [n for n in names if n not in seen]
        if missing:
            where = loc + ("ports",) if "ports" in spec.model_fields_set else loc
            wanted = ", ".join(missing)
            yield where, f"{component} needs a port named {wanted} under `ports` (its config and clients use it)"
