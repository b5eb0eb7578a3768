"""Where each component's members are and what the model expects of them, as plain data.

:mod:`.planbuild` builds a :class:`Plan` from the model; :mod:`.plancache` keeps it as JSON so
the hot path never imports pydantic. This module imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLAN_FORMAT = 1


@dataclass(frozen=True)
class Endpoint:
    """One member's address for one purpose; ``kind`` separates e.g. Redis from its Sentinels."""

    member: str
    host: str
    port: int
    kind: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ComponentPlan:
    """One component: its endpoints, the model's expectations, and (lab) the binary it needs."""

    name: str
    endpoints: tuple[Endpoint, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    lab_binary: str = ""

    def of(self, kind: str = "") -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.kind == kind)


@dataclass(frozen=True)
class Plan:
    target: str
    root: str
    components: tuple[ComponentPlan, ...]

    def component(self, name: str) -> ComponentPlan:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "target": self.target,
            "root": self.root,
            "components": [
                {
                    "name": c.name,
                    "lab_binary": c.lab_binary,
                    "settings": dict(c.settings),
                    "endpoints": [[e.member, e.host, e.port, e.kind] for e in c.endpoints],
                }
                for c in self.components
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError("plan format changed")
        components = tuple(
            ComponentPlan(
                c["name"],
                tuple(Endpoint(str(m), str(h), int(p), str(k)) for m, h, p, k in c["endpoints"]),
                c["settings"],
                c["lab_binary"],
            )
            for c in data["components"]
        )
        return cls(str(data["target"]), str(data["root"]), components)
