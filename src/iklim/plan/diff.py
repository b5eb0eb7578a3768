"""The plan itself: desired state against a live snapshot, per service, config, secret and network. Pure.

Per service (``docker stack deploy`` semantics, docker/cli ``cli/command/stack/swarm/deploy_composefile.go``
and swarmkit's updater):

- ``create``: in the tree, not live; ``remove``: live with the stack's namespace label, not in the
  tree (``docker stack deploy --prune`` removes it; without ``--prune`` it stays);
- ``unchanged``, ``metadata-only``, ``rolling-restart``, ``recreate``: the costliest effect
  (:data:`iklim.plan.spec.EFFECTS`) of the fields that differ. A change of placement constraints
  alone is ``metadata-only`` when every running task's node still satisfies the new ones (swarmkit
  ``IsTaskDirtyPlacementConstraintsOnly`` + ``nodeMatches``: such a task is not replaced). A
  service at 0 replicas (live and desired) with no task has nothing to restart: its task-template
  changes are ``metadata-only`` too.

An image written without a digest is compared with the live reference's name and tag: the CLI's
``--resolve-image always`` (the default) pins the tag to the registry's digest at deploy time, so
the same tag on a live ``name:tag@sha256:...`` is unchanged unless the registry moved the tag
(:mod:`.preflight` reports what it could check). Environment changes name the variables, never
their values.

Config objects: ``create`` (named in the tree, absent), ``unchanged``, ``conflict`` (the name
exists with other data: configs are immutable and the deploy would fail, moby/moby#35048),
``unused`` (carries the stack's label, no service of the tree uses it: removable after the
deploy). External secrets and networks are ``present`` or ``missing`` (the deploy would fail).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iklim.plan.compose import Desired
from iklim.plan.durations import seconds
from iklim.plan.live import Snapshot, live_specs
from iklim.plan.placement import satisfies
from iklim.plan.spec import EFFECTS, STACK_LABEL, Effect, Spec, worst


@dataclass(frozen=True)
class FieldChange:
    """One differing field, what changing it does, and a one-line detail (no secret or env value)."""

    field: str
    effect: Effect
    detail: str


@dataclass(frozen=True)
class ServicePlan:
    """One service's action and the fields that cause it."""

    name: str
    stack: str
    action: str
    changes: tuple[FieldChange, ...] = ()


@dataclass
class Plan:
    """Every service's plan, and the config/secret/network objects' states (name -> state)."""

    services: list[ServicePlan] = field(default_factory=list)
    configs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[ServicePlan]:
        """The services the deploy would touch."""
        return [s for s in self.services if s.action != "unchanged"]

    @property
    def empty(self) -> bool:
        """True when the deploy would change nothing (no service, no config to create, nothing missing)."""
        objects = [*self.configs.values(), *self.secrets.values(), *self.networks.values()]
        return not self.changed and not any(state in ("create", "conflict", "missing") for state in objects)


def _short(value: Any, limit: int = 90) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def image_matches(desired: str, live: str) -> bool:
    """``desired`` (as written in the stack) against the live reference (maybe ``name:tag@sha256:...``)."""
    if "@" in desired:
        return desired == live or desired.split("@", 1)[1] == live.split("@", 1)[-1] and "@" in live
    return live.split("@", 1)[0] == desired


def _env_detail(old: list[str], new: list[str]) -> str:
    def as_map(items: list[str]) -> dict[str, str]:
        pairs = (item.partition("=") for item in items)
        return {key: value for key, _, value in pairs}

    before, after = as_map(old), as_map(new)
    parts = [f"{k} added" for k in sorted(set(after) - set(before))]
    parts += [f"{k} removed" for k in sorted(set(before) - set(after))]
    parts += [f"{k} changed" for k in sorted(set(before) & set(after)) if before[k] != after[k]]
    return "env: " + ", ".join(parts)


def _refs_detail(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    before = {r["target"]: r for r in old}
    after = {r["target"]: r for r in new}
    parts = []
    for target in sorted(set(before) | set(after)):
        a, b = before.get(target), after.get(target)
        if a == b:
            continue
        if a is None:
            parts.append(f"+{b['name'] if b else ''} at {target}")
        elif b is None:
            parts.append(f"-{a['name']} at {target}")
        elif a["name"] != b["name"]:
            parts.append(f"{target}: {a['name']} -> {b['name']}")
        else:
            parts.append(f"{target}: owner/mode")
    return f"{name}: " + "; ".join(parts)


_DURATIONS = frozenset({"delay", "monitor", "window", "interval", "timeout", "start_period"})


def _dict_detail(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``update_config: monitor 60s -> 80s`` (only the keys that differ; durations in seconds)."""

    def show(key: str, value: Any) -> str:
        if value is None:
            return "unset"
        return seconds(int(value)) if key in _DURATIONS else _short(value, 40)

    parts = [
        f"{k} {show(k, old.get(k))} -> {show(k, new.get(k))}" for k in sorted({*old, *new}) if old.get(k) != new.get(k)
    ]
    return f"{name}: " + ", ".join(parts)


def field_changes(desired: Spec, live: Spec) -> list[FieldChange]:
    """Every field where ``live`` differs from ``desired``, in :data:`EFFECTS` order, then ``other.*``."""
    changes = []
    keys = [k for k in EFFECTS if k in desired or k in live]
    keys += sorted(k for k in {*desired, *live} if k not in EFFECTS)
    for key in keys:
        want, have = desired.get(key), live.get(key)
        if key == "image" and isinstance(want, str) and isinstance(have, str):
            if image_matches(want, have):
                continue
            changes.append(FieldChange(key, "rolling-restart", f"image: {have} -> {want}"))
            continue
        if want == have:
            continue
        effect: Effect = EFFECTS.get(key, "rolling-restart")
        if key == "env":
            detail = _env_detail(have or [], want or [])
        elif key in ("configs", "secrets"):
            detail = _refs_detail(key, have or [], want or [])
        elif isinstance(want, dict) and isinstance(have, dict):
            detail = _dict_detail(key, have, want)
        elif key == "mode":
            detail = f"mode: {have} -> {want} (the Engine refuses a mode change in place)"
        else:
            detail = f"{key}: {_short(have)} -> {_short(want)}"
        changes.append(FieldChange(key, effect, detail))
    return changes


def _placement_only_kept(
    changes: list[FieldChange], spec: Spec, service: Mapping[str, Any], snapshot: Snapshot
) -> bool:
    if [c.field for c in changes if c.effect != "metadata-only"] != ["constraints"]:
        return False
    nodes = {n["hostname"]: n for n in snapshot["nodes"]}
    tasks = service.get("tasks") or []
    return bool(tasks) and all(
        t["node"] in nodes and satisfies(nodes[t["node"]], spec["constraints"]) is True for t in tasks
    )


def _scaled_to_zero(spec: Spec, live: Spec, service: Mapping[str, Any]) -> bool:
    """A replicated service at 0 replicas, live and desired, with no task: a template change
    replaces no task (Swarm only records the new version)."""
    return spec["replicas"] == 0 and live["replicas"] == 0 and not service.get("tasks")


def plan_services(desired: Desired, snapshot: Snapshot) -> list[ServicePlan]:
    """Each service of the tree, and each live service of the tree's stacks that the tree no longer has."""
    live = live_specs(snapshot)
    raw = {s["name"]: s for s in snapshot["services"]}
    plans = []
    for name, spec in desired.services.items():
        stack = desired.stacks[name]
        if name not in live:
            plans.append(ServicePlan(name, stack, "create"))
            continue
        changes = field_changes(spec, live[name])
        if _placement_only_kept(changes, spec, raw[name], snapshot):
            changes = [
                FieldChange(c.field, "metadata-only", c.detail + " (every running task's node still matches)")
                if c.field == "constraints"
                else c
                for c in changes
            ]
        elif _scaled_to_zero(spec, live[name], raw[name]):
            changes = [
                FieldChange(c.field, "metadata-only", c.detail + " (0 replicas: no task to replace)")
                if c.effect == "rolling-restart"
                else c
                for c in changes
            ]
        action = worst([c.effect for c in changes]) or "unchanged"
        plans.append(ServicePlan(name, stack, action, tuple(changes)))
    stacks = set(desired.stacks.values())
    for name, service in raw.items():
        label = (service["spec"].get("Labels") or {}).get(STACK_LABEL)
        if name not in desired.services and label in stacks:
            plans.append(ServicePlan(name, str(label), "remove"))
    return sorted(plans, key=lambda p: p.name)


def plan(desired: Desired, snapshot: Snapshot) -> Plan:
    """The whole :class:`Plan` of deploying ``desired`` over ``snapshot``."""
    result = Plan(services=plan_services(desired, snapshot))
    live_configs = {c["name"]: c for c in snapshot["configs"]}
    for name, digest in sorted(desired.configs.items()):
        config = live_configs.get(name)
        result.configs[name] = (
            "create" if config is None else "unchanged" if config["data_sha256"] == digest else "conflict"
        )
    stacks = set(desired.stacks.values())
    for name, config in live_configs.items():
        if name not in desired.configs and config["labels"].get(STACK_LABEL) in stacks:
            result.configs[name] = "unused"
    live_secrets = {s["name"] for s in snapshot["secrets"]}
    result.secrets = {name: "present" if name in live_secrets else "missing" for name in sorted(desired.secrets)}
    live_networks = {n["name"] for n in snapshot["networks"] if n["scope"] == "swarm"}
    result.networks = {name: "present" if name in live_networks else "missing" for name in sorted(desired.networks)}
    return result
