"""The status plan, cached: building one needs the model (pydantic, ~0.25 s to import), so the plan
is kept as JSON under ``$XDG_CACHE_HOME/iklim`` keyed by the model file's content, the target, the
lab root and the modification times of the code that derives addresses. The hot path reads that
JSON only. The cache holds addresses and limits, never a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from iklim.status.plan import PLAN_FORMAT, Plan

_PACKAGE = Path(__file__).resolve().parent.parent  # src/iklim


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
