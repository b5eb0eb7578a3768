"""Pre-flight checks of a deploy, each with its own verdict (``pass``, ``warn``, ``fail``) and one line.

Static checks read only the desired state (the rendered stacks) and the nodes (the model's, or a
snapshot's): :func:`static_checks`. Live checks also need a snapshot of the Swarm:
:func:`live_checks`. Every check is a pure function; :mod:`.commands` times them (the issue's
budget: all of them in 2 s, the snapshot read included).

- ``manager-quorum``: a leader, and a majority of the managers reachable (Raft; all reachable and
  an odd count to pass, docs.docker.com/engine/swarm/admin_guide/#maintain-the-quorum-of-managers);
- ``placement``: each service with replicas has enough ready, active nodes whose hostname, role
  and labels satisfy its constraints (``max_replicas_per_node`` counted);
- ``images``: each image is on every node that will run it (a digest on the node's
  ``RepoDigests``, a tag on its ``RepoTags``), else resolvable through the manager's registry
  access; a digest found only as a tag fails (the CLI would fall back to the tag, docker/cli#787);
- ``host-ports-start-first``: no ``mode: host`` published port with ``order: start-first`` (the new
  task cannot bind the port the old one holds, moby/moby#41364);
- ``monitor-covers-healthcheck``: ``update_config.monitor >= start_period + retries x interval``
  (the engine's defaults for unset values: interval 30 s, retries 3, monitor 5 s); Swarm counts a
  task failure against the update only within ``monitor`` (api/types/swarm ``UpdateConfig.Monitor``),
  so a task that turns unhealthy later never triggers ``failure_action`` (Eldara-Tech/swarmcli#475).
  A warning, not a failure: a short window is a choice (swarmcli#482 judges it so too);
- ``configs-secrets``: every config the services reference exists with the same content or will
  be created, every external secret exists (static: declared, with a file for each config whose
  content-hashed name is its content's hash: :func:`stale_config_names`);
- ``stop-grace-period``: at least the component's hand-over minimum (:mod:`.grace`);
- ``clusters-healthy``: every component ``iklim status`` probes for the target is ``healthy``
  (:func:`check_clusters`, given the probe reports: ``iklim deploy`` reads them from where status
  reaches the clusters, the Swarm lab's drill seat).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from iklim.plan.compose import Desired
from iklim.plan.diff import Plan
from iklim.plan.durations import seconds
from iklim.plan.live import Snapshot
from iklim.plan.placement import ConstraintError, satisfies

Verdict = Literal["pass", "warn", "fail"]
_S = 1_000_000_000
#: Engine defaults (docs.docker.com/reference/dockerfile/#healthcheck; docker service create --update-monitor).
HEALTH_DEFAULTS = {"interval": 30 * _S, "timeout": 30 * _S, "retries": 3, "start_period": 0}
MONITOR_DEFAULT = 5 * _S


@dataclass(frozen=True)
class Check:
    """One check's verdict: ``name``, ``verdict``, a one-line ``message``, and the offenders' details."""

    name: str
    verdict: Verdict
    message: str
    details: tuple[str, ...] = ()


def _running(spec: Mapping[str, Any]) -> bool:
    return spec["mode"] != "replicated" or bool(spec["replicas"])


def model_nodes(env: Any) -> list[dict[str, Any]]:
    """The model's nodes in a snapshot's node shape (for the static checks)."""
    return [
        {"id": "", "hostname": n.name, "role": n.swarm_role, "labels": dict(n.labels), "availability": "active",
         "state": "ready", "manager": None}
        for n in env.nodes
    ]  # fmt: skip


def eligible_nodes(spec: Mapping[str, Any], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ready, active nodes whose attributes satisfy ``spec``'s constraints (unjudgeable ones excluded)."""
    return [
        n
        for n in nodes
        if n["state"] == "ready" and n["availability"] == "active" and satisfies(n, spec["constraints"]) is True
    ]


def check_quorum(snapshot: Snapshot) -> Check:
    """Raft: a leader and a majority of managers reachable; all reachable and an odd count to pass."""
    managers = [n for n in snapshot["nodes"] if n["manager"] is not None]
    reachable = [n["hostname"] for n in managers if n["manager"]["reachability"] == "reachable"]
    leaders = [n["hostname"] for n in managers if n["manager"]["leader"]]
    total, need = len(managers), len(managers) // 2 + 1
    line = f"{len(reachable)}/{total} managers reachable (quorum {need}), leader {', '.join(leaders) or 'none'}"
    if not leaders or len(reachable) < need:
        return Check("manager-quorum", "fail", line)
    unreachable = tuple(n["hostname"] for n in managers if n["hostname"] not in reachable)
    if unreachable or total % 2 == 0:
        why = "; tolerates no more manager failure" if len(reachable) == need else ""
        return Check("manager-quorum", "warn", line + (why or "; an even manager count adds no tolerance"), unreachable)
    return Check("manager-quorum", "pass", line + f"; tolerates {total - need} manager failure(s)")


def check_placement(desired: Desired, nodes: list[dict[str, Any]]) -> Check:
    """Each service with replicas fits on enough nodes (hostname, role and labels)."""
    bad = []
    for name, spec in desired.services.items():
        if not _running(spec):
            continue
        try:
            fits = eligible_nodes(spec, nodes)
        except ConstraintError as exc:
            bad.append(f"{name}: {exc}")
            continue
        replicas = spec["replicas"] or 1
        need = math.ceil(replicas / spec["max_replicas"]) if spec["max_replicas"] else 1
        if len(fits) < need:
            wanted = " and ".join(spec["constraints"]) or "no constraint"
            bad.append(f"{name}: {len(fits)} node(s) satisfy {wanted}, needs {need}")
    running = sum(1 for s in desired.services.values() if _running(s))
    if bad:
        return Check("placement", "fail", f"{len(bad)} of {running} services cannot be placed", tuple(bad))
    return Check("placement", "pass", f"{running} services fit on {len(nodes)} nodes")


def _normal(ref: str) -> str:
    """A reference as an engine lists it: ``docker.io/library/redis:7`` -> ``redis:7``."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def image_on_node(ref: str, images: list[dict[str, list[str]]]) -> str:
    """``present``, ``tag-only`` (a digest wanted, only the tag there) or ``absent``."""
    ref = _normal(ref)
    if "@" in ref:
        name, digest = ref.split("@", 1)
        repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
        if any(_normal(d) == f"{repo}@{digest}" for i in images for d in i["digests"]):
            return "present"
        return "tag-only" if any(_normal(t) == name for i in images for t in i["tags"]) else "absent"
    return "present" if any(_normal(t) == ref for i in images for t in i["tags"]) else "absent"


def check_images(desired: Desired, snapshot: Snapshot, resolvable: Callable[[str], bool | None]) -> Check:
    """Each image on every node that will run it, or resolvable by the registry; never a silent tag."""
    bad, unsure, checked = [], [], 0
    known = snapshot.get("images") or {}
    resolved: dict[str, bool | None] = {}
    for name, spec in desired.services.items():
        if not _running(spec):
            continue
        ref = spec["image"]
        for node in eligible_nodes(spec, snapshot["nodes"]):
            host = node["hostname"]
            if host in known:
                checked += 1
                state = image_on_node(ref, known[host])
                if state == "present":
                    continue
                if state == "tag-only":
                    bad.append(f"{name}: {host} has {ref.split('@')[0]} but not the pinned digest")
                    continue
            if ref not in resolved:
                resolved[ref] = resolvable(ref)
            if resolved[ref] is False:
                bad.append(f"{name}: {ref} is not on {host} and the registry does not resolve it")
            elif resolved[ref] is None:
                unsure.append(f"{name}: {ref} on {host}: not on the node's list and the registry cannot be asked")
    if bad:
        return Check("images", "fail", f"{len(bad)} image placement(s) would fail", tuple(bad))
    if unsure:
        return Check("images", "warn", f"{len(unsure)} image placement(s) not verifiable", tuple(unsure))
    return Check("images", "pass", f"{checked} image placement(s) present on their nodes")


def check_host_ports(desired: Desired) -> Check:
    """No host-mode published port together with ``order: start-first``."""
    bad = [
        f"{name}: host port(s) {', '.join(str(p['published']) for p in spec['ports'] if p['mode'] == 'host')}"
        for name, spec in desired.services.items()
        if any(p["mode"] == "host" for p in spec["ports"])
        and (spec["update_config"] or {}).get("order") == "start-first"
    ]
    if bad:
        return Check(
            "host-ports-start-first", "fail", f"{len(bad)} service(s) with host ports update start-first", tuple(bad)
        )
    return Check("host-ports-start-first", "pass", "no host-mode port is updated start-first")


def monitor_needed(health: Mapping[str, Any]) -> int:
    """Nanoseconds ``update_config.monitor`` must cover: ``start_period + retries x interval``."""
    value = {k: health.get(k) or HEALTH_DEFAULTS[k] for k in HEALTH_DEFAULTS}
    return int(value["start_period"] + value["retries"] * value["interval"])


def check_monitor(desired: Desired) -> Check:
    """``update_config.monitor`` covers the healthcheck's start period and retries."""
    bad = []
    for name, spec in desired.services.items():
        health = spec["healthcheck"]
        if health is None or health["test"][:1] == ["NONE"]:
            continue
        monitor = (spec["update_config"] or {}).get("monitor") or MONITOR_DEFAULT
        need = monitor_needed(health)
        if monitor < need:
            bad.append(f"{name}: monitor {seconds(monitor)} < {seconds(need)}")
    if bad:
        return Check(
            "monitor-covers-healthcheck",
            "warn",
            f"{len(bad)} service(s): a task unhealthy after monitor would not trigger failure_action",
            tuple(bad),
        )
    return Check("monitor-covers-healthcheck", "pass", "every monitor covers start_period + retries x interval")


_HASHED = re.compile(r"_([0-9a-f]{10})$")


def stale_configs(desired: Desired) -> dict[str, str]:
    """Config name -> one line, for the configs whose name ends in a content hash
    (``<stack>_<key>_<sha256[:10]>``, as render names them) that is not the hash of their file: the
    file was edited after render. Swarm configs are immutable, so a live config of that name with
    the old content makes the deploy fail. Sorted by name."""
    stale = {}
    for name, sha256 in sorted(desired.configs.items()):
        match = _HASHED.search(name)
        if match and match.group(1) != sha256[:10]:
            stale[name] = f"config {name}: its file now hashes to {sha256[:10]} (edited after iklim render)"
    return stale


def stale_config_names(desired: Desired) -> list[str]:
    """The lines of :func:`stale_configs`."""
    return list(stale_configs(desired).values())


def check_objects_static(desired: Desired) -> Check:
    """Every referenced config has its file (it will be created) under its content-hashed name;
    list the external secrets needed."""
    stale = stale_config_names(desired)
    if stale:
        return Check("configs-secrets", "fail", f"{len(stale)} config name(s) not their content's hash", tuple(stale))
    return Check(
        "configs-secrets",
        "pass",
        f"{len(desired.configs)} configs from the tree's files; {len(desired.secrets)} external secrets needed",
        tuple(sorted(desired.secrets)),
    )


def check_objects_live(desired: Desired, plan: Plan) -> Check:
    """Every config exists unchanged or will be created, every external secret and network exists."""
    bad = [f"config {n}: same name, other content (immutable)" for n, s in plan.configs.items() if s == "conflict"]
    bad += [line for name, line in stale_configs(desired).items() if plan.configs.get(name) != "conflict"]
    bad += [
        f"secret {n}: missing (used by {', '.join(desired.secrets[n])})"
        for n, s in plan.secrets.items()
        if s == "missing"
    ]
    bad += [f"network {n}: missing" for n, s in plan.networks.items() if s == "missing"]
    create = sum(1 for s in plan.configs.values() if s == "create")
    if bad:
        return Check("configs-secrets", "fail", f"{len(bad)} referenced object(s) missing or in conflict", tuple(bad))
    return Check(
        "configs-secrets",
        "pass",
        f"{len(desired.configs) - create} configs present, {create} to create; {len(plan.secrets)} secrets present",
    )


def check_grace(
    desired: Desired, components: Mapping[str, str], minimum: Callable[[str, str], tuple[float, str]]
) -> Check:
    """``stop_grace_period`` (Docker's 10 s when unset) at least the component's hand-over minimum."""
    from iklim.plan.grace import DOCKER_DEFAULT_S

    bad = []
    for name, spec in desired.services.items():
        component = components.get(name)
        if component is None:
            continue
        need, why = minimum(component, name)
        grace = spec["stop_grace_period"] / 1e9 if spec["stop_grace_period"] is not None else DOCKER_DEFAULT_S
        if grace < need:
            bad.append(f"{name}: {grace:g}s < {need:g}s ({why})")
    if bad:
        return Check("stop-grace-period", "fail", f"{len(bad)} service(s) stop before their hand-over", tuple(bad))
    return Check("stop-grace-period", "pass", "every stop_grace_period covers its component's hand-over")


def check_clusters(reports: list[tuple[str, str, str]] | None, seconds: float = 0.0) -> Check:
    """Every cluster healthy in ``iklim status``: ``reports`` are (component, status, reason), None when not read."""
    if reports is None:
        return Check("clusters-healthy", "warn", "not read from here (run iklim status --target prod)")
    if not reports:  # no clustered component runs (each has at most one member): nothing to judge
        return Check("clusters-healthy", "pass", "no cluster with more than one running member to judge")
    bad = tuple(f"{c}: {s} ({r})" for c, s, r in reports if s != "healthy")
    line = f"{len(reports) - len(bad)}/{len(reports)} components healthy in iklim status ({seconds:.1f} s)"
    if bad:
        return Check("clusters-healthy", "fail", line, bad)
    return Check("clusters-healthy", "pass", line)


def static_checks(
    desired: Desired,
    nodes: list[dict[str, Any]],
    components: Mapping[str, str],
    minimum: Callable[[str, str], tuple[float, str]],
) -> list[Check]:
    """The checks that need no live engine, against ``nodes`` (the model's or a snapshot's)."""
    return [
        check_placement(desired, nodes),
        check_host_ports(desired),
        check_monitor(desired),
        check_objects_static(desired),
        check_grace(desired, components, minimum),
    ]


def live_checks(
    desired: Desired,
    snapshot: Snapshot,
    plan: Plan,
    components: Mapping[str, str],
    minimum: Callable[[str, str], tuple[float, str]],
    resolvable: Callable[[str], bool | None],
) -> list[Check]:
    """Every check, against a live snapshot (its nodes, images and objects)."""
    return [
        check_quorum(snapshot),
        check_placement(desired, snapshot["nodes"]),
        check_images(desired, snapshot, resolvable),
        check_host_ports(desired),
        check_monitor(desired),
        check_objects_live(desired, plan),
        check_grace(desired, components, minimum),
    ]
