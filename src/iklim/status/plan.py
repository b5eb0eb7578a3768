"""Where each component's members are and what the model expects of them, as plain data.

Building a plan needs the model (pydantic, ~0.25 s to import), so the plan is cached as JSON
under ``$XDG_CACHE_HOME/iklim`` keyed by the model file's content, the target, the lab root and
the modification times of the code that derives addresses. The hot path reads that JSON only.
The cache holds addresses and limits, never a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAN_FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent.parent  # src/iklim


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


def _cache_key(model: bytes, target: str, root: str) -> str:
    digest = hashlib.sha256(model)
    digest.update(f"\0{PLAN_FORMAT}\0{target}\0{root}".encode())
    for folder in ("components", "model", "status"):
        for path in sorted((_PACKAGE / folder).glob("*.py")):
            digest.update(f"\0{path.name}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iklim"


def load_plan(env_path: str | Path, target: str, root: str | Path = "") -> Plan:
    """The plan for ``target`` (``lab`` or ``prod``), from the cache when the model is unchanged."""
    model = Path(env_path).read_bytes()
    root_text = str(Path(root).resolve()) if target == "lab" else ""
    path = cache_dir() / f"status-plan-{_cache_key(model, target, root_text)}.json"
    try:
        return Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from iklim.status.planbuild import build_plan

    plan = build_plan(env_path, target, root_text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(plan.to_json()))
        scratch.replace(path)
    except OSError:
        pass  # a read-only home only costs the model load on every run
    return plan
